"""PIN lockouts of technicians at the kiosk, kept in the ledger so that a restart does not reset them.

A badge clones in seconds, so the PIN is what stands between a copied technician badge and every
door (DESIGN.md §10). Three wrong PINs in a row are free; each one after that makes the next try wait,
30 s doubling to an hour. Every attempt is a `technician_action` event (`pin_refused` with the count
so far, `pin_accepted`), and after a start each technician's last attempt rebuilds where they stand:
pulling the plug does not buy an attacker a fresh set of tries.

The wait left after a restart is reckoned on the wall clock (the monotonic clock starts again with the
board), and never longer than the wait itself: a board without a real-time clock may start with its
clock far behind, which must not lock a technician out for days (docs/kiosk.md, "PIN lockouts").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
    """Where each technician stands, read from the ledger at their first badge since the daemon
    started (`last_attempt`, newest event first: one look per technician, not a scan at every start)."""

    def __init__(self, clock: Clock, last_attempt: Callable[[str], PinAttempt | None]) -> None:
        self.clock = clock
        self.last_attempt = last_attempt
        self._standing: dict[str, Standing] = {}

    def _of(self, technician: str) -> Standing:
        standing = self._standing.get(technician)
        if standing is None:
            standing = self._standing[technician] = self.rebuilt(self.last_attempt(technician))
        return standing

    def rebuilt(self, attempt: PinAttempt | None) -> Standing:
        """Where a technician stands after a restart, from their last attempt in the ledger."""
        if attempt is None or attempt.accepted or attempt.failures <= 0:
            return Standing(0, 0.0)
        wait = wait_after(attempt.failures)
        elapsed = (self.clock.now() - parse_utc(attempt.occurred_at)).total_seconds()
        return Standing(attempt.failures, self.clock.monotonic() + min(max(wait - elapsed, 0.0), wait))

    def wait_s(self, technician: str) -> float:
        """Seconds before this technician may try again (0: now)."""
        return max(self._of(technician).until - self.clock.monotonic(), 0.0)

    def refused(self, technician: str) -> tuple[int, float]:
        """A wrong PIN: the count in a row and the wait it brings."""
        failures = self._of(technician).failures + 1
        wait = wait_after(failures)
        self._standing[technician] = Standing(failures, self.clock.monotonic() + wait)
        return failures, wait

    def accepted(self, technician: str) -> None:
        self._standing[technician] = Standing(0, 0.0)
