"""Every kiosk screen, driven through the simulator API, seen as a person at the cabinet sees it:
the words (Chinese by default, English on a tap), the highlighted slot, the buttons, the banners.
A screenshot of each screen goes to the test's output folder."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from cabinetd.sim.worldfile import demo_stock
from tests.api.kiosk.conftest import VIEWPORT, Shots
from tests.api.kiosk.daemon import ANNA, BO, DINA, ERIK, NOBODY, TECH, Daemon, Rental

# Each test starts a daemon and walks its screens in a browser: three to seven seconds apiece.
pytestmark = pytest.mark.slow


def view(page: Page, name: str) -> None:
    page.wait_for_function("(v) => document.body.dataset.view === v", arg=name)


def highlighted(page: Page) -> list[str]:
    return [cell.get_attribute("data-slot") or "" for cell in page.locator("#map .slot.highlighted").all()]


def assert_touch_targets(page: Page) -> None:
    buttons = page.locator("button:visible").all()
    assert buttons
    for button in buttons:
        box = button.bounding_box()
        assert box is not None
        assert box["height"] >= 48, (button.inner_text(), box)
        assert box["width"] >= 48, (button.inner_text(), box)


def open_kiosk(page: Page, cabinet: Daemon) -> None:
    page.goto(cabinet.url + "/")
    expect(page.locator("#ready li").first).to_be_visible()


def rent(cabinet: Daemon, page: Page, badge: str = ANNA) -> int:
    """Badge, open the door, take the device: the rent done through the simulator."""
    assert cabinet.sim("badge", {"uid": badge}).status_code == 200
    slot = int(cabinet.until(lambda s: s["screen"].get("step") == "door")["screen"]["slot"])
    assert cabinet.sim(f"slots/{slot}/take").status_code == 200
    view(page, "done")
    return slot


def test_ok__idle_says_tap_your_badge_with_ready_devices_per_work_and_the_offline_banner(
    cabinet: Daemon, page: Page, shot: Shots
) -> None:
    open_kiosk(page, cabinet)
    expect(page.locator("#message")).to_have_text("请刷工牌")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#ready li[data-work-type='price-tags']")).to_contain_text("1 台可借")
    expect(page.locator("#ready li[data-work-type='price-tags']")).to_contain_text("价签")  # the roster's zh-CN name
    expect(page.locator("#ready li[data-work-type='picking']")).to_contain_text("3 台可借")
    expect(page.locator("#ready li[data-work-type='stock-taking']")).to_contain_text("2 台可借")
    # No cloud.url: the cabinet is offline, and says that renting still works.
    expect(page.locator("#link-state")).to_have_text("离线")
    expect(page.locator("#offline-banner")).to_be_visible()
    expect(page.locator("#offline-banner")).to_contain_text("仍可借还设备")
    expect(page.locator("#map .slot[data-slot='4']")).to_have_class("slot faulty")
    expect(page.locator("#map .slot[data-slot='3']")).to_contain_text("空")
    assert highlighted(page) == []
    assert_touch_targets(page)
    shot("idle")

    page.click("#lang")
    expect(page.locator("#message")).to_have_text("Tap your badge")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#ready li[data-work-type='picking']")).to_contain_text("3 ready")
    expect(page.locator("#ready li[data-work-type='picking']")).to_contain_text("Order picking")
    expect(page.locator("#offline-banner")).to_contain_text("Offline: you can still take and return devices")
    expect(page.locator("#link-state")).to_have_text("Offline")
    expect(page.locator("#lang")).to_have_text("中文")
    shot("idle-en")
    page.click("#lang")
    expect(page.locator("#message")).to_have_text("请刷工牌")


def test_ok__rent_highlights_the_slot_and_walks_through_door_open_and_device_taken(
    cabinet: Daemon, page: Page, shot: Shots
) -> None:
    open_kiosk(page, cabinet)
    cabinet.sim("badge", {"uid": ANNA})
    view(page, "dispensing")
    expect(page.locator("#message")).to_have_text("请打开 1 号柜门")
    assert highlighted(page) == ["1"]
    expect(page.locator("#session-name")).to_have_text("Anna Li")
    expect(page.locator("#session-work")).to_have_text("工作类型：价签")  # the roster's Chinese name
    expect(page.locator("#held")).to_contain_text("您目前没有借用设备")
    expect(page.locator("#actions button")).to_have_text(["取消"])  # she holds nothing: no return offered
    expect(page.locator("#progress li.done")).to_have_text(["准备设备"])
    expect(page.locator("#progress li.current")).to_have_count(0)  # the door is not open yet: the message says so
    assert_touch_targets(page)
    shot("dispensing-door")

    assert cabinet.sim("slots/1/door", {"open": True}).status_code == 200
    expect(page.locator("#message")).to_have_text("请从 1 号柜格取出设备")
    expect(page.locator("#progress li.done")).to_have_text(["准备设备", "柜门已开"])
    expect(page.locator("#actions button")).to_have_count(0)  # the door is open: no leaving mid-way
    page.click("#lang")
    expect(page.locator("#message")).to_have_text("Take the device from slot 1")
    shot("dispensing-take")

    assert cabinet.sim("slots/1/take").status_code == 200
    view(page, "done")
    expect(page.locator("#message")).to_have_text("All set: have a good shift")
    expect(page.locator("#detail")).to_contain_text("Please bring it back by")
    shot("done")
    page.click("#actions button")  # OK
    view(page, "idle")
    expect(page.locator("#ready li[data-work-type='price-tags']")).to_contain_text("0 ready")


def test_ok__session_lists_held_devices_overdue_in_red_then_the_return_and_its_self_test(
    tmp_path: Path, browser: Browser
) -> None:
    stock = demo_stock()
    for device in stock.devices:
        if device.serial == "R1-0002":
            device.slot, device.charging = None, False  # out with Bo since this morning
    overdue = datetime.now(UTC) - timedelta(hours=1)
    cabinet = Daemon(tmp_path)
    cabinet.seed(rentals=[Rental("demo-bo", "R1-0002", 6, overdue)], world=stock)
    cabinet.start()
    page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
    shot = Shots(page, tmp_path)
    try:
        cabinet.settled()
        open_kiosk(page, cabinet)
        cabinet.sim("badge", {"uid": BO})
        view(page, "returning")
        slot = cabinet.kiosk()["screen"]["slot"]
        assert slot in (3, 6, 8)  # a free slot
        expect(page.locator("#message")).to_have_text(f"请打开 {slot} 号柜门")
        assert highlighted(page) == [str(slot)]
        expect(page.locator("#session-name")).to_have_text("Bo Wang")
        held = page.locator("#held li[data-device='R1-0002']")
        expect(held).to_have_class("overdue")
        expect(held).to_contain_text("已逾期")
        assert held.evaluate("(e) => getComputedStyle(e).color") == "rgb(198, 40, 40)"
        # at his limit: no second device
        expect(page.locator("#actions button")).to_have_text(["设备有问题", "我只是看看"])
        shot("session")

        cabinet.sim(f"slots/{slot}/door", {"open": True})
        expect(page.locator("#message")).to_have_text(f"请把设备放入 {slot} 号柜格并关好柜门")
        expect(page.locator("#progress li.done")).to_have_text(["柜门已开"])
        shot("returning-insert")
        assert cabinet.sim(f"slots/{slot}/put", {"serial": "R1-0002"}).status_code == 200
        view(page, "returned")
        expect(page.locator("#message")).to_have_text("谢谢！设备自检通过")
        assert highlighted(page) == [str(slot)]
        shot("returned-passed")
    finally:
        page.close()
        cabinet.close()


def test_fail__a_failed_self_test_on_return_names_the_check_and_the_repair_ticket(
    cabinet: Daemon, page: Page, shot: Shots
) -> None:
    open_kiosk(page, cabinet)
    slot = rent(cabinet, page)
    assert cabinet.sim("devices/S1-0001", {"selftest": "fail:scanner"}).status_code == 200
    cabinet.sim("badge", {"uid": ANNA})
    back = int(cabinet.until(lambda s: s["screen"].get("view") == "returning")["screen"]["slot"])
    assert slot == 1
    assert back in (1, 3)
    expect(page.locator("#message")).to_have_text(f"请打开 {back} 号柜门")
    assert cabinet.sim(f"slots/{back}/put", {"serial": "S1-0001"}).status_code == 200
    view(page, "returned")
    expect(page.locator("#message")).to_have_text("设备自检未通过：扫描头")
    expect(page.locator("#detail")).to_have_text("已自动提交维修单，您无需其他操作。")
    page.click("#lang")
    expect(page.locator("#message")).to_have_text("The device failed its self-test: scanner")
    shot("returned-failed")
    cabinet.until(lambda s: s["cabinet"]["slots"][back - 1]["state"] == "faulty")


@pytest.mark.parametrize(
    ("badge", "words", "name"),
    [
        (NOBODY, "此设备柜无法识别该工牌", "refused-unknown-badge"),
        (ERIK, "该工牌属于其他门店", "refused-other-store"),
        (DINA, "该工牌已停用，请联系店长", "refused-inactive"),
    ],
)
def test_fail__a_refused_badge_gets_its_reason_in_plain_words(
    cabinet: Daemon, page: Page, shot: Shots, badge: str, words: str, name: str
) -> None:
    open_kiosk(page, cabinet)
    cabinet.sim("badge", {"uid": badge})
    view(page, "refused")
    expect(page.locator("#message")).to_have_text(words)
    assert highlighted(page) == []
    assert {slot["lock"] for slot in cabinet.world()["slots"]} == {"locked"}  # nothing was unlocked
    shot(name)


def test_fail__no_device_ready_says_so(tmp_path: Path, browser: Browser) -> None:
    stock = demo_stock()
    for device in stock.devices:
        if device.model == "pda-s1":
            device.battery = 15  # price tags need 40 %
    cabinet = Daemon(tmp_path)
    cabinet.seed(world=stock)
    cabinet.start()
    page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        cabinet.settled()
        open_kiosk(page, cabinet)
        expect(page.locator("#ready li[data-work-type='price-tags']")).to_have_class("none")
        cabinet.sim("badge", {"uid": ANNA})
        view(page, "refused")
        expect(page.locator("#message")).to_have_text("暂无适合您工作的可用设备")
        # The estimate needs two battery readings a refresh apart; right after start there is none.
        expect(page.locator("#detail")).to_have_text("暂时无法估计何时有设备可用")
        Shots(page, tmp_path)("refused-no-device")
    finally:
        page.close()
        cabinet.close()


def test_fail__a_door_left_open_raises_an_alarm_on_screen_until_it_is_shut(tmp_path: Path, browser: Browser) -> None:
    cabinet = Daemon(tmp_path, door_left_open_s=1.0)
    cabinet.seed()
    cabinet.start()
    page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        cabinet.settled()
        open_kiosk(page, cabinet)
        cabinet.sim("badge", {"uid": ANNA})
        view(page, "dispensing")
        cabinet.sim("slots/1/door", {"open": True})
        view(page, "alarm")
        expect(page.locator("#message")).to_have_text("1 号柜门未关，请关好柜门")
        assert highlighted(page) == ["1"]
        expect(page.locator("#map .slot[data-slot='1']")).to_have_class("slot dispensing alarm highlighted")
        Shots(page, tmp_path)("alarm-door-left-open")
        cabinet.sim("slots/5/door", {"open": True, "force": True})  # meanwhile someone forces another door
        expect(page.locator("#alarm-banner")).to_contain_text("5 号柜门被强行打开")
        expect(page.locator("#map .slot[data-slot='5']")).to_have_class(re.compile(r"\balarm\b"))
        Shots(page, tmp_path)("alarm-door-forced")
        cabinet.sim("slots/5/door", {"open": False})
        cabinet.sim("slots/1/take")  # takes the device and shuts the door
        view(page, "done")
        expect(page.locator("#alarm-banner")).to_be_hidden()
    finally:
        page.close()
        cabinet.close()


def test_ok__without_a_touch_for_30_s_the_session_is_cancelled_and_idle_is_back_in_chinese(
    cabinet: Daemon, page: Page, shot: Shots
) -> None:
    page.clock.install()
    open_kiosk(page, cabinet)
    page.click("#lang")
    cabinet.sim("badge", {"uid": ANNA})
    view(page, "dispensing")
    expect(page.locator("#message")).to_have_text("Open the door of slot 1")
    page.clock.fast_forward(20_000)
    page.mouse.click(600, 600)  # a touch starts the 30 s again
    page.clock.fast_forward(25_000)
    view(page, "dispensing")
    page.clock.fast_forward(6_000)
    view(page, "idle")
    expect(page.locator("#message")).to_have_text("请刷工牌")
    # The page did not just hide it: the controller cancelled the rent and relocked.
    state = cabinet.until(lambda s: s["screen"]["view"] == "idle" and s["session"] is None)
    assert state["cabinet"]["slots"][0]["state"] in ("ready", "charging")
    shot("idle-after-timeout")


def test_ok__a_technician_gets_the_pin_pad(cabinet: Daemon, page: Page, shot: Shots) -> None:
    # A second badge during a session (a notice over the first person's screen): test_sessions.py.
    open_kiosk(page, cabinet)
    cabinet.sim("badge", {"uid": TECH})
    view(page, "pin")
    expect(page.locator("#detail")).to_have_text("请输入 PIN 码")
    assert_touch_targets(page)
    for digit in "1111":
        page.click(f"#keypad button:text-is('{digit}')")
    expect(page.locator("#pin-dots")).to_have_text("••••")
    page.click("#keypad button:has-text('确认')")
    expect(page.locator("#detail")).to_have_text("PIN 码错误")
    shot("pin-wrong")
    for digit in "246813":
        page.click(f"#keypad button:text-is('{digit}')")
    page.click("#keypad button:has-text('确认')")
    view(page, "maintenance")
    expect(page.locator("#message")).to_have_text("维护模式：Tomas Berg (technician)")
    shot("maintenance")
    page.click("#actions button")
    view(page, "idle")
    cabinet.until(lambda s: s["session"] is None)


def stream_of(document: dict[str, object]) -> Callable[[Route], None]:
    body = f"data: {json.dumps(document)}\n\n"

    def answer(route: Route) -> None:
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)

    return answer


REFUSALS: list[tuple[dict[str, object], str, str]] = [
    ({"reason": "no_device_available", "minutes": 12}, "暂无适合您工作的可用设备", "预计约 12 分钟后有设备可用"),
    ({"reason": "cabinet_disabled"}, "设备柜暂停服务，请联系店长", ""),
    ({"reason": "limit_reached"}, "您借用的设备已达上限，请先归还", ""),
    ({"reason": "no_free_slot"}, "没有可放入该设备的空柜格，请联系店长", ""),
    ({"reason": "dispense_cancelled", "detail": "the door was not opened in time"}, "借用已取消：设备未被取出", ""),
]


def test_fail__refusals_the_simulator_cannot_reach_quickly_read_in_plain_words_too(
    cabinet: Daemon, page: Page, shot: Shots
) -> None:
    """An estimate needs battery readings minutes apart, an out-of-service cabinet a technician: the page
    gets the daemon's own document with such a screen in it."""
    document = cabinet.kiosk()
    for n, (fields, words, detail) in enumerate(REFUSALS):
        screen = {"version": 100 + n, "view": "refused", "name": "Anna Li", **fields}
        page.route("**/kiosk/events", stream_of({**document, "screen": screen}))
        page.goto(cabinet.url + "/")
        view(page, "refused")
        expect(page.locator("#message")).to_have_text(words)
        expect(page.locator("#detail")).to_have_text(detail)
        if n == 0:
            shot("refused-minutes")
        page.unroute("**/kiosk/events")


def test_ok__the_simulator_panel_plays_a_rent_with_its_buttons(cabinet: Daemon, page: Page, shot: Shots) -> None:
    page.goto(cabinet.url + "/sim")
    expect(page.locator("#slots .slot")).to_have_count(8)
    page.click("#staff button:has-text('Anna Li (0001715004)')")
    expect(page.locator("#slots .slot[data-slot='1']")).to_contain_text("lock released", timeout=10_000)
    page.click("#slots .slot[data-slot='1'] button:has-text('Take')")
    expect(page.locator("#status")).to_have_text("took S1-0001 from slot 1")
    expect(page.locator("#devices tr:has-text('S1-0001')")).to_contain_text("out (with staff)")
    shot("sim-panel")
    assert cabinet.until(lambda s: s["screen"]["view"] == "done")["cabinet"]["slots"][0]["state"] == "empty"
