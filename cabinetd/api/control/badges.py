"""Badge reads as `cabinetctl badge watch` sees them: the last few, masked, and a way to wait for more.

The cabinet hands every hardware fact to `see()` on the event loop, beside the controller; only badge
reads are kept. A badge id is as good as the badge (125 kHz cards clone in seconds), so nothing here
keeps or gives out more than its last four characters.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from cabinetd.hal.base import BadgeRead, HardwareEvent

log = logging.getLogger(__name__)

KEPT: Final = 50
SHOWN: Final = 4

# badge -> (staff id, name, role) when the badge is on the roster
RosterLookup = Callable[[str], tuple[str, str, str] | None]


def mask(badge: str) -> str:
    """`**********C3D4`: stars for all but the last four characters (all stars for a short id)."""
    if len(badge) <= SHOWN:
        return "*" * len(badge)
    return "*" * (len(badge) - SHOWN) + badge[-SHOWN:]


@dataclass(frozen=True)
class SeenBadge:
    seq: int
    at: datetime
    masked: str
    reader: str
    staff: str | None
    name: str | None
    role: str | None


class BadgeWatch:
    def __init__(self) -> None:
        self.last = 0
        self.reads: deque[SeenBadge] = deque(maxlen=KEPT)
        self._new = asyncio.Event()
        self.watching = 0  # requests waiting for the next read
        # Set by the control server once the ledger is open: badge -> (staff id, name, role).
        self.roster: RosterLookup | None = None

    def see(self, fact: HardwareEvent) -> None:
        if not isinstance(fact, BadgeRead):
            return
        try:
            staff = self.roster(fact.badge) if self.roster is not None else None
        except Exception:
            # Watching must never cost the cabinet a badge: the controller gets the fact regardless.
            log.exception("badge watch: cannot look the badge up on the roster")
            staff = None
        self.last += 1
        who: tuple[str | None, str | None, str | None] = staff or (None, None, None)
        self.reads.append(SeenBadge(self.last, datetime.now(UTC), mask(fact.badge), fact.reader, *who))
        self._new.set()
        self._new = asyncio.Event()

    def after(self, seq: int) -> list[SeenBadge]:
        return [read for read in self.reads if read.seq > seq]

    async def wait_after(self, seq: int, timeout_s: float) -> list[SeenBadge]:
        """Reads after `seq`, waiting up to `timeout_s` for the first one."""
        found = self.after(seq)
        if found or timeout_s <= 0:
            return found
        new = self._new
        self.watching += 1
        try:
            async with asyncio.timeout(timeout_s):
                await new.wait()
        except TimeoutError:
            pass
        finally:
            self.watching -= 1
        return self.after(seq)
