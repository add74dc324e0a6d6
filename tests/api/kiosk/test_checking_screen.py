"""The screen a badge the roster does not know gets while the cabinet asks the office: "not recognised
yet — checking with the office", then the refusal once the office has not answered within 5 s.

The cloud here accepts the connection and never answers, as a cloud behind a stalled link does.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.api.kiosk.conftest import Shots
from tests.api.kiosk.daemon import NOBODY, Daemon

pytestmark = pytest.mark.slow  # a daemon of its own and a browser: about ten seconds


@pytest.fixture
def silent_cloud() -> Iterator[str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # connections complete in the kernel's backlog; nothing ever reads them
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@pytest.fixture
def cabinet_with_a_silent_cloud(tmp_path: Path, silent_cloud: str) -> Iterator[Daemon]:
    daemon = Daemon(tmp_path, cloud_url=silent_cloud)
    daemon.seed()
    token = daemon.state / "cloud.token"
    token.write_text("cabinet-token\n")
    token.chmod(0o600)
    daemon.start()
    daemon.settled()
    yield daemon
    daemon.close()


def test_ok__an_unknown_badge_is_checked_with_the_office_before_it_is_refused(
    cabinet_with_a_silent_cloud: Daemon, page: Page, shot: Shots
) -> None:
    cabinet = cabinet_with_a_silent_cloud
    page.goto(cabinet.url + "/")
    expect(page.locator("#ready li").first).to_be_visible()
    assert cabinet.sim("badge", {"uid": NOBODY}).status_code == 200
    page.wait_for_function("() => document.body.dataset.view === 'checking'")
    expect(page.locator("#message")).to_have_text("暂未识别 — 正在向办公室核实")
    assert page.locator("#actions button").count() == 0  # nothing to press: the cabinet is asking
    shot("checking")
    page.locator("#lang").click()
    expect(page.locator("#message")).to_have_text("Not recognised yet — checking with the office")
    page.wait_for_function("() => document.body.dataset.view === 'refused'", timeout=15_000)
    expect(page.locator("#message")).to_have_text("This badge is not known at this cabinet")
    assert {slot["lock"] for slot in cabinet.world()["slots"]} == {"locked"}
    shot("refused-after-checking")
