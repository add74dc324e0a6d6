"""Who may call the operators' API: 401 without credentials, 403 for each role on each route family
it may not use, cabinet and operator tokens each refused on the other's routes, the session cookie
with its CSRF token, and the API's documentation pages served from this server."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from cabinetcloud import operators, schema
from cabinetcloud.app import create_app
from cabinetcloud.operators import Role, digest
from tests.cabinetcloud.operators_rig import PASSWORD, Fleet, fleet, sqlite_fleet

__all__ = ["fleet", "sqlite_fleet"]

ADMIN, OPERATOR, VIEWER, MANAGER = Role.ADMIN, Role.OPERATOR, Role.VIEWER, Role.STORE_MANAGER
EVERYONE = frozenset(Role)

# (method, path, body, roles allowed, what a refused role may not do). The calls of allowed roles
# change nothing: they name an existing id (409), an unknown one (404) or repeat a value.
ROUTES: list[tuple[str, str, dict[str, Any] | None, frozenset[Role], str]] = [
    ("GET", "/v1/admin/stores", None, EVERYONE, ""),
    ("GET", "/v1/admin/stores/demo", None, EVERYONE, ""),
    ("POST", "/v1/admin/stores", {"id": "demo", "name": "Demo"}, frozenset({ADMIN, OPERATOR}), "change the fleet"),
    ("PATCH", "/v1/admin/stores/demo", {"name": "Demo store"}, frozenset({ADMIN, OPERATOR}), "change the fleet"),
    ("GET", "/v1/admin/cabinets", None, EVERYONE, ""),
    ("GET", "/v1/admin/cabinets/sim-1", None, EVERYONE, ""),
    ("POST", "/v1/admin/cabinets", {"id": "sim-1", "store": "demo"}, frozenset({ADMIN, OPERATOR}), "change the fleet"),
    ("POST", "/v1/admin/cabinets/ghost/token", None, frozenset({ADMIN, OPERATOR}), "change the fleet"),
    ("DELETE", "/v1/admin/cabinets/ghost/token", None, frozenset({ADMIN, OPERATOR}), "change the fleet"),
    ("GET", "/v1/admin/audit", None, frozenset({ADMIN, OPERATOR, VIEWER}), "read the audit log"),
    ("GET", "/v1/admin/operators", None, frozenset({ADMIN}), "manage operators' accounts"),
    ("GET", "/v1/admin/operators/ada", None, frozenset({ADMIN}), "manage operators' accounts"),
    ("POST", "/v1/admin/operators", {"name": "ada", "role": "admin"}, frozenset({ADMIN}), "manage operators' accounts"),
    ("PATCH", "/v1/admin/operators/ghost", {"active": True}, frozenset({ADMIN}), "manage operators' accounts"),
    (
        "PUT",
        "/v1/admin/operators/ghost/password",
        {"password": PASSWORD},
        frozenset({ADMIN}),
        "manage operators' accounts",
    ),
    ("GET", "/v1/admin/operators/ada/tokens", None, frozenset({ADMIN}), "manage operators' accounts"),
    ("POST", "/v1/admin/operators/ghost/tokens", {"name": "x"}, frozenset({ADMIN}), "manage operators' accounts"),
    ("DELETE", "/v1/admin/operators/ghost/tokens/99", None, frozenset({ADMIN}), "manage operators' accounts"),
    ("GET", "/v1/admin/me", None, EVERYONE, ""),
]
ROUTE_IDS = [f"{method} {path}" for method, path, *_ in ROUTES]

CABINET_ROUTES = [
    ("GET", "/v1/cabinets/sim-1/snapshot"),
    ("GET", "/v1/cabinets/sim-1/commands"),
    ("GET", "/v1/cabinets/sim-1/changes"),
    ("GET", "/v1/cabinets/sim-1/events?epoch=e1"),
    ("POST", "/v1/cabinets/sim-1/session"),
    ("POST", "/v1/cabinets/sim-1/events"),
]


def call(client: TestClient, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    return client.request(method, path, json=body, headers=headers or {})


@pytest.mark.parametrize(("method", "path", "body", "allowed", "what"), ROUTES, ids=ROUTE_IDS)
def test_ok__each_role_is_let_in_or_refused_403_on_each_route(
    fleet: Fleet, method: str, path: str, body: Any, allowed: frozenset[Role], what: str
) -> None:
    for role in Role:
        reply = call(fleet.client, method, path, body, fleet.as_role(role))
        if role in allowed:
            assert reply.status_code in (200, 201, 204, 404, 409), (role, reply.text)
        else:
            assert reply.status_code == 403, (role, reply.text)
            assert reply.json() == {"code": "forbidden", "detail": f"role {role.value} may not {what}"}


UNKNOWN = [
    (None, "sign in (POST /v1/admin/login) or send an operator token"),
    ("Bearer op1_nothing", "missing or unknown operator token"),
    ("Bearer ", "missing or unknown operator token"),
    ("Basic YWRhOng=", "missing or unknown operator token"),
]


@pytest.mark.parametrize(("method", "path", "body", "allowed", "what"), ROUTES, ids=ROUTE_IDS)
def test_fail__no_or_unknown_credentials_get_401(
    sqlite_fleet: Fleet, method: str, path: str, body: Any, allowed: frozenset[Role], what: str
) -> None:
    for header, detail in UNKNOWN:
        reply = call(sqlite_fleet.client, method, path, body, {} if header is None else {"Authorization": header})
        assert reply.status_code == 401, header
        assert reply.json() == {"code": "unauthorized", "detail": detail}
        assert reply.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "body", "allowed", "what"), ROUTES, ids=ROUTE_IDS)
def test_fail__a_cabinets_token_is_refused_on_every_operator_route(
    fleet: Fleet, method: str, path: str, body: Any, allowed: frozenset[Role], what: str
) -> None:
    reply = call(fleet.client, method, path, body, {"Authorization": f"Bearer {fleet.cabinet_token}"})
    assert reply.status_code == 403
    assert reply.json() == {"code": "forbidden", "detail": "a cabinet's token is not accepted on operator routes"}


@pytest.mark.parametrize(("method", "path"), CABINET_ROUTES)
def test_fail__an_operators_token_is_refused_on_every_cabinet_route(fleet: Fleet, method: str, path: str) -> None:
    for role in Role:
        reply = call(fleet.client, method, path, {} if method == "POST" else None, fleet.as_role(role))
        assert reply.status_code == 403, role
        assert reply.json() == {"code": "forbidden", "detail": "an operator's token is not accepted on cabinet routes"}


def test_ok__a_store_manager_sees_only_their_stores_and_others_are_404(fleet: Fleet) -> None:
    manager = fleet.as_role(MANAGER)
    assert [store["id"] for store in fleet.client.get("/v1/admin/stores", headers=manager).json()] == ["demo"]
    assert [s["id"] for s in fleet.client.get("/v1/admin/stores", headers=fleet.as_role(VIEWER)).json()] == [
        "demo",
        "north",
    ]
    reply = fleet.client.get("/v1/admin/stores/north", headers=manager)
    assert (reply.status_code, reply.json()) == (404, {"code": "not_found", "detail": "store 'north' is not known"})
    reply = fleet.client.get("/v1/admin/cabinets?store=north", headers=manager)
    assert reply.status_code == 404
    fleet.client.post("/v1/admin/cabinets", json={"id": "n-1", "store": "north"}, headers=fleet.as_role(OPERATOR))
    assert [c["id"] for c in fleet.client.get("/v1/admin/cabinets", headers=manager).json()] == ["sim-1"]
    reply = fleet.client.get("/v1/admin/cabinets/n-1", headers=manager)
    assert (reply.status_code, reply.json()) == (404, {"code": "not_found", "detail": "cabinet 'n-1' is not known"})


def test_ok__login_sets_a_strict_httponly_cookie_and_changes_need_the_csrf_token(fleet: Fleet) -> None:
    client = fleet.client
    reply = client.post("/v1/admin/login", data={"name": "ada", "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    cookie = reply.headers["set-cookie"]
    assert re.match(r"cabinet_session=[A-Za-z0-9_-]{40,};", cookie)
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain HTTP here: the next test has TLS
    csrf = reply.json()["csrf_token"]
    session_id = client.cookies["cabinet_session"]
    assert client.get("/v1/admin/me").json()["via"] == "session"
    refused = client.post("/v1/admin/stores", json={"id": "s-2", "name": "Two"})
    assert refused.status_code == 403
    assert refused.json() == {
        "code": "csrf",
        "detail": "a change made with a session cookie needs the session's CSRF token "
        "(X-CSRF-Token header or csrf_token form field)",
    }
    wrong = client.post("/v1/admin/stores", json={"id": "s-2", "name": "Two"}, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    made = client.post("/v1/admin/stores", json={"id": "s-2", "name": "Two"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    with fleet.storage.reading() as conn:
        stored = [tuple(row) for row in conn.execute(sa.select(schema.operator_sessions))]
    assert session_id not in repr(stored)
    assert digest(session_id) in repr(stored)
    # A form (the dashboard's) sends the token as a field; logout ends the session on the server.
    assert client.post("/v1/admin/logout", data={"csrf_token": "nope"}).status_code == 403
    assert client.post("/v1/admin/logout", data={"csrf_token": csrf}).status_code == 204
    client.cookies.set("cabinet_session", session_id)
    ended = client.get("/v1/admin/me")
    assert (ended.status_code, ended.json()["detail"]) == (401, "the session has ended: sign in again")


def test_ok__the_cookie_is_secure_over_tls_and_login_takes_json(fleet: Fleet) -> None:
    with TestClient(fleet.client.app, base_url="https://cloud.example") as tls:
        reply = tls.post("/v1/admin/login", json={"name": "ada", "password": PASSWORD})
        assert reply.status_code == 200, reply.text
        assert "Secure" in reply.headers["set-cookie"]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"name": "ada", "password": "wrong password!"}, 401, "unknown operator, wrong password or a disabled account"),
        ({"name": "nobody", "password": PASSWORD}, 401, "unknown operator, wrong password or a disabled account"),
        ({"name": "otto", "password": PASSWORD}, 401, "unknown operator, wrong password or a disabled account"),
        ({"name": "ada"}, 422, "body.password: Field required"),
        ({"name": "ada", "password": PASSWORD, "remember": True}, 422, "body.remember: Extra inputs are not permitted"),
    ],
)
def test_fail__a_bad_login_is_refused_without_a_cookie(
    sqlite_fleet: Fleet, body: dict[str, Any], status: int, detail: str
) -> None:
    reply = sqlite_fleet.client.post("/v1/admin/login", json=body)
    assert (reply.status_code, reply.json()["detail"]) == (status, detail)
    assert "set-cookie" not in reply.headers


def test_fail__a_login_in_another_media_type_is_415(sqlite_fleet: Fleet) -> None:
    reply = sqlite_fleet.client.post("/v1/admin/login", content=b"ada", headers={"Content-Type": "text/plain"})
    assert reply.status_code == 415
    assert reply.json() == {"code": "bad_media_type", "detail": "send the login as application/json or a form"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_ok__the_docs_pages_load_their_assets_from_this_server(sqlite_storage: Any, page: str) -> None:
    client = TestClient(create_app(sqlite_storage))
    reply = client.get(page)
    assert reply.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", reply.text)
    urls += re.findall(r"""url: ?["']([^"']+)["']""", reply.text)
    assert any(url.endswith(".js") for url in urls)
    for url in urls:
        assert url.startswith("/"), f"{page} loads {url} from elsewhere"
        assert not url.startswith("//"), f"{page} loads {url} from elsewhere"
        assert client.get(url).status_code == 200, url
    assert "cdn" not in reply.text.lower()


def test_ok__the_front_page_leads_to_the_dashboard(sqlite_storage: Any) -> None:
    reply = TestClient(create_app(sqlite_storage)).get("/", follow_redirects=False)
    assert (reply.status_code, reply.headers["location"]) == (307, "/dashboard")


def test_fail__a_session_ends_after_its_lifetime_and_leaves_the_table(sqlite_storage: Any) -> None:
    clock = [datetime(2026, 1, 5, 8, 0, tzinfo=UTC)]
    with sqlite_storage.writing() as conn:
        operators.add(conn, "ada", Role.ADMIN, password=PASSWORD)
    client = TestClient(create_app(sqlite_storage, clock=lambda: clock[0]))
    assert client.post("/v1/admin/login", json={"name": "ada", "password": PASSWORD}).status_code == 200
    clock[0] += operators.SESSION_LIFETIME
    reply = client.get("/v1/admin/me")
    assert (reply.status_code, reply.json()["detail"]) == (401, "the session has ended: sign in again")
    assert client.post("/v1/admin/login", json={"name": "ada", "password": PASSWORD}).status_code == 200
    with sqlite_storage.reading() as conn:
        assert len(conn.execute(sa.select(schema.operator_sessions)).all()) == 1
