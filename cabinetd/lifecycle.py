"""The life cycle every long-lived part of the daemon follows: prepare, run, cleanup.

`prepare()` opens what the part needs (ports, files, pins) and returns; `run()` is the part's own
background work and only returns when the part has nothing more to do (most run until cancelled);
`cleanup()` releases everything and must be safe to call after a failed or partial `prepare()`.

`tick()` is the part's heartbeat for the systemd watchdog: a part whose loop stalls stops ticking and
the daemon stops telling systemd it is alive.
"""

from __future__ import annotations

import asyncio
import time


class SetupError(Exception):
    """prepare() cannot start this part on this machine, and the message says why in full (the config
    key, the driver, what is missing): the daemon logs it as one line, without a traceback, and exits."""


class Subsystem:
    name: str = "subsystem"
    # How long this part may go without ticking before the watchdog counts it as stalled; None means
    # it has no loop of its own to watch (it only answers calls).
    stall_after_s: float | None = None

    def __init__(self) -> None:
        self.last_tick = time.monotonic()

    def tick(self) -> None:
        self.last_tick = time.monotonic()

    def stalled(self, now: float) -> bool:
        return self.stall_after_s is not None and now - self.last_tick > self.stall_after_s

    async def prepare(self) -> None:
        """Open what this part needs."""

    async def run(self) -> None:
        """Background work; the default has none and waits to be cancelled."""
        await asyncio.Event().wait()

    async def cleanup(self) -> None:
        """Release what prepare() opened; safe after a partial prepare()."""
