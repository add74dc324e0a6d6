"""One clear next step: the choices a person gets, the notice a second badge puts over the screen,
the countdown and the reason of a relock, "My devices", the blinking LED, and finished screens that
go back to idle by themselves. Driven through the real controller on the simulated cabinet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cabinetd.flows.leds import BLINK_S
from cabinetd.flows.screentimes import FINISHED_SCREEN_S, NOTICE_S
from tests.flows.rig import Rig
from tests.flows.test_flows import ANNA, PIET, rent, take_out

STOCKED = (1, 3, 5, 7)


def screen(rig: Rig) -> dict[str, Any]:
    return dict(rig.controller.screen.state)


def choices(rig: Rig) -> list[str]:
    session = rig.controller.session
    assert session is not None, "no session"
    return list(session.choices)


async def at_door(rig: Rig, badge: str, view: str) -> int:
    rig.sim.badge(badge)
    await rig.until(lambda: screen(rig).get("view") == view and screen(rig).get("step") == "door", within=10)
    return int(screen(rig)["slot"])


@pytest.fixture
async def asking(tmp_path: Path) -> AsyncIterator[Rig]:
    """A cabinet configured to ask before it opens a return slot (kiosk.ask_before_return)."""

    def ask(data: dict[str, Any]) -> None:
        data["kiosk"]["ask_before_return"] = True

    rig = Rig(tmp_path, rewire=ask)
    await rig.start()
    await rig.until(lambda: all(rig.state(n) in ("ready", "charging") for n in STOCKED))
    yield rig
    await rig.stop()
    rig.sim.close()


# --- choices -----------------------------------------------------------------------------------------


async def test_ok__someone_who_holds_nothing_is_offered_no_return(rig: Rig) -> None:
    await at_door(rig, ANNA, "dispensing")
    assert choices(rig) == ["cancel"]
    await rig.controller.choose("return")  # not offered: nothing happens
    assert screen(rig)["view"] == "dispensing"
    assert rig.events("return_started", "dispense_cancelled") == []


async def test_ok__a_holder_below_the_limit_may_take_another_and_go_back_to_returning(rig: Rig) -> None:
    await rent(rig, PIET)  # picking: two at most
    await at_door(rig, PIET, "returning")
    assert choices(rig) == ["rent", "report", "look"]
    await rig.controller.choose("rent")
    await rig.until(lambda: screen(rig).get("view") == "dispensing" and screen(rig).get("step") == "door", within=10)
    assert choices(rig) == ["return", "cancel"]  # he holds one: back to returning it is offered


async def test_ok__look_relocks_at_once_ends_the_session_and_says_why(rig: Rig) -> None:
    await rent(rig)
    slot = await at_door(rig, ANNA, "returning")
    assert rig.sim.locks.lock_released(slot)
    await rig.controller.choose("look")
    assert rig.controller.session is None
    assert rig.state(slot) == "empty"
    assert screen(rig)["view"] == "refused"
    assert screen(rig)["cause"] == "looked"
    cancelled = [e for e in rig.ledger.tail(5) if e.type == "return_cancelled"]
    assert cancelled[0].payload["reason"] == "the person only wanted to look"


async def test_ok__cancel_is_always_accepted_as_the_way_out(rig: Rig) -> None:
    await rent(rig)
    slot = await at_door(rig, ANNA, "returning")
    assert "cancel" not in choices(rig)
    await rig.controller.choose("cancel")  # the page's idle timer
    assert rig.controller.session is None
    assert rig.state(slot) == "empty"
    assert screen(rig)["view"] == "idle"


# --- the notice of a second badge ----------------------------------------------------------------------


async def test_ok__a_second_badge_leaves_the_first_persons_screen_and_shows_a_notice_for_a_while(rig: Rig) -> None:
    slot = await at_door(rig, ANNA, "dispensing")
    shown, version = screen(rig), rig.controller.screen.version
    rig.sim.badge(PIET)
    await rig.until(lambda: rig.controller.screen.notice is not None)
    notice = rig.controller.screen.notice
    assert notice is not None
    assert (notice["kind"], notice["name"]) == ("busy", "Piet")
    until = datetime.fromisoformat(notice["until"])
    assert until == (rig.clock.now() + timedelta(seconds=NOTICE_S)).replace(microsecond=0)
    assert screen(rig) == shown  # Anna's "open the door of slot N" stays
    assert rig.controller.screen.version > version  # the event stream sends the notice
    assert rig.controller.session.staff.name == "Anna"
    await rig.clock.advance(NOTICE_S)
    assert rig.controller.screen.notice is None
    assert screen(rig)["slot"] == slot
    assert rig.state(slot) == "dispensing"


# --- the countdown and the reason of a relock ----------------------------------------------------------


async def test_ok__the_unlocked_door_says_when_it_relocks_and_the_timeout_says_why(rig: Rig) -> None:
    rig.sim.badge(ANNA)
    await rig.until(lambda: screen(rig).get("step") == "door", within=10)
    relock = datetime.fromisoformat(screen(rig)["relock_at"])
    assert relock == (rig.clock.now() + timedelta(seconds=rig.config.timeouts.door_open_s)).replace(microsecond=0)
    await rig.clock.advance(rig.config.timeouts.door_open_s + 1)
    await rig.until(lambda: screen(rig).get("view") == "refused")
    assert (screen(rig)["reason"], screen(rig)["cause"]) == ("dispense_cancelled", "door_not_opened")
    assert "relock_at" not in screen(rig)


async def test_ok__an_opened_door_has_no_countdown(rig: Rig) -> None:
    slot = await at_door(rig, ANNA, "dispensing")
    rig.sim.locks.door(slot).pull()
    await rig.until(lambda: screen(rig).get("step") == "take")
    assert "relock_at" not in screen(rig)


async def test_ok__a_return_called_off_for_a_rent_carries_its_cause(rig: Rig) -> None:
    await rent(rig, PIET)
    await at_door(rig, PIET, "returning")
    seen: list[dict[str, Any]] = []
    shown = rig.controller.screen.on_shown
    assert shown is not None

    def record(state: dict[str, Any]) -> None:
        seen.append(state)
        shown(state)

    rig.controller.screen.on_shown = record
    await rig.controller.choose("rent")
    refused = [s for s in seen if s["view"] == "refused"]
    assert refused[0]["cause"] == "cancelled_on_screen"


# --- My devices ------------------------------------------------------------------------------------------


async def test_ok__my_devices_opens_nothing_until_return_is_chosen(asking: Rig) -> None:
    rig = asking
    await rent(rig, PIET)
    before = rig.events()
    rig.sim.badge(PIET)
    await rig.until(lambda: screen(rig).get("view") == "my_devices")
    assert choices(rig) == ["return", "rent", "look"]
    assert rig.events() == before  # no slot unlocked, nothing recorded
    assert not any(rig.state(n) == "receiving" for n in rig.controller.slots)
    await rig.controller.choose("return")
    await rig.until(lambda: screen(rig).get("view") == "returning" and screen(rig).get("step") == "door")
    assert choices(rig) == ["rent", "report", "look"]
    assert rig.state(int(screen(rig)["slot"])) == "receiving"


async def test_ok__my_devices_look_ends_the_session_with_nothing_opened(asking: Rig) -> None:
    rig = asking
    await rent(rig)
    rig.sim.badge(ANNA)
    await rig.until(lambda: screen(rig).get("view") == "my_devices")
    assert choices(rig) == ["return", "look"]  # limit one: no "take another"
    before = rig.events()
    await rig.controller.choose("look")
    assert rig.controller.session is None
    assert screen(rig)["view"] == "idle"
    assert rig.events() == before


# --- the LED ---------------------------------------------------------------------------------------------


async def test_ok__the_slot_led_blinks_while_its_door_waits_and_goes_dark_when_it_closes(rig: Rig) -> None:
    slot = await at_door(rig, ANNA, "dispensing")
    assert slot in (1, 3)  # price tags: module A, whose slots have LEDs in config/sim.toml
    seen = []
    for _ in range(4):
        seen.append(rig.sim.locks.led_lit(slot))
        await rig.clock.advance(BLINK_S)
    assert seen == [True, False, True, False]
    await take_out(rig, slot)
    for _ in range(3):
        await rig.clock.advance(BLINK_S)
        assert not rig.sim.locks.led_lit(slot)
    assert slot not in rig.controller.core.blinking


async def test_ok__the_led_goes_dark_at_the_relock(rig: Rig) -> None:
    slot = await at_door(rig, ANNA, "dispensing")
    await rig.clock.advance(rig.config.timeouts.door_open_s + 1)
    await rig.until(lambda: rig.state(slot) in ("ready", "charging"))
    for _ in range(3):
        assert not rig.sim.locks.led_lit(slot)
        await rig.clock.advance(BLINK_S)


async def test_ok__a_slot_without_an_led_gets_no_blink(rig: Rig) -> None:
    slot = await at_door(rig, PIET, "dispensing")
    assert slot in (5, 7)  # module B, on a lock board: no LED
    assert not rig.controller.core.hardware.lock_bank(slot).has_led(slot)
    assert slot not in rig.controller.core.blinking


# --- finished screens go back to idle ---------------------------------------------------------------------


async def test_ok__a_finished_screen_goes_back_to_idle_by_itself(rig: Rig) -> None:
    await rent(rig)
    assert screen(rig)["view"] == "done"
    await rig.clock.advance(FINISHED_SCREEN_S - 1)
    assert screen(rig)["view"] == "done"
    await rig.clock.advance(1)
    assert screen(rig)["view"] == "idle"


async def test_ok__a_newer_screen_is_not_put_away_by_an_older_ones_timer(rig: Rig) -> None:
    await rent(rig)
    await rig.clock.advance(FINISHED_SCREEN_S - 1)
    await at_door(rig, ANNA, "returning")
    await rig.clock.advance(2)
    assert screen(rig)["view"] == "returning"
