"""One clear next step, seen in real Chromium over a real simulated cabinet: only the buttons that make
sense, a second badge's notice over the first person's instructions, the relock's countdown and its
reason, a reload that shows the cabinet as it is, every person in the store's language, "My devices"
and "I only wanted to look"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from cabinetd.sim.worldfile import demo_stock
from tests.api.kiosk.conftest import VIEWPORT, Shots
from tests.api.kiosk.daemon import ANNA, BO, Daemon, Rental
from tests.api.kiosk.test_screens import highlighted, open_kiosk, view

pytestmark = pytest.mark.slow


def bo_holds_one(tmp_path: Path, *, kiosk: str = "", **timeouts: float) -> Daemon:
    """A cabinet where Bo (order picking, at his limit of one) has R1-0002 out since this morning."""
    stock = demo_stock()
    for device in stock.devices:
        if device.serial == "R1-0002":
            device.slot, device.charging = None, False
    cabinet = Daemon(tmp_path, **timeouts)
    if kiosk:
        cabinet.site.write_text(cabinet.site.read_text() + f"[kiosk]\n{kiosk}\n")
    due = datetime.now(UTC) + timedelta(hours=3)
    cabinet.seed(rentals=[Rental("demo-bo", "R1-0002", 6, due)], world=stock)
    cabinet.start()
    cabinet.settled()
    return cabinet


@pytest.fixture
def quick_relock(tmp_path: Path) -> Iterator[Daemon]:
    cabinet = Daemon(tmp_path, door_open_s=3)
    cabinet.seed()
    cabinet.start()
    cabinet.settled()
    yield cabinet
    cabinet.close()


def test_ok__someone_who_holds_nothing_gets_no_return_button_and_the_blinking_light(
    cabinet: Daemon, page: Page, shot: Shots
) -> None:
    open_kiosk(page, cabinet)
    cabinet.sim("badge", {"uid": ANNA})
    view(page, "dispensing")
    expect(page.locator("#actions button")).to_have_text(["取消"])
    expect(page.locator("#actions button:has-text('还设备')")).to_have_count(0)
    expect(page.locator("#led-hint")).to_have_text("闪烁的指示灯标出了它")  # slot 1 has an LED in sim.toml
    marks = {mark["slot"]: mark["led"] for mark in cabinet.kiosk()["cabinet"]["slots"]}
    assert marks[1] is True
    assert marks[5] is False
    shot("dispensing-no-return")


def test_ok__a_second_badge_shows_a_notice_over_the_first_persons_instructions(
    cabinet: Daemon, page: Page, shot: Shots
) -> None:
    open_kiosk(page, cabinet)
    cabinet.sim("badge", {"uid": ANNA})
    view(page, "dispensing")
    expect(page.locator("#message")).to_have_text("请打开 1 号柜门")
    cabinet.sim("badge", {"uid": BO})
    expect(page.locator("#notice")).to_have_text("请稍候 — Bo Wang 正在使用设备柜")
    expect(page.locator("#message")).to_have_text("请打开 1 号柜门")
    assert highlighted(page) == ["1"]
    expect(page.locator("#session-name")).to_have_text("Anna Li")
    shot("notice-busy")
    expect(page.locator("#notice")).to_be_hidden(timeout=10_000)  # it goes by itself after ~5 s
    expect(page.locator("#message")).to_have_text("请打开 1 号柜门")
    cabinet.until(lambda s: s["notice"] is None)  # the daemon takes it down too


def test_fail__a_door_not_opened_counts_down_then_says_why_and_to_badge_again(
    quick_relock: Daemon, page: Page, shot: Shots
) -> None:
    cabinet = quick_relock
    open_kiosk(page, cabinet)
    page.click("#lang")
    cabinet.sim("badge", {"uid": ANNA})
    view(page, "dispensing")
    expect(page.locator("#countdown")).to_contain_text("The door relocks in")
    assert cabinet.kiosk()["screen"]["relock_at"]
    shot("dispensing-countdown")
    view(page, "refused")
    expect(page.locator("#message")).to_have_text("The rental was cancelled: no device was taken")
    expect(page.locator("#detail")).to_have_text("The door was not opened in time, so it locked again.")
    expect(page.locator("#next-step")).to_have_text("Badge again to start over")
    expect(page.locator("#countdown")).to_be_hidden()
    page.click("#lang")
    expect(page.locator("#detail")).to_have_text("柜门未在规定时间内打开，已重新上锁。")
    expect(page.locator("#next-step")).to_have_text("请重新刷工牌开始")
    shot("refused-door-not-opened")
    assert cabinet.kiosk()["screen"]["cause"] == "door_not_opened"


def test_ok__a_reloaded_kiosk_shows_the_cabinet_as_it_is(cabinet: Daemon, page: Page) -> None:
    open_kiosk(page, cabinet)
    cabinet.sim("badge", {"uid": ANNA})
    view(page, "dispensing")
    page.reload()
    view(page, "dispensing")  # at once: the rent under way, not a stale or an idle screen
    expect(page.locator("#message")).to_have_text("请打开 1 号柜门")
    assert cabinet.sim("slots/1/take").status_code == 200
    view(page, "done")
    # The daemon puts the finished screen away by itself: a kiosk reloaded later meets idle.
    cabinet.until(lambda s: s["screen"]["view"] == "idle", timeout=20)
    page.reload()
    view(page, "idle")
    expect(page.locator("#message")).to_have_text("请刷工牌")


def test_ok__the_next_person_starts_in_the_stores_language(cabinet: Daemon, page: Page) -> None:
    open_kiosk(page, cabinet)
    page.click("#lang")  # picked before the badge: it holds for her session
    cabinet.sim("badge", {"uid": ANNA})
    view(page, "dispensing")
    expect(page.locator("#message")).to_have_text("Open the door of slot 1")
    page.click("#actions button:has-text('Cancel')")
    view(page, "idle")
    expect(page.locator("#message")).to_have_text("请刷工牌")  # the session ended: the store's language
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")


def test_ok__my_devices_asks_before_a_return_slot_opens(tmp_path: Path, browser: Browser) -> None:
    cabinet = bo_holds_one(tmp_path, kiosk="ask_before_return = true")
    page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
    shot = Shots(page, tmp_path)
    try:
        open_kiosk(page, cabinet)
        cabinet.sim("badge", {"uid": BO})
        view(page, "my_devices")
        expect(page.locator("#message")).to_have_text("Bo Wang，您好：您的设备")
        expect(page.locator("#held li[data-device='R1-0002']")).to_contain_text("前归还")
        expect(page.locator("#actions button")).to_have_text(["还设备", "我只是看看"])  # at his limit
        states = [mark["state"] for mark in cabinet.kiosk()["cabinet"]["slots"]]
        assert "receiving" not in states  # nothing opens until he chooses
        shot("my-devices")
        page.click("#actions button:has-text('还设备')")
        view(page, "returning")
        slot = cabinet.kiosk()["screen"]["slot"]
        assert cabinet.kiosk()["cabinet"]["slots"][slot - 1]["state"] == "receiving"
    finally:
        page.close()
        cabinet.close()


def test_ok__i_only_wanted_to_look_relocks_at_once(tmp_path: Path, browser: Browser) -> None:
    cabinet = bo_holds_one(tmp_path)
    page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
    shot = Shots(page, tmp_path)
    try:
        open_kiosk(page, cabinet)
        cabinet.sim("badge", {"uid": BO})  # the return starts at once, as without the question
        view(page, "returning")
        slot = cabinet.kiosk()["screen"]["slot"]
        expect(page.locator("#held li[data-device='R1-0002']")).to_be_visible()
        page.click("#actions button:has-text('我只是看看')")
        view(page, "refused")
        expect(page.locator("#message")).to_have_text(f"{slot} 号柜门已重新上锁，没有任何更改")
        expect(page.locator("#next-step")).to_have_text("请重新刷工牌开始")
        shot("refused-looked")
        state = cabinet.until(lambda s: s["session"] is None)
        assert state["cabinet"]["slots"][slot - 1]["state"] == "empty"
        assert state["screen"]["cause"] == "looked"
    finally:
        page.close()
        cabinet.close()
