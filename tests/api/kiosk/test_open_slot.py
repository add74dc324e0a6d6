"""The open slot as a person looks for it (its number very large, the cabinet's front with the slot
marked, the blinking light, the time left before the relock), the tones, and the Help corner: the page's
real code rendering the daemon's documents (documents.py, replay.py) in real Chromium."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.api.kiosk.documents import HELP_CONTACT, Document
from tests.api.kiosk.replay import deliver, open_replayed

pytestmark = pytest.mark.slow

# Counts the oscillators the page starts: one per note of a tone.
COUNT_TONES = """
window.__notes = 0;
const started = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) { window.__notes += 1; return started.apply(this, args); };
"""
NOTES_PER_TONE = 2


@pytest.fixture
def small(browser: Browser) -> Iterator[Page]:
    opened = browser.new_page(viewport={"width": 800, "height": 480})
    yield opened
    opened.close()


def variant(document: Document, version: int, **cabinet: object) -> Document:
    made = copy.deepcopy(document)
    made["screen"]["version"] = version
    made["cabinet"].update(cabinet)
    return made


@pytest.mark.parametrize("name", ["dispensing-door", "dispensing-take", "returning-door", "returning-insert"])
def test_ok__the_open_slot_is_a_very_large_number_and_marked_on_the_front(
    small: Page, documents: dict[str, Document], name: str
) -> None:
    document = documents[name]
    slot = document["screen"]["slot"]
    open_replayed(small, document)
    digits = small.locator("#open-slot-digits")
    expect(digits).to_have_text(str(slot))
    assert float(digits.evaluate("(e) => parseFloat(getComputedStyle(e).fontSize)")) >= 96
    box = digits.bounding_box()
    assert box is not None
    assert box["height"] >= 96
    marked = small.locator("#front svg rect.open")
    expect(marked).to_have_count(1)
    expect(marked).to_have_attribute("data-slot", str(slot))
    cells = sum(len(module["slots"]) for module in document["cabinet"]["modules"])
    expect(small.locator("#front svg rect.front-slot")).to_have_count(cells)
    expect(small.locator("#front svg")).to_have_attribute("aria-label", f"设备柜正面：已标出 {slot} 号柜格")


def test_ok__the_blinking_light_is_mentioned_only_where_the_slot_has_one(
    small: Page, documents: dict[str, Document]
) -> None:
    with_led = documents["dispensing-door"]
    slot = with_led["screen"]["slot"]
    open_replayed(small, with_led)
    expect(small.locator("#led-hint")).to_have_text("闪烁的指示灯标出了它")
    without = variant(with_led, 5000)
    without["cabinet"]["slots"][slot - 1]["led"] = False
    deliver(small, without, "en")
    expect(small.locator("#led-hint")).to_be_hidden()
    expect(small.locator("#open-slot-digits")).to_have_text(str(slot))


def test_ok__a_countdown_runs_to_the_relock_and_is_absent_without_one(
    small: Page, documents: dict[str, Document]
) -> None:
    now = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)
    small.clock.install(time=now)
    open_replayed(small, documents["idle-offline"])
    small.clock.pause_at(now + timedelta(seconds=5))  # from here the page's time moves only when told
    door = copy.deepcopy(documents["dispensing-door"])
    door["screen"]["relock_at"] = (now + timedelta(seconds=25)).isoformat()
    small.evaluate("(d) => window.__deliver(d)", door)
    countdown = small.locator("#countdown")
    expect(countdown).to_have_text("柜门将在 20 秒后重新上锁")
    small.clock.fast_forward(6_000)
    expect(countdown).to_have_text("柜门将在 14 秒后重新上锁")
    expect(countdown).not_to_have_class("soon")
    small.clock.fast_forward(10_000)
    expect(countdown).to_have_text("柜门将在 4 秒后重新上锁")
    expect(countdown).to_have_class("soon")
    opened = copy.deepcopy(documents["dispensing-take"])  # the door is open: no relock to count to
    opened["screen"]["version"] = 5000
    small.evaluate("(d) => window.__deliver(d)", opened)
    expect(countdown).to_be_hidden()


def test_ok__a_tone_on_unlock_and_on_refusal_and_none_when_sound_is_off(
    small: Page, documents: dict[str, Document]
) -> None:
    small.add_init_script(COUNT_TONES)
    open_replayed(small, documents["idle-offline"])
    notes = lambda: small.evaluate("() => window.__notes")  # noqa: E731
    assert notes() == 0
    deliver(small, documents["dispensing-door"])
    assert notes() == NOTES_PER_TONE
    deliver(small, documents["dispensing-take"])  # the same door, now open: no second tone
    assert notes() == NOTES_PER_TONE
    deliver(small, documents["refused-limit-reached"])
    assert notes() == 2 * NOTES_PER_TONE
    deliver(small, variant(documents["returning-door"], 5000, sound=False))
    deliver(small, variant(documents["refused-inactive"], 5001, sound=False))
    assert notes() == 2 * NOTES_PER_TONE


def test_ok__help_shows_the_stores_contact_and_no_contact_line_without_one(
    small: Page, documents: dict[str, Document]
) -> None:
    open_replayed(small, documents["idle-offline"])
    expect(small.locator("#help-panel")).to_be_hidden()
    small.click("#help")
    expect(small.locator("#help-panel")).to_be_visible()
    expect(small.locator("#help-contact")).to_have_text(f"联系方式：{HELP_CONTACT}")
    small.click("#help-close")
    expect(small.locator("#help-panel")).to_be_hidden()
    deliver(small, variant(documents["idle-offline"], 5000, help_contact=""), "en")
    small.click("#help")
    expect(small.locator("#help-panel")).to_contain_text("Ask a manager or a colleague at the store.")
    expect(small.locator("#help-contact")).to_be_hidden()
