"""The dashboard's pages over HTTP: sign in and out, what each role sees and may do, store-manager
scoping as in the API, refusals as pages in the reader's language, nothing from elsewhere."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from cabinetcloud import audit
from cabinetcloud.operators import Role
from tests.cabinetcloud.dashboard.rig import Fleet, hidden, sign_in

PAGES = ["/dashboard", "/dashboard/stores/north", "/dashboard/cabinets/north-1", "/dashboard/audit"]


class References(HTMLParser):
    """Every address a page makes the browser load or go to."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src", "action", "xlink:href", "data", "poster", "srcset") and value:
                self.found.append(value)
            if name == "style" and value:
                self.found += re.findall(r"url\(([^)]*)\)", value)


def references(html: str) -> list[str]:
    parser = References()
    parser.feed(html)
    return parser.found + re.findall(r"url\(([^)]*)\)", html) + re.findall(r"@import\s+['\"]([^'\"]+)", html)


def title(html: str) -> str:
    found = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    assert found is not None
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_ok__the_front_page_leads_to_the_dashboard_and_a_page_to_the_login(sqlite_fleet: Fleet) -> None:
    client = sqlite_fleet.client()
    assert client.get("/", follow_redirects=False).headers["location"] == "/dashboard"
    reply = client.get("/dashboard/audit?resource=store", follow_redirects=False)
    assert (reply.status_code, reply.headers["location"]) == (
        303,
        "/dashboard/login?next=/dashboard/audit%3Fresource%3Dstore",
    )
    form = client.get(reply.headers["location"]).text
    assert hidden(form, "next") == "/dashboard/audit?resource=store"


