"""Hypothesis over reply delays within the configured windows: one unlock frame, unless the board
reported the lock still shut after its pulse, and then exactly one more."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cabinetd.config import CabinetConfig
from cabinetd.hal import board8a, kerong
from cabinetd.hal.base import UnlockSent
from testbed.lockrig import PULSE_MS, LockRig, lock_config, lock_rig

PULSE_S = PULSE_MS / 1000
UNLOCK_REPLY_MS = 400.0  # the 8A unlock window here, shorter than the 1.5 s default to keep examples quick
FIRST_BYTE_S = 0.1  # timeouts.board_first_byte_ms


def config(kind: str, unlock_delay_s: float, adapter_delay_s: float) -> CabinetConfig:
    data: dict[str, Any] = lock_config(kind).model_dump()
    if kind.startswith("board8a"):
        data["modules"][0]["lock"]["unlock_reply_ms"] = UNLOCK_REPLY_MS
    variant = data["sim"]["modules"].setdefault("A", {})
    variant["unlock_reply_ms"] = unlock_delay_s * 1000
    data["sim"]["buses"]["lockbus"] = {"adapter_delay_ms": adapter_delay_s * 1000}
    return CabinetConfig.model_validate(data)


def is_unlock(frame: bytes) -> bool:
    return frame[0] == board8a.UNLOCK_HEAD or (frame[0] == kerong.STX and frame[2] == kerong.Command.UNLOCK)


def channel_1_reads_shut(reply: bytes) -> bool:
    # The kerong variants here read a lock bit of 0 as "unlocked" (the default polarity).
    return bool(kerong.decode_status(reply).locks & 1)


def check_timeline(rig: LockRig) -> None:
    timeline = rig.bus().timeline
    unlocks = [i for i, (_, kind, frame) in enumerate(timeline) if kind == "request" and is_unlock(frame)]
    assert 1 <= len(unlocks) <= 2, f"{len(unlocks)} unlock frames"
    assert rig.counters()["unlock_frames"] == len(unlocks)
    if len(unlocks) == 1:
        return
    first_at = timeline[unlocks[0]][0]
    asked_at = [at for at, kind, _ in timeline[: unlocks[1]] if kind == "request"][-1]
    replies = [frame for _, kind, frame in timeline[: unlocks[1]] if kind == "reply"]
    assert asked_at >= first_at + PULSE_S, "a second unlock only after the lock was read once the pulse was over"
    assert channel_1_reads_shut(replies[-1]), "a second unlock only when the board said the lock is still shut"


async def scenario(kind: str, unlock_delay_s: float, adapter_delay_s: float, pull_after_s: float | None) -> None:
    async with lock_rig(config(kind, unlock_delay_s, adapter_delay_s), feedback_poll_s=0.05) as rig:
        rig.bus().timeline.clear()
        await rig.bank().unlock(1)
        assert await rig.events.next(UnlockSent) == UnlockSent(1)
        if pull_after_s is not None:
            await asyncio.sleep(pull_after_s)
            rig.door(1).pull()
        await asyncio.sleep(3 * PULSE_S + 0.1)
        check_timeline(rig)


@pytest.mark.slow  # 25 rigs of real ptys and threads, each watched for three pulses
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["kerong", "kerong-silent-unlock", "board8a"]),
    unlock_fraction=st.floats(0, 0.8),
    adapter_delay_s=st.floats(0, 0.016),
    pull_after_s=st.one_of(st.none(), st.floats(0, 2 * PULSE_S)),
)
def test_ok__never_a_second_unlock_frame_unless_the_lock_read_shut_after_the_pulse(
    kind: str, unlock_fraction: float, adapter_delay_s: float, pull_after_s: float | None
) -> None:
    window_s = UNLOCK_REPLY_MS / 1000 if kind.startswith("board8a") else FIRST_BYTE_S
    # The whole reply, the adapter's hold included, stays inside the unlock's window.
    unlock_delay_s = max(0.0, unlock_fraction * window_s - adapter_delay_s)
    asyncio.run(scenario(kind, unlock_delay_s, adapter_delay_s, pull_after_s))
