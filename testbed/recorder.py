"""An event sink that tests can await, and a clock that tests move by hand."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from cabinetd.clock import Clock
from cabinetd.hal.base import HardwareEvent

E = TypeVar("E")


class EventRecorder:
    """The `EventSink` a driver posts to; keeps every event and lets a test wait for the next one."""

    def __init__(self) -> None:
        self.events: list[HardwareEvent] = []
        self._queue: asyncio.Queue[HardwareEvent] = asyncio.Queue()

    def __call__(self, event: HardwareEvent) -> None:
        self.events.append(event)
        self._queue.put_nowait(event)

    async def next(self, kind: type[E], timeout_s: float = 2.0) -> E:
        """The next event of `kind`, skipping events of other kinds; fails after `timeout_s`."""
        async with asyncio.timeout(timeout_s):
            while True:
                event = await self._queue.get()
                if isinstance(event, kind):
                    return event

    def drain(self) -> list[HardwareEvent]:
        """Events posted but not yet awaited, without waiting."""
        found = []
        while not self._queue.empty():
            found.append(self._queue.get_nowait())
        return found

    def of(self, kind: type[E]) -> list[E]:
        return [event for event in self.events if isinstance(event, kind)]


class HandClock(Clock):
    """The cabinet's Clock, moved by hand and at once: `advance()` is synchronous (no sleepers to wake,
    unlike ManualClock), so a plain test and a driver's thread can both read it."""

    def __init__(self, start: float = 1000.0, *, wall: datetime | None = None) -> None:
        self._start = self._mono = start
        self._wall = wall or datetime(2026, 11, 2, 8, 0, tzinfo=UTC)

    def monotonic(self) -> float:
        return self._mono

    def now(self) -> datetime:
        return self._wall + timedelta(seconds=self._mono - self._start)

    def advance(self, seconds: float) -> None:
        self._mono += seconds
