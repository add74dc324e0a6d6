"""A technician's PIN lockout is in the ledger: a restart (or a pulled plug) gives no fresh tries."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest

from cabinetd.clock import ManualClock
from cabinetd.ledger.queries import PinAttempt
from cabinetd.lockouts import PinLockouts, wait_after
from tests.flows.rig import Rig

TOM, GOOD = "D4E5F6", "2468"


def screen(rig: Rig) -> dict[str, object]:
    return dict(rig.controller.screen.state)


async def badge_tom(rig: Rig) -> None:
    """Tom taps until the screen asks for his PIN: just after a restart the reader may still be
    opening its port, and a frame sent before that is lost, as on a real reader."""
    for _ in range(10):
        rig.sim.badge(TOM)
        with contextlib.suppress(AssertionError):
            await rig.until(lambda: screen(rig).get("view") == "pin", within=1.0)
            return
    raise AssertionError(f"Tom's badge was never read; screen {screen(rig)}")


async def wrong_pins(rig: Rig, count: int) -> None:
    for _ in range(count):
        assert not await rig.controller.submit_pin("0000")


async def test_fail__a_restart_does_not_lift_a_pin_lockout(rig: Rig) -> None:
    await badge_tom(rig)
    await wrong_pins(rig, 3)
    assert screen(rig) == {"view": "pin", "name": "Tom", "wrong": True, "wait_s": 30}
    await rig.restart()
    await badge_tom(rig)
    assert screen(rig) == {"view": "pin", "name": "Tom", "wait_s": 30}  # shown before any PIN is typed
    assert not await rig.controller.submit_pin(GOOD)
    assert screen(rig) == {"view": "pin", "name": "Tom", "wait_s": 30}
    await rig.clock.advance(30)
    assert await rig.controller.submit_pin(GOOD)
    assert screen(rig) == {"view": "maintenance", "name": "Tom"}


async def test_fail__wrong_pins_after_a_restart_go_on_counting(rig: Rig) -> None:
    await badge_tom(rig)
    await wrong_pins(rig, 3)
    await rig.restart()
    await badge_tom(rig)
    await rig.clock.advance(30)
    await wrong_pins(rig, 1)
    assert screen(rig) == {"view": "pin", "name": "Tom", "wrong": True, "wait_s": 60}
    refusals = [e.payload["args"]["failures"] for e in rig.ledger.tail(100) if e.payload.get("action") == "pin_refused"]
    assert refusals == [1, 2, 3, 4]


async def test_ok__an_accepted_pin_starts_the_count_again_across_a_restart(rig: Rig) -> None:
    await badge_tom(rig)
    await wrong_pins(rig, 2)
    assert await rig.controller.submit_pin(GOOD)
    await rig.restart()
    await badge_tom(rig)
    await wrong_pins(rig, 2)
    assert screen(rig) == {"view": "pin", "name": "Tom", "wrong": True, "wait_s": 0}
    actions = [e.payload["action"] for e in rig.ledger.tail(100) if e.type == "technician_action"]
    assert actions == ["pin_refused", "pin_refused", "pin_accepted", "pin_refused", "pin_refused"]


AT = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("clock_moved_by_s", "left_s"),
    [
        (10, 50.0),  # ten seconds after the fourth wrong PIN: fifty of its sixty left
        (120, 0.0),  # long past
        (-86_400, 60.0),  # a board whose clock came back a day behind: the wait, never a day more
    ],
)
def test_ok__the_wait_left_after_a_restart_is_never_longer_than_the_wait(clock_moved_by_s: int, left_s: float) -> None:
    attempt = PinAttempt("tom", accepted=False, failures=4, occurred_at=AT.isoformat())
    lockouts = PinLockouts(ManualClock(AT + timedelta(seconds=clock_moved_by_s)), lambda who: attempt)
    assert lockouts.wait_s("tom") == left_s
    assert wait_after(4) == 60.0


@pytest.mark.parametrize(("failures", "wait"), [(1, 0.0), (2, 0.0), (3, 30.0), (4, 60.0), (9, 1920.0), (10, 3600.0)])
def test_ok__three_tries_are_free_then_the_wait_doubles_to_an_hour(failures: int, wait: float) -> None:
    assert wait_after(failures) == wait
