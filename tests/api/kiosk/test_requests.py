"""What the loopback listener takes from whom: bodies within their limits, and only the kiosk's own page
(its Host, its origin, application/json) may drive the screen or the simulator.

One `cabinetd run` child for the module; every request here is checked to change nothing on the screen.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.kiosk.daemon import Daemon

# Deep enough to overflow Python's recursive parser (1,000 levels), small enough for the size limit.
DEEP = b"[" * 30_000 + b"]" * 30_000
BUTTONS = ("/kiosk/choose", "/kiosk/pin", "/kiosk/report", "/sim/badge")


@pytest.fixture(scope="module")
def cabinet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = Daemon(tmp_path_factory.mktemp("requests"))
    daemon.seed()
    daemon.start()
    daemon.settled()
    yield daemon
    daemon.close()


def post(cabinet: Daemon, path: str, body: bytes, **headers: str) -> httpx.Response:
    return cabinet.http.post(path, content=body, headers={"content-type": "application/json", **headers})


@pytest.mark.parametrize("path", BUTTONS)
@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (DEEP, 400, "the body nests deeper than 32 levels (byte 32)"),
        (b"[" * 100_000 + b"]" * 100_000, 413, "the body is too large: 200000 bytes, at most 65536"),
        (b'{"x": "' + b"a" * 70_000 + b'"}', 413, "the body is too large: 70009 bytes, at most 65536"),
        (b'{"pin": NaN}', 400, "the body holds NaN, which is not a JSON number"),
        (b'{"pin": 1e400}', 400, "the body holds the number 1e400, too large for a float"),
        (b'{"pin": "\\ud800"}', 400, "the body holds a lone surrogate at $.pin"),
        (b'{"choice": "rent\\u0000"}', 400, "the body holds a NUL character at $.choice"),
        (b'{"uid": ', 400, "the body is not JSON: Expecting value (character 8)"),
        (b"[1, 2]", 400, "the body must be a JSON object, got an array"),
        (b"\xff\xfe", 400, "the body is not UTF-8 (byte 0)"),
    ],
)
def test_fail__a_body_past_the_limits_is_refused_with_a_4xx_that_says_why(
    cabinet: Daemon, path: str, body: bytes, status: int, error: str
) -> None:
    before = cabinet.kiosk()["screen"]
    reply = post(cabinet, path, body)
    assert (reply.status_code, reply.json()) == (status, {"error": error})
    assert cabinet.kiosk()["screen"] == before


@pytest.mark.parametrize("path", BUTTONS)
@pytest.mark.parametrize(
    ("kind", "shown"),
    [
        ("text/plain", "text/plain"),
        ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
        ("", "no type"),
    ],
)
def test_fail__a_post_that_is_not_json_never_reaches_the_screen(
    cabinet: Daemon, path: str, kind: str, shown: str
) -> None:
    before = cabinet.kiosk()["screen"]
    headers = {"content-type": kind} if kind else {}
    reply = cabinet.http.post(path, content=b'{"choice": "cancel", "pin": "2468", "uid": "1A2B3C"}', headers=headers)
    assert (reply.status_code, reply.json()) == (
        415,
        {"error": f"refused: POST {path} takes application/json, got {shown!r}"},
    )
    assert cabinet.kiosk()["screen"] == before


@pytest.mark.parametrize(("method", "path"), [("GET", "/kiosk/state"), ("GET", "/sim/staff"), ("POST", "/sim/badge")])
def test_fail__a_request_naming_another_host_is_refused_as_dns_rebinding(
    cabinet: Daemon, method: str, path: str
) -> None:
    before = cabinet.kiosk()["screen"]
    reply = cabinet.http.request(
        method, path, json={"uid": "1A2B3C"}, headers={"host": f"rebound.example:{cabinet.port}"}
    )
    expected = f"127.0.0.1:{cabinet.port} or localhost:{cabinet.port}"
    assert (reply.status_code, reply.json()) == (
        421,
        {"error": f"refused: Host 'rebound.example:{cabinet.port}' is not this cabinet's kiosk (expected {expected})"},
    )
    assert cabinet.kiosk()["screen"] == before


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        (
            {"origin": "http://shop.example"},
            "refused: a request from 'http://shop.example' (this cabinet's kiosk is {own})",
        ),
        ({"origin": "null"}, "refused: a request from 'null' (this cabinet's kiosk is {own})"),
        (
            {"origin": "http://127.0.0.1:1"},
            "refused: a request from 'http://127.0.0.1:1' (this cabinet's kiosk is {own})",
        ),
        ({"sec-fetch-site": "cross-site"}, "refused: a cross-site request (only the kiosk's own page may send one)"),
        ({"sec-fetch-site": "same-site"}, "refused: a same-site request (only the kiosk's own page may send one)"),
    ],
)
def test_fail__a_page_from_another_origin_cannot_press_the_kiosks_buttons(
    cabinet: Daemon, headers: dict[str, str], error: str
) -> None:
    before = cabinet.kiosk()["screen"]
    reply = post(cabinet, "/sim/badge", b'{"uid": "1A2B3C"}', **headers)
    assert (reply.status_code, reply.json()) == (403, {"error": error.format(own=cabinet.url)})
    assert cabinet.kiosk()["screen"] == before


@pytest.mark.parametrize(
    "headers",
    [
        {},  # a program on the cabinet itself: no browser headers at all
        {"origin": "http://127.0.0.1:{port}", "sec-fetch-site": "same-origin"},  # the kiosk's page
        {"host": "localhost:{port}", "origin": "http://localhost:{port}", "sec-fetch-site": "same-origin"},
    ],
)
def test_ok__the_kiosks_own_page_and_local_programs_are_answered(cabinet: Daemon, headers: dict[str, str]) -> None:
    filled = {key: value.format(port=cabinet.port) for key, value in headers.items()}
    reply = post(cabinet, "/kiosk/choose", b'{"choice": "cancel"}', **filled)
    assert reply.status_code == 200, reply.text
    assert reply.json()["screen"]["view"] == "idle"
    assert cabinet.http.get("/health", headers={k: v for k, v in filled.items() if k == "host"}).status_code == 200