def test_ok__a_login_opens_the_same_session_as_the_api(sqlite_fleet: Fleet) -> None:
    client = sqlite_fleet.client()
    form = client.get("/dashboard/login")
    assert "SameSite=strict" in form.headers["set-cookie"]
    assert "Path=/dashboard/login" in form.headers["set-cookie"]
    reply = client.post(
        "/dashboard/login",
        data={"name": "ada", "password": "correct horse battery", "login_token": hidden(form.text, "login_token")},
        follow_redirects=False,
    )
    cookie = next(c for c in reply.headers.get_list("set-cookie") if c.startswith("cabinet_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie
    me = client.get("/v1/admin/me").json()
    assert (me["operator"]["name"], me["via"]) == ("ada", "session")
    assert hidden(client.get("/dashboard").text, "csrf_token") == me["csrf_token"]


@pytest.mark.parametrize(
    ("data", "status", "problem"),
    [
        ({"name": "ada", "password": "wrong password"}, 401, "Unknown name, wrong password or a disabled account."),
        (
            {"name": "nobody", "password": "correct horse battery"},
            401,
            "Unknown name, wrong password or a disabled account.",
        ),
        ({"name": "ada", "password": ""}, 422, "Enter your name and password."),
    ],
)
def test_fail__a_wrong_login_shows_the_form_again(
    sqlite_fleet: Fleet, data: dict[str, str], status: int, problem: str
) -> None:
    client = sqlite_fleet.client()
    token = hidden(client.get("/dashboard/login").text, "login_token")
    reply = client.post("/dashboard/login", data={**data, "login_token": token}, follow_redirects=False)
    assert reply.status_code == status
    assert re.search(r'id="login-problem">([^<]*)<', reply.text).group(1) == problem  # type: ignore[union-attr]
    assert "cabinet_session" not in client.cookies


def test_fail__a_login_posted_from_elsewhere_is_refused(sqlite_fleet: Fleet) -> None:
    """Another site can post the form but cannot read or set the form's token cookie."""
    client = sqlite_fleet.client()
    data = {"name": "ada", "password": "correct horse battery", "login_token": "forged"}
    reply = client.post("/dashboard/login", data=data, follow_redirects=False)
    assert reply.status_code == 403
    assert "The form had expired. Please sign in again." in reply.text
    assert "cabinet_session" not in client.cookies


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/v1/admin/me", "/dashboard\\@evil"])
def test_fail__after_a_login_the_browser_stays_on_the_dashboard(sqlite_fleet: Fleet, target: str) -> None:
    client = sqlite_fleet.client()
    token = hidden(client.get("/dashboard/login").text, "login_token")
    data = {"name": "vic", "password": "correct horse battery", "login_token": token, "next": target}
    assert client.post("/dashboard/login", data=data, follow_redirects=False).headers["location"] == "/dashboard"


def test_ok__logout_ends_the_session_on_the_server(sqlite_fleet: Fleet) -> None:
    client = sqlite_fleet.client()
    csrf = sign_in(client, Role.VIEWER)
    session = client.cookies["cabinet_session"]
    reply = client.post("/dashboard/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert (reply.status_code, reply.headers["location"]) == (303, "/dashboard/login")
    again = TestClient(sqlite_fleet.app, cookies={"cabinet_session": session})  # type: ignore[arg-type]
    assert again.get("/dashboard", follow_redirects=False).status_code == 303
    assert again.get("/v1/admin/me").status_code == 401


@pytest.mark.parametrize("role", list(Role))
def test_ok__every_page_a_role_may_read_has_every_word(sqlite_fleet: Fleet, role: Role) -> None:
    for lang in ("en", "zh-CN"):
        client = sqlite_fleet.client(lang)
        sign_in(client, role)
        for path in PAGES:
            reply = client.get(path)
            if path == "/dashboard/audit" and role is Role.STORE_MANAGER:
                assert reply.status_code == 403
            else:
                assert reply.status_code == 200, path
            assert "⟦" not in reply.text, f"{path} in {lang}"
            assert f'<html lang="{lang}">' in reply.text


def test_ok__a_store_manager_sees_only_their_store(fleet: Fleet) -> None:
    client = fleet.client()
    sign_in(client, Role.STORE_MANAGER)
    overview = client.get("/dashboard").text
    assert re.findall(r'data-store="([^"]+)"', overview) == ["north"]
    assert re.findall(r'data-cabinet="([^"]+)"', overview) == ["north-1"]
    assert 'href="/dashboard/audit"' not in overview
    for path, words in [
        ("/dashboard/stores/demo", "There is no store demo."),
        ("/dashboard/cabinets/sim-1", "There is no cabinet sim-1."),
        ("/dashboard/cabinets/ghost", "There is no cabinet ghost."),
    ]:
        reply = client.get(path)
        assert (reply.status_code, title(reply.text)) == (404, "Not found")
        assert words in reply.text
        assert reply.headers["content-type"].startswith("text/html")


def test_ok__a_404_is_a_page_in_the_readers_language(sqlite_fleet: Fleet) -> None:
    client = sqlite_fleet.client("zh-CN")
    sign_in(client, Role.ADMIN)
    for path, words in [
        ("/dashboard/cabinets/ghost", "没有设备柜 ghost。"),
        ("/dashboard/no/such/page", "没有这个页面。"),
    ]:
        reply = client.get(path)
        assert (reply.status_code, title(reply.text)) == (404, "未找到")
        assert words in reply.text
    assert client.get("/dashboard/audit?before=soon").status_code == 400


def test_ok__the_viewer_sees_no_control_and_a_forged_post_is_refused(sqlite_fleet: Fleet) -> None:
    client = sqlite_fleet.client()
    csrf = sign_in(client, Role.VIEWER)
    for path in ("/dashboard/cabinets/sim-1", "/dashboard/stores/demo"):
        html = client.get(path).text
        assert re.findall(r'<form method="post" action="([^"]+)"', html) == ["/dashboard/logout"]
    for path in ("/dashboard/cabinets/sim-1/rotate", "/dashboard/cabinets/sim-1/revoke"):
        reply = client.post(path, data={"csrf_token": csrf})
        assert (reply.status_code, title(reply.text)) == (403, "Not allowed")
        assert "Your role may not do this." in reply.text
    reply = client.post("/dashboard/cabinets", data={"csrf_token": csrf, "id": "c-9", "store": "demo"})
    assert reply.status_code == 403
    with sqlite_fleet.storage.reading() as conn:
        changes = audit.page(conn, resource="cabinet")[0]
    assert [event for event in changes if event["via"] != "seed"] == []


def test_ok__an_operator_rotates_and_revokes_from_the_page_audited(sqlite_fleet: Fleet) -> None:
    client = sqlite_fleet.client()
    csrf = sign_in(client, Role.OPERATOR)
    html = client.get("/dashboard/cabinets/sim-1").text
    assert 'action="/dashboard/cabinets/sim-1/rotate"' in html
    assert 'action="/dashboard/cabinets/sim-1/revoke"' in html
    rotated = client.post("/dashboard/cabinets/sim-1/rotate", data={"csrf_token": csrf})
    token = re.search(r'id="token" class="secret">(cab1_[^<]+)<', rotated.text)
    assert rotated.status_code == 200
    assert token is not None
    assert (
        client.get("/v1/cabinets/sim-1/snapshot", headers={"Authorization": f"Bearer {token.group(1)}"}).status_code
        == 200
    )
    revoked = client.post("/dashboard/cabinets/sim-1/revoke", data={"csrf_token": csrf}, follow_redirects=False)
    assert (revoked.status_code, revoked.headers["location"]) == (303, "/dashboard/cabinets/sim-1")
    assert 'action="/dashboard/cabinets"' in client.get("/dashboard/cabinets/sim-1").text  # enrol again
    again = client.post("/dashboard/cabinets/sim-1/revoke", data={"csrf_token": csrf})
    assert again.status_code == 409
    assert "cabinet &#39;sim-1&#39; has no token to revoke" in again.text
    with sqlite_fleet.storage.reading() as conn:
        events = [event for event in audit.page(conn, resource="cabinet")[0] if event["via"] != "seed"]
    assert [(e["actor"], e["via"], e["action"]) for e in events] == [
        ("otto", "session", "revoke"),
        ("otto", "session", "rotate"),
    ]


def test_fail__a_form_without_the_sessions_csrf_token_is_refused(sqlite_fleet: Fleet) -> None:
    client = sqlite_fleet.client()
    sign_in(client, Role.ADMIN)
    for data in ({}, {"csrf_token": "guess"}):
        reply = client.post("/dashboard/cabinets/sim-1/rotate", data=data)
        assert (reply.status_code, title(reply.text)) == (403, "Not allowed")
        assert "The form had expired. Load the page again and repeat." in reply.text


def test_fail__enrolling_a_bad_id_names_it(sqlite_fleet: Fleet) -> None:
    client = sqlite_fleet.client()
    csrf = sign_in(client, Role.ADMIN)
    reply = client.post("/dashboard/cabinets", data={"csrf_token": csrf, "id": "bad id!", "store": "demo"})
    assert reply.status_code == 422
    assert "bad id! is not a cabinet id" in reply.text
    made = client.post("/dashboard/cabinets", data={"csrf_token": csrf, "id": "demo-2", "store": "demo"})
    assert made.status_code == 200
    assert 'id="token"' in made.text


def test_ok__no_page_refers_to_anything_elsewhere(sqlite_fleet: Fleet) -> None:
    client = sqlite_fleet.client()
    sign_in(client, Role.ADMIN)
    for path in [*PAGES, "/dashboard/login", "/dashboard/cabinets/ghost", "/dashboard/static/dashboard.css"]:
        reply = client.get(path)
        found = references(reply.text)
        assert [url for url in found if not url.startswith(("/", "#"))] == [], path
        assert [url for url in found if url.startswith("//")] == [], path
        if path != "/dashboard/static/dashboard.css":
            assert "default-src 'none'" in reply.headers["content-security-policy"]
