"""Lock boards, per variant: frames sent per unlock, time to a confirmed unlock, idle bus load.

    python -m bench lockboards [--json] [--unlocks N] [--idle-s S] [--kind KIND ...]

Every board variant of the contract suites (testbed/lockrig.py: kerong answering or not answering its
unlocks, polled per board or bus-wide, 8A with either feedback polarity, 1 to 6 status bytes, a 500 ms
unlock reply, a USB adapter holding bytes 16 ms) runs the production driver against its simulated
board on a pty, with the production feedback poll (every 0.25 s) and the boards' pulse of 200 ms.

- `idle_frames_per_s`: frames on the bus per second while nothing happens (one board per bus);
- `unlock_to_confirmed_ms` (median, max): from `unlock()` to `UnlockSent`, the confirmation the
  flows wait for: the board's reply, or the status poll after an unanswered unlock. What comes
  before it on a badge (reader, staff lookup, policy, the durable `dispense_started`) is the same
  for every variant and is `python -m bench badge`'s; this is the part the board decides;
- `frames_per_unlock`: frames on the bus per unlock whose door is pulled at once (the unlock and,
  for a board that does not answer it, the status poll that confirms it and the one after its
  pulse), and `unlock_frames_per_unlock` of them unlocks;
- `unlock_frames_door_left_shut`: unlock frames when nobody pulls the door (2 for a board that
  never answers: the one re-send after a pulse that left the lock shut);
- `floor_ms`: the same pty's bare status exchange (write the poll, read the reply) through the bus,
  the least any confirmation can take.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from cabinetd.hal.base import UnlockSent
from cabinetd.hal.lockboard import FEEDBACK_POLL_S, LockBoard
from testbed.lockrig import BOARD_KINDS, PULSE_MS, LockRig, lock_config, lock_rig

PULSE_S = PULSE_MS / 1000
KINDS = [kind for kind in BOARD_KINDS if "reed" not in kind]
QUIET_POLL_S = 3600.0


async def _floor_ms(rig: LockRig, count: int) -> float:
    bank = rig.bank()
    assert isinstance(bank, LockBoard)
    took = []
    for _ in range(count):
        await asyncio.sleep(0.02)  # past the turnaround gap, as an unlock meets an idle line
        started = time.perf_counter()
        await bank.bus.transact(bank.status_request(), bank.reply_end)
        took.append((time.perf_counter() - started) * 1000)
    return statistics.median(took)


async def _unlock_once(rig: LockRig, *, pull: bool) -> tuple[float, int, int]:
    """(ms to UnlockSent, frames sent, unlock frames sent) for one unlock of slot 1."""
    before = dict(rig.counters())
    started = time.perf_counter()
    await rig.bank().unlock(1)
    await rig.events.next(UnlockSent)
    took = (time.perf_counter() - started) * 1000
    if pull:
        rig.door(1).pull()
    await asyncio.sleep(2 * PULSE_S + 0.1)  # past the pulse and a re-send's pulse
    rig.door(1).push()
    await asyncio.sleep(FEEDBACK_POLL_S + 0.05)
    after = rig.counters()
    return took, after["frames"] - before["frames"], after["unlock_frames"] - before["unlock_frames"]


async def _measure_kind(kind: str, unlocks: int, idle_s: float) -> dict[str, Any]:
    # Bus load and timing with the production feedback poll (an unlock may wait behind a poll) ...
    async with lock_rig(lock_config(kind), feedback_poll_s=FEEDBACK_POLL_S) as rig:
        start = len(rig.bus().requests)
        await asyncio.sleep(idle_s)
        idle = (len(rig.bus().requests) - start) / idle_s
        took = [(await _unlock_once(rig, pull=True))[0] for _ in range(unlocks)]
        floor = await _floor_ms(rig, 20)
    # ... and the frames an unlock sends on a bus with no poll of its own in between, so each is counted.
    async with lock_rig(lock_config(kind), feedback_poll_s=QUIET_POLL_S) as rig:
        runs = [await _unlock_once(rig, pull=True) for _ in range(unlocks)]
        _, _, left_shut = await _unlock_once(rig, pull=False)
    return {
        "idle_frames_per_s": round(idle, 2),
        "unlock_to_confirmed_ms": {"median": round(statistics.median(took), 2), "max": round(max(took), 2)},
        "frames_per_unlock": statistics.mean(r[1] for r in runs),
        "unlock_frames_per_unlock": statistics.mean(r[2] for r in runs),
        "unlock_frames_door_left_shut": left_shut,
        "floor_ms": round(floor, 2),
    }


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench lockboards")
    parser.add_argument("--unlocks", type=int, default=5, help="unlocks per variant (default 5)")
    parser.add_argument("--idle-s", type=float, default=2.0, help="idle window per variant (default 2 s)")
    parser.add_argument("--kind", action="append", choices=KINDS, help="only these variants (default: all)")
    options = parser.parse_args(argv)

    async def every() -> dict[str, Any]:
        return {kind: await _measure_kind(kind, options.unlocks, options.idle_s) for kind in options.kind or KINDS}

    return asyncio.run(every())
