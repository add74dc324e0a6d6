"""RS-485 lock boards under every fault the simulator injects, over every board variant."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cabinetd.hal.base import DoorOpened, LockState, PartStateChanged, UnlockSent
from cabinetd.hal.errors import LockFault
from cabinetd.sim.lockboard import Fault
from testbed.lockrig import BOARD_KINDS, REPOLL_S, LockRig, lock_config, lock_rig, until

# Every board variant whose doors the board itself reads (a reed-switch door outlives a silent board).
FAULT_KINDS = [kind for kind in BOARD_KINDS if "reed" not in kind]
pytestmark = pytest.mark.parametrize("kind", FAULT_KINDS)

IDLE_POLL_S = 30.0  # after its first poll a healthy board is left alone, so each fault meets the unlock


def names(kind: str) -> tuple[str, str]:
    if kind.startswith("kerong-bit1"):
        return "kerong board 0 on bus lockbus", "lockboard/lockbus/0"
    if kind.startswith("kerong"):
        return "kerong board 3 on bus lockbus", "lockboard/lockbus/3"
    return "8A board 1 on bus lockbus", "lockboard/lockbus/1"


def channel_1(rig: LockRig) -> int | None:
    return rig.config.modules[0].slots[0].lock.channel


@pytest.fixture
async def rig(kind: str) -> AsyncIterator[LockRig]:
    # 50 ms of silence ends a reply here, so that a split reply's 8 ms gap stays one reply on a busy machine.
    async with lock_rig(lock_config(kind, board_reply_ms=50.0), feedback_poll_s=IDLE_POLL_S) as rig:
        yield rig


async def test_ok__split_reply_is_one_reply(rig: LockRig) -> None:
    rig.board().inject(Fault.SPLIT_REPLY)
    await rig.bank().unlock(1)
    assert await rig.events.next(UnlockSent) == UnlockSent(1)
    counters = rig.counters()
    assert (counters["retries"], counters["short"], counters["garbled"]) == (0, 0, 0)
    assert rig.board().unlocks == [channel_1(rig)]


async def test_ok__bad_checksum_is_discarded_counted_and_the_unlock_not_repeated(rig: LockRig) -> None:
    rig.board().inject(Fault.BAD_CHECKSUM)
    await rig.bank().unlock(1)
    assert await rig.events.next(UnlockSent) == UnlockSent(1)
    assert rig.counters()["garbled"] == 1
    # A garbled reply is confirmed by a status poll, never by a second pulse.
    assert rig.board().unlocks == [channel_1(rig)]
    assert rig.events.of(PartStateChanged) == []


async def test_ok__an_unlock_reply_lost_is_confirmed_by_the_next_status_poll(rig: LockRig, kind: str) -> None:
    rig.board().inject(Fault.NO_REPLY, times=3)
    await rig.bank().unlock(1)
    assert await rig.events.next(UnlockSent) == UnlockSent(1)
    counters = rig.counters()
    never_answers_unlocks = kind == "kerong-silent-unlock"
    assert (counters["silent"], counters["faults"], counters["unlock_frames"]) == (3 + never_answers_unlocks, 0, 1)
    assert rig.board().unlocks == [channel_1(rig)]
    assert rig.events.of(PartStateChanged) == []


async def test_fail__a_board_that_answers_neither_unlock_nor_polls_is_a_lock_fault(rig: LockRig, kind: str) -> None:
    name, part = names(kind)
    rig.board().inject(Fault.NO_REPLY, times=5)
    with pytest.raises(LockFault) as raised:
        await rig.bank().unlock(1)
    assert str(raised.value) == f"slot 1: {name} did not confirm the unlock (status: no reply within 100 ms)"
    assert await rig.events.next(PartStateChanged) == PartStateChanged(part, False, "status: no reply within 100 ms")
    assert rig.events.of(UnlockSent) == []
    assert rig.board().unlocks == [channel_1(rig)]
    # A later poll, REPOLL_S apart, finds it answering again.
    assert await rig.events.next(PartStateChanged, REPOLL_S * 3 + 1.0) == PartStateChanged(part, True, "answering")


async def test_fail__board_silent_then_back(rig: LockRig, kind: str) -> None:
    _, part = names(kind)
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
    await until(lambda: len(rig.bus().requests) >= requests_before + 2, 2.0)  # each: 100 ms window + REPOLL_S

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
    name, part = names(kind)
    rig.bus().unplug()
    with pytest.raises(LockFault) as raised:
        await rig.bank().unlock(1)
    unlock = f"unlock of channel {channel_1(rig)}"
    assert str(raised.value).startswith(f"slot 1: {name} did not confirm the unlock ({unlock}: ")
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


async def test_ok__every_frame_sent_is_counted_on_the_board_and_the_bus(rig: LockRig) -> None:
    await rig.bank().unlock(1)
    await rig.events.next(UnlockSent)
    # A board that does not answer its unlock has a status read after the pulse still to come: the
    # counts agree once the frames the board counted have reached the line.
    await until(lambda: rig.counters()["frames"] == len(rig.bus().requests))
    await until(lambda: dict(rig.hardware.parts()[0].counters)["frames"] == rig.counters()["frames"])
    assert rig.counters()["unlock_frames"] == sum(1 for frame in rig.bus().requests if frame == rig.bus().requests[1])
