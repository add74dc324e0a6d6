"""PIN lockouts of technicians at the kiosk, kept in the ledger so that a restart does not reset them.

A badge clones in seconds, so the PIN is what stands between a copied technician badge and every
door (DESIGN.md §10). Three wrong PINs in a row are free; each one after that makes the next try wait,
30 s doubling to an hour. Every attempt is a `technician_action` event (`pin_refused` with the count
so far, `pin_accepted`), and at start each technician's last attempt rebuilds where they stand: pulling
the plug does not buy an attacker a fresh set of tries.

The wait left after a restart is reckoned on the wall clock (the monotonic clock starts again with the
board), and never longer than the wait itself: a board without a real-time clock may start with its
clock far behind, which must not lock a technician out for days (docs/kiosk.md, "PIN lockouts").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cabinetd.clock import Clock
from cabinetd.ledger.queries import PinAttempt
from cabinetproto.chain import parse_utc

TRIES_BEFORE_BACKOFF: Final = 3
FIRST_WAIT_S: Final = 30.0
LONGEST_WAIT_S: Final = 3600.0


def wait_after(failures: int) -> float:
    """How long a technician waits after `failures` wrong PINs in a row."""
    if failures < TRIES_BEFORE_BACKOFF:
        return 0.0
    doublings: int = min(failures - TRIES_BEFORE_BACKOFF, 16)
    return min(FIRST_WAIT_S * 2.0**doublings, LONGEST_WAIT_S)


@dataclass
class Standing:
    failures: int
    until: float  # on the controller's monotonic clock


class PinLockouts:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._standing: dict[str, Standing] = {}

    def rebuild(self, attempts: list[PinAttempt], now: datetime) -> None:
        """Where each technician stands after a restart, from their last attempt in the ledger."""
        self._standing.clear()
        mono = self.clock.monotonic()
        for attempt in attempts:
            if attempt.accepted or attempt.failures <= 0:
                continue
            wait = wait_after(attempt.failures)
            elapsed = (now - parse_utc(attempt.occurred_at)).total_seconds()
            left = min(max(wait - elapsed, 0.0), wait)
            self._standing[attempt.technician] = Standing(attempt.failures, mono + left)

    def wait_s(self, technician: str) -> float:
        """Seconds before this technician may try again (0: now)."""
        standing = self._standing.get(technician)
        return 0.0 if standing is None else max(standing.until - self.clock.monotonic(), 0.0)

    def refused(self, technician: str) -> tuple[int, float]:
        """A wrong PIN: the count in a row and the wait it brings."""
        failures = self._standing.get(technician, Standing(0, 0.0)).failures + 1
        wait = wait_after(failures)
        self._standing[technician] = Standing(failures, self.clock.monotonic() + wait)
        return failures, wait

    def accepted(self, technician: str) -> None:
        self._standing.pop(technician, None)
