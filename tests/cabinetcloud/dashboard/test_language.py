"""The dashboard's languages: one catalogue each with the same keys, every word a template asks for in
both, and the choice of language by query switch, cookie and Accept-Language."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from cabinetcloud.dashboard import language, render
from tests.cabinetcloud.dashboard.rig import Fleet

TEMPLATES = resources.files("cabinetcloud.dashboard") / "templates"


def test_ok__both_catalogues_have_the_same_keys() -> None:
    zh, en = (set(language.catalogue(lang)) for lang in language.LANGUAGES)
    assert sorted(zh ^ en) == []
    assert len(zh) > 50


def test_ok__every_word_a_template_names_is_in_the_catalogues() -> None:
    named = {
        key
        for template in TEMPLATES.iterdir()
        if template.name.endswith(".html")
        for key in re.findall(r"""\bt\(\s*["']([a-z0-9_.-]+)["']\s*[,)]""", template.read_text(encoding="utf-8"))
    }
    assert len(named) > 40
    assert sorted(named - set(language.catalogue("en"))) == []


def test_ok__a_missing_word_is_shown_as_such_for_the_page_tests_to_find() -> None:
    assert language.Words("en")("no.such.key") == "⟦no.such.key⟧"
    assert language.Words("en")("missing.cabinet", id="c-9") == "There is no cabinet c-9."


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("en-GB,en;q=0.9", "en"),
        ("de-DE, en;q=0.5, zh;q=0.7", "zh-CN"),
        ("zh-Hans-CN", "zh-CN"),
        ("fr, de", None),
        ("en;q=0, zh;q=0.1", "zh-CN"),
        ("en;q=bad", None),
        ("", None),
    ],
)
def test_ok__accept_language_by_its_q_values(header: str, chosen: str | None) -> None:
    assert language.from_accept_language(header) == chosen


def title(html: str) -> str:
    found = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    assert found is not None
    return found.group(1).strip()


def test_ok__the_switch_is_kept_in_a_cookie_over_the_browsers_language(sqlite_fleet: Fleet) -> None:
    client = sqlite_fleet.client("en-US,en;q=0.9")
    assert title(client.get("/dashboard/login").text) == "Sign in"
    switched = client.get("/dashboard/login?lang=zh-CN")
    assert title(switched.text) == "登录"
    assert 'lang="zh-CN"' in switched.text
    cookie = switched.headers["set-cookie"]
    assert cookie.startswith("lang=zh-CN;")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert title(client.get("/dashboard/login").text) == "登录"
    assert title(client.get("/dashboard/login?lang=en").text) == "Sign in"


def test_ok__without_any_choice_the_pages_are_in_chinese(sqlite_fleet: Fleet) -> None:
    client = sqlite_fleet.client("")
    client.headers.pop("Accept-Language")
    assert title(client.get("/dashboard/login").text) == "登录"


def test_ok__the_switch_links_keep_the_page_and_its_query(sqlite_fleet: Fleet) -> None:
    html = sqlite_fleet.client().get("/dashboard/login?next=/dashboard/audit").text
    assert 'href="/dashboard/login?next=%2Fdashboard%2Faudit&amp;lang=zh-CN"' in html


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("2026-03-02T13:00:00.000000Z", "2026-03-02 13:00:00 UTC"),
        ("2026-03-02T21:00:00+08:00", "2026-03-02 13:00:00 UTC"),
        ("2026-03-02T13:00:00", "2026-03-02T13:00:00"),  # no zone: shown as the cabinet sent it
        ("yesterday", "yesterday"),
    ],
)
def test_ok__a_cabinets_time_is_shown_to_the_second_or_as_it_came(sent: str, shown: str) -> None:
    assert render.cabinet_time(sent) == shown
