"""RS-485 lock boards under every fault the simulator injects, for kerong and 8A boards alike."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cabinetd.hal.base import DoorOpened, LockState, PartStateChanged, UnlockSent
from cabinetd.hal.errors import LockFault
from cabinetd.sim.lockboard import Fault
from testbed.lockrig import BOARD_KINDS, REPOLL_S, LockRig, lock_config, lock_rig, until

pytestmark = pytest.mark.parametrize("kind", BOARD_KINDS)

BOARD = {
    "kerong": ("kerong board 3 on bus lockbus", "lockboard/lockbus/3"),
    "board8a": ("8A board 1 on bus lockbus", "lockboard/lockbus/1"),
}
IDLE_POLL_S = 30.0  # after its first poll a healthy board is left alone, so each fault meets the unlock


@pytest.fixture
async def rig(kind: str) -> AsyncIterator[LockRig]:
    async with lock_rig(lock_config(kind), feedback_poll_s=IDLE_POLL_S) as rig:
        yield rig


async def test_ok__split_reply_is_one_reply(rig: LockRig) -> None:
    rig.board().inject(Fault.SPLIT_REPLY)
    await rig.bank().unlock(1)
    assert await rig.events.next(UnlockSent) == UnlockSent(1)
    counters = rig.counters()
    assert (counters["retries"], counters["short"], counters["garbled"]) == (0, 0, 0)
    assert rig.board().unlocks == [1]


async def test_ok__bad_checksum_is_discarded_counted_and_retried(rig: LockRig) -> None:
    rig.board().inject(Fault.BAD_CHECKSUM)
    await rig.bank().unlock(1)
    assert await rig.events.next(UnlockSent) == UnlockSent(1)
    counters = rig.counters()
    assert (counters["garbled"], counters["retries"]) == (1, 1)
    assert rig.board().unlocks == [1, 1]  # the retry repeats the command
    assert rig.events.of(PartStateChanged) == []


async def test_ok__late_reply_is_discarded_counted_and_retried(rig: LockRig) -> None:
    rig.board().inject(Fault.LATE_REPLY)
    await rig.bank().unlock(1)
    assert await rig.events.next(UnlockSent) == UnlockSent(1)
    assert rig.counters()["silent"] >= 1
    assert rig.counters()["retries"] >= 1
    # The late bytes wait on the line until the next request, which throws them away.
    await rig.bank().unlock(2)
    bus_counters = dict(rig.hardware.parts()[0].counters)
    assert bus_counters["late"] >= 1
    assert rig.events.of(PartStateChanged) == []


async def test_ok__no_reply_three_times_is_still_an_unlock(rig: LockRig) -> None:
    rig.board().inject(Fault.NO_REPLY, times=3)
    await rig.bank().unlock(1)
    assert await rig.events.next(UnlockSent) == UnlockSent(1)
    counters = rig.counters()
    assert (counters["silent"], counters["retries"], counters["faults"]) == (3, 3, 0)
    assert rig.events.of(PartStateChanged) == []


async def test_fail__no_reply_four_times_is_a_lock_fault(rig: LockRig, kind: str) -> None:
    name, part = BOARD[kind]
    rig.board().inject(Fault.NO_REPLY, times=4)
    with pytest.raises(LockFault) as raised:
        await rig.bank().unlock(1)
    assert str(raised.value) == (
        f"slot 1: {name} did not confirm the unlock (unlock of channel 1: no reply within 25 ms)"
    )
    assert await rig.events.next(PartStateChanged) == PartStateChanged(
        part, False, "unlock of channel 1: no reply within 25 ms"
    )
    assert rig.events.of(UnlockSent) == []
    # The next poll, REPOLL_S later, finds it answering again.
    assert await rig.events.next(PartStateChanged, REPOLL_S + 1.0) == PartStateChanged(part, True, "answering")


async def test_fail__board_silent_then_back(rig: LockRig, kind: str) -> None:
    _, part = BOARD[kind]
    rig.board().silent = True
    with pytest.raises(LockFault):
        await rig.bank().unlock(1)
    changed = await rig.events.next(PartStateChanged)
    assert (changed.part, changed.connected) == (part, False)
    (state,) = rig.bank().parts()
    assert (state.part, state.connected, dict(state.counters)["faults"]) == (part, False, 1)
    assert rig.doors().is_open(1) is None, "a silent board's doors cannot be read"
    assert rig.bank().lock_state(1) is LockState.UNKNOWN
    # Polled every REPOLL_S with a single try while silent.
    requests_before = len(rig.bus().requests)
    await until(lambda: len(rig.bus().requests) >= requests_before + 2, REPOLL_S * 4)

    rig.board().silent = False
    assert await rig.events.next(PartStateChanged, REPOLL_S + 1.0) == PartStateChanged(part, True, "answering")
    assert rig.bank().parts()[0].connected
    assert rig.doors().is_open(1) is False
    await rig.bank().unlock(1)
    assert await rig.events.next(UnlockSent) == UnlockSent(1)


async def test_ok__door_moved_while_the_board_was_silent_is_reported_when_it_answers(rig: LockRig) -> None:
    rig.board().silent = True
    with pytest.raises(LockFault):
        await rig.bank().unlock(1)
    rig.door(1).pull(force=True)
    rig.board().silent = False
    await rig.events.next(PartStateChanged, REPOLL_S + 1.0)
    assert await rig.events.next(DoorOpened) == DoorOpened(1)


async def test_fail__port_gone_then_back(rig: LockRig, kind: str) -> None:
    name, part = BOARD[kind]
    rig.bus().unplug()
    with pytest.raises(LockFault) as raised:
        await rig.bank().unlock(1)
    assert str(raised.value).startswith(f"slot 1: {name} did not confirm the unlock (unlock of channel 1: ")
    await until(lambda: len(rig.events.of(PartStateChanged)) == 2)
    gone = {(event.part, event.connected) for event in rig.events.of(PartStateChanged)}
    assert gone == {("bus/lockbus", False), (part, False)}
    assert rig.hardware.parts()[0].connected is False

    rig.bus().plug()
    await until(lambda: len(rig.events.of(PartStateChanged)) == 4, REPOLL_S + 2.0)
    back = [(event.part, event.connected) for event in rig.events.of(PartStateChanged)[2:]]
    assert back == [("bus/lockbus", True), (part, True)]
    bus_counters = dict(rig.hardware.parts()[0].counters)
    assert (bus_counters["opened"], bus_counters["lost"]) == (2, 1)
    await rig.bank().unlock(1)
    assert await rig.events.next(UnlockSent) == UnlockSent(1)
