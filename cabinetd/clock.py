"""Time as the cabinet's flows see it: one object, so that tests can move it by hand.

Order in the ledger is (epoch, seq); wall time is data. Timers (door timeouts, rental reminders)
sleep on the monotonic side of a Clock.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta


class Clock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock(Clock):
    """A clock that moves only when told to; sleepers wake in deadline order as it passes them."""

    def __init__(self, start: datetime | None = None) -> None:
        self._mono = 1000.0
        self._wall = start or datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = 0

    def monotonic(self) -> float:
        return self._mono

    def now(self) -> datetime:
        return self._wall + timedelta(seconds=self._mono - 1000.0)

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._order += 1
        self._sleepers.append((self._mono + max(seconds, 0.0), self._order, future))
        self._sleepers.sort(key=lambda item: (item[0], item[1]))
        await future

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper whose deadline passes and letting it run."""
        target = self._mono + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = self._sleepers.pop(0)
            self._mono = max(self._mono, deadline)
            if not future.done():
                future.set_result(None)
            await settle()
        self._mono = target
        await settle()


async def settle(rounds: int = 50) -> None:
    """Let tasks woken by a clock step, and the tasks they start, run before time moves again."""
    for _ in range(rounds):
        await asyncio.sleep(0)
