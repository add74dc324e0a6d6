"""The DoorSensors contract, run over every way a door can be read (reed switch, board feedback)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cabinetd.hal.base import DoorClosed, DoorOpened
from testbed.lockrig import LOCK_KINDS, SETTLE_S, LockRig, lock_config, lock_rig, until

pytestmark = pytest.mark.parametrize("kind", list(LOCK_KINDS))


@pytest.fixture
async def rig(kind: str) -> AsyncIterator[LockRig]:
    async with lock_rig(lock_config(kind)) as rig:
        yield rig


async def test_ok__doors_at_rest_read_shut(rig: LockRig) -> None:
    assert [rig.doors(slot).is_open(slot) for slot in (1, 2)] == [False, False]
    assert set(rig.doors(1).slots) | set(rig.doors(2).slots) == {1, 2}


async def test_ok__a_forced_door_is_reported_open_then_shut(rig: LockRig) -> None:
    assert rig.door(2).pull(force=True)
    assert await rig.events.next(DoorOpened) == DoorOpened(2)
    assert rig.doors(2).is_open(2) is True
    assert rig.doors(1).is_open(1) is False
    rig.door(2).push()
    assert await rig.events.next(DoorClosed) == DoorClosed(2)
    assert rig.doors(2).is_open(2) is False
    assert rig.events.events == [DoorOpened(2), DoorClosed(2)]


async def test_ok__each_door_is_reported_on_its_own(rig: LockRig) -> None:
    rig.door(1).pull(force=True)
    rig.door(2).pull(force=True)
    await until(lambda: len(rig.events.of(DoorOpened)) == 2)  # a bus-wide poll takes longer than 0.1 s
    rig.door(1).push()
    assert await rig.events.next(DoorClosed) == DoorClosed(1)
    await asyncio.sleep(0.1)  # and nothing more
    assert rig.events.events == [DoorOpened(1), DoorOpened(2), DoorClosed(1)]
    assert [rig.doors(slot).is_open(slot) for slot in (1, 2)] == [False, True]


async def test_fail__a_slot_without_a_door_here_is_refused(rig: LockRig) -> None:
    with pytest.raises(KeyError):
        rig.doors(1).is_open(99)
    await asyncio.sleep(SETTLE_S)
