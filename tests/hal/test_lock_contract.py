"""The LockBank contract, run over every way a module's locks can be wired (gpio, kerong, 8A)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cabinetd.hal.base import DoorClosed, DoorOpened, LockState, UnlockSent
from cabinetd.hal.errors import LockFault
from testbed.lockrig import DOOR_OPEN_S, LOCK_KINDS, RELEASE_S, LockRig, lock_config, lock_rig

pytestmark = pytest.mark.parametrize("kind", list(LOCK_KINDS))

BANK_NAMES = {
    "gpio": "gpio locks of module A",
    "kerong": "kerong board 3 on bus lockbus",
    "kerong-bit1-reed": "kerong board 0 on bus lockbus",
    "board8a": "8A board 1 on bus lockbus",
}


def bank_name(kind: str) -> str:
    return next(name for prefix, name in sorted(BANK_NAMES.items(), reverse=True) if kind.startswith(prefix))


@pytest.fixture
async def rig(kind: str) -> AsyncIterator[LockRig]:
    async with lock_rig(lock_config(kind)) as rig:
        yield rig


async def test_ok__unlock_opens_the_right_slot_and_reports_the_door(rig: LockRig) -> None:
    await rig.bank().unlock(1)
    assert await rig.events.next(UnlockSent) == UnlockSent(1)
    assert not rig.door(2).pull(), "the neighbouring slot's lock must hold"
    assert rig.door(1).pull()
    assert await rig.events.next(DoorOpened) == DoorOpened(1)
    assert rig.doors().is_open(1) is True
    rig.door(1).push()
    assert await rig.events.next(DoorClosed) == DoorClosed(1)
    assert rig.doors().is_open(1) is False
    await asyncio.sleep(DOOR_OPEN_S + 0.1)
    assert rig.events.events == [UnlockSent(1), DoorOpened(1), DoorClosed(1)]


async def test_fail__a_door_not_pulled_after_the_unlock_is_never_reported_open(rig: LockRig) -> None:
    # How long anyone waits for the door is the flow's deadline (tests/flows); the driver's part is to
    # report the unlock and nothing that reads as an open door.
    await rig.bank().unlock(2)
    assert await rig.events.next(UnlockSent) == UnlockSent(2)
    await asyncio.sleep(DOOR_OPEN_S + 0.1)
    assert rig.events.events == [UnlockSent(2)], "an unlock sent is not a door opened"
    assert rig.doors(2).is_open(2) is False


async def test_fail__stuck_lock_takes_the_unlock_but_the_door_stays_shut(rig: LockRig) -> None:
    rig.door(1).lock_stuck = True
    await rig.bank().unlock(1)
    assert await rig.events.next(UnlockSent) == UnlockSent(1)
    assert not rig.door(1).pull()
    await asyncio.sleep(DOOR_OPEN_S + 0.1)
    assert rig.events.of(DoorOpened) == []
    assert rig.doors().is_open(1) is False


async def test_ok__unlock_fires_even_when_the_door_already_reads_open(rig: LockRig) -> None:
    assert rig.door(1).pull(force=True)
    assert await rig.events.next(DoorOpened) == DoorOpened(1)
    await rig.bank().unlock(1)
    assert await rig.events.next(UnlockSent) == UnlockSent(1)
    # A board's pulse may be over by the time a board that never answers unlocks has been polled:
    # what it was told counts there; a GPIO lock's output is still active.
    fired = rig.board().unlocks if 1 in rig.sim.boards else [1] * rig.sim.lock_released(1)
    assert fired, "the pulse must go out although the door reads open"
    await asyncio.sleep(DOOR_OPEN_S + 0.1)
    assert rig.events.events == [DoorOpened(1), UnlockSent(1)], "the unlock adds no door fact of its own"
    assert rig.doors().is_open(1) is True


async def test_ok__lock_all_leaves_every_lock_holding(rig: LockRig) -> None:
    await rig.bank().unlock(1)
    await rig.events.next(UnlockSent)
    await rig.bank().lock_all()
    await asyncio.sleep(RELEASE_S + 0.05)  # a board ends its own pulse; a GPIO output drops at once
    assert not rig.sim.lock_released(1)
    assert not rig.door(1).pull()
    assert [rig.bank().lock_state(slot) for slot in (1, 2)] == [LockState.LOCKED, LockState.LOCKED]


async def test_ok__lock_state_at_rest_is_locked(rig: LockRig) -> None:
    assert [rig.bank().lock_state(slot) for slot in (1, 2)] == [LockState.LOCKED, LockState.LOCKED]
    assert rig.bank().slots == (1, 2)


async def test_fail__unlock_of_a_slot_the_bank_does_not_have(rig: LockRig, kind: str) -> None:
    with pytest.raises(LockFault) as raised:
        await rig.bank().unlock(99)
    assert str(raised.value) == f"slot 99: not a slot of {bank_name(kind)}"
    assert rig.events.events == []
