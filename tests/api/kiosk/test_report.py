"""Report a problem while returning a device: the real daemon and a headless Chromium. The person taps
"I have a problem with this device", chooses a reason, types a note on the on-screen keyboard and
sends it; the returned screen and the ledger show it. Bad bodies are refused with the field named."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from cabinetd.ledger import open_ledger
from tests.api.kiosk.conftest import VIEWPORT, Shots
from tests.api.kiosk.daemon import ANNA, Daemon
from tests.api.kiosk.test_screens import open_kiosk, rent, view

# A daemon and a browser walking a rent and a return: several seconds.
pytestmark = pytest.mark.slow


def test_ok__report_with_a_typed_note_then_the_returned_screen_and_the_ledger_show_it(
    cabinet: Daemon, page: Page, shot: Shots
) -> None:
    open_kiosk(page, cabinet)
    rent(cabinet, page)
    cabinet.sim("badge", {"uid": ANNA})
    back = int(cabinet.until(lambda s: s["screen"].get("view") == "returning")["screen"]["slot"])
    view(page, "returning")
    # The door open first: its deadline is over, and the form may take the person as long as it takes.
    cabinet.sim(f"slots/{back}/door", {"open": True})
    cabinet.until(lambda s: s["screen"].get("step") == "insert")
    page.click("#actions button[data-choice='report']")
    expect(page.locator("#message")).to_have_text("设备有什么问题？")
    page.set_viewport_size({"width": 800, "height": 480})
    for target in page.locator("#keyboard button, #report-reasons button").all():
        box = target.bounding_box()
        assert box is not None
        assert box["width"] >= 48, (target.inner_text(), box)
        assert box["height"] >= 48, (target.inner_text(), box)
    shot("report-form-zh-800x480")
    page.set_viewport_size(VIEWPORT)  # type: ignore[arg-type]
    page.click("#lang")  # English
    expect(page.locator("#message")).to_have_text("What is wrong with the device?")
    expect(page.locator("#report-send")).to_be_disabled()
    page.click("#report-reasons button[data-reason='screen']")
    for key in ["c", "r", "a", "c", "k", "space", "x", "delete", "1"]:
        page.click(f"#keyboard button[data-key='{key}']")
    expect(page.locator("#report-note")).to_have_text("crack 1")
    shot("report-form")
    page.click("#report-send")
    cabinet.until(lambda s: s["screen"].get("report") == {"reason": "screen", "note": "crack 1"})
    expect(page.locator("#detail")).to_have_text("Thank you: your report is recorded")
    assert cabinet.sim(f"slots/{back}/put", {"serial": "S1-0001"}).status_code == 200
    view(page, "returned")
    expect(page.locator("#message")).to_have_text("Thank you for telling us: the device goes to repair")
    shot("returned-reported")
    cabinet.until(lambda s: s["cabinet"]["slots"][back - 1]["state"] == "faulty")
    cabinet.close()
    ledger = open_ledger(cabinet.state, "sim-1")
    try:
        events = ledger.tail(200)
    finally:
        ledger.close()
    reported = [e for e in events if e.type == "problem_reported"]
    assert [(e.device, e.staff, e.payload["reason"], e.payload["note"]) for e in reported] == [
        ("S1-0001", "demo-anna", "screen", "crack 1")
    ]
    ticket = [e for e in events if e.type == "repair_ticket_opened"][-1]
    assert ticket.payload["evidence"]["report"]["note"] == "crack 1"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"reason": "exploded"}, 400, "reason must be one of screen, battery, scanner, wont_charge, damaged, other"),
        ({}, 400, "reason is missing: one of screen, battery, scanner, wont_charge, damaged, other"),
        ({"reason": "screen", "note": 5}, 400, "note must be text"),
        ({"reason": "screen", "note": "x" * 501}, 400, "note is too long: 501 characters, at most 500"),
        ({"reason": "screen", "colour": "red"}, 400, "unknown field 'colour': a report has reason and note"),
        ({"reason": "screen"}, 409, "no return is under way"),
    ],
)
def test_fail__bad_report_bodies_are_refused_naming_the_field(
    cabinet: Daemon, body: dict[str, object], status: int, error: str
) -> None:
    import httpx

    reply = httpx.post(cabinet.url + "/kiosk/report", json=body)
    assert (reply.status_code, reply.json()) == (status, {"error": error})
