"""One unlock is one frame on the bus: the exact bytes each board variant gets, and the one re-send."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cabinetd.config import CabinetConfig
from cabinetd.hal.base import DoorOpened, PartStateChanged, UnlockSent
from testbed.lockrig import PULSE_MS, LockRig, lock_config, lock_rig, until

IDLE_POLL_S = 30.0  # no feedback poll of its own between the first one and the end of a test
PULSE_S = PULSE_MS / 1000
UNLOCK = {"kerong": "02 30 31 03 66", "board8a": "8A 01 01 11 9B"}
STATUS = {"kerong": "02 30 30 03 65", "board8a": "80 01 00 33 B2"}


def frames(*hexes: str) -> list[bytes]:
    return [bytes.fromhex(text) for text in hexes]


async def unlock_and_pull(rig: LockRig) -> list[bytes]:
    """Unlock slot 1, pull its door as soon as the board has it (as a person pulls when the latch
    clicks, before any confirmation); the frames the unlock sent."""
    before = len(rig.bus().requests)
    told = len(rig.board().unlocks)
    unlocking = asyncio.create_task(rig.bank().unlock(1))
    await until(lambda: len(rig.board().unlocks) > told)
    assert rig.door(1).pull(), "the latch must let go within the board's pulse"
    await unlocking
    assert await rig.events.next(UnlockSent) == UnlockSent(1)
    await asyncio.sleep(PULSE_S + 0.1)
    return rig.bus().requests[before:]


@pytest.mark.parametrize(
    ("kind", "poll", "sent"),
    [
        ("kerong", STATUS["kerong"], [UNLOCK["kerong"]]),
        # confirmed by the status poll after it, which already reads the door open: nothing to re-send
        ("kerong-silent-unlock", STATUS["kerong"], [UNLOCK["kerong"], STATUS["kerong"]]),
        ("kerong-bus-poll", "02 F0 32 03 27", [UNLOCK["kerong"]]),
        ("kerong-bus-poll-00", "02 00 32 03 37", [UNLOCK["kerong"]]),
        ("kerong-usb-adapter", STATUS["kerong"], [UNLOCK["kerong"]]),
        ("board8a", STATUS["board8a"], [UNLOCK["board8a"]]),
        ("board8a-door-opening", STATUS["board8a"], [UNLOCK["board8a"]]),
        ("board8a-1-byte", STATUS["board8a"], [UNLOCK["board8a"]]),
        ("board8a-6-bytes", STATUS["board8a"], [UNLOCK["board8a"]]),
        ("board8a-slow-unlock-reply", STATUS["board8a"], [UNLOCK["board8a"]]),
        ("board8a-usb-adapter", STATUS["board8a"], [UNLOCK["board8a"]]),
    ],
)
async def test_ok__one_unlock_is_one_unlock_frame(kind: str, poll: str, sent: list[str]) -> None:
    async with lock_rig(lock_config(kind), feedback_poll_s=IDLE_POLL_S) as rig:
        assert rig.bus().requests[0] == bytes.fromhex(poll), "the board's status poll"
        assert await unlock_and_pull(rig) == frames(*sent)
        assert rig.board().unlocks == [1]
        counters = rig.counters()
        assert (counters["unlock_frames"], counters["resends"]) == (1, 0)


async def test_ok__a_board_that_never_answers_unlocks_is_healthy() -> None:
    async with lock_rig(lock_config("kerong-silent-unlock"), feedback_poll_s=IDLE_POLL_S) as rig:
        for _ in range(3):
            await unlock_and_pull(rig)
            rig.door(1).push()
        counters = rig.counters()
        assert (counters["unanswered"], counters["faults"], counters["unlock_frames"]) == (3, 0, 3)
        assert rig.bank().parts()[0].connected
        assert rig.events.of(PartStateChanged) == []


async def test_ok__a_lock_still_shut_after_the_pulse_gets_one_more_frame_and_no_third() -> None:
    async with lock_rig(lock_config("kerong-silent-unlock"), feedback_poll_s=IDLE_POLL_S) as rig:
        before = len(rig.bus().requests)
        await rig.bank().unlock(1)
        await asyncio.sleep(3 * PULSE_S + 0.2)  # nobody pulls: the lock reads shut after each pulse
        sent = rig.bus().requests[before:]
        unlock, status = UNLOCK["kerong"], STATUS["kerong"]
        assert sent == frames(unlock, status, status, unlock)
        assert rig.board().unlocks == [1, 1]
        assert (rig.counters()["unlock_frames"], rig.counters()["resends"]) == (2, 1)
        assert rig.events.of(UnlockSent) == [UnlockSent(1)], "the second frame is the same unlock"


async def test_ok__a_door_opened_during_the_pulse_is_not_unlocked_again_although_shut_again() -> None:
    async with lock_rig(lock_config("kerong-silent-unlock")) as rig:  # polled every 20 ms: the door is seen
        unlocking = asyncio.create_task(rig.bank().unlock(1))
        await until(lambda: bool(rig.board().unlocks))
        assert rig.door(1).pull()
        await unlocking
        assert await rig.events.next(DoorOpened) == DoorOpened(1)
        rig.door(1).push()
        await asyncio.sleep(PULSE_S + 0.2)
        assert rig.board().unlocks == [1]
        assert rig.counters()["resends"] == 0


@pytest.mark.parametrize("kind", ["kerong", "board8a", "board8a-slow-unlock-reply"])
async def test_ok__a_board_that_answers_its_unlock_is_never_sent_it_again(kind: str) -> None:
    async with lock_rig(lock_config(kind), feedback_poll_s=IDLE_POLL_S) as rig:
        before = len(rig.bus().requests)
        await rig.bank().unlock(1)
        await asyncio.sleep(2 * PULSE_S + 0.1)  # nobody pulls; the reply confirmed the unlock
        assert rig.bus().requests[before:] == frames(UNLOCK[kind.split("-")[0]])
        assert rig.board().unlocks == [1]


def two_kerong_boards_on_one_bus(poll: str) -> CabinetConfig:
    def module(name: str, board: int, first_slot: int) -> dict[str, Any]:
        slots = [
            {"number": first_slot + i, "lock": {"channel": i + 1}, "door": {"board_feedback": True}}
            for i in range(2)
        ]
        for slot in slots:
            slot["usb_port"] = f"1-1.{slot['number']}"
        lock = {"driver": "kerong", "bus": "lockbus", "board": board, "poll": poll, "pulse_ms": PULSE_MS}
        return {"name": name, "slot_type": "pda", "lock": lock, "slots": slots}

    base = lock_config("kerong").model_dump()
    base["modules"] = [module("A", 3, 1), module("B", 5, 3)]
    return CabinetConfig.model_validate(base)


@pytest.mark.parametrize("poll", ["board", "bus"])
async def test_ok__each_board_reads_its_own_doors_from_its_own_reply(poll: str) -> None:
    async with lock_rig(two_kerong_boards_on_one_bus(poll)) as rig:
        assert rig.door(3).pull(force=True)
        assert await rig.events.next(DoorOpened) == DoorOpened(3)
        assert rig.events.of(DoorOpened) == [DoorOpened(3)]
        assert (rig.hardware.doors(1).is_open(1), rig.hardware.doors(3).is_open(3)) == (False, True)
        if poll == "bus":
            assert bytes.fromhex("02 F0 32 03 27") in rig.bus().requests
        assert rig.events.of(PartStateChanged) == []


async def test_ok__a_second_unlock_within_the_pulse_replaces_the_first_ones_resend() -> None:
    async with lock_rig(lock_config("kerong-silent-unlock"), feedback_poll_s=IDLE_POLL_S) as rig:
        await rig.bank().unlock(1)
        await rig.bank().unlock(1)  # a technician's lock test right after a rent's unlock
        await asyncio.sleep(3 * PULSE_S + 0.2)
        assert rig.board().unlocks == [1, 1, 1], "two unlocks asked for, one re-send after the later one"
        assert rig.counters()["resends"] == 1
