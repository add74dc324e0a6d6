"""When the package cache asks the cloud again for a package it could not take (docs/app-packages.md,
"When it looks, and the retry rule").

Two kinds of failure, each with its own doubling backoff per package (equal jitter: half the window
fixed, half random, so that no retry comes right after its failure):
- the cloud could not be asked (no answer, a timeout, 429 or 5xx): the network's fault, not the
  file's; from `unreachable_base_s`, doubling to `unreachable_cap_s`, never sooner than Retry-After;
- the bytes were refused (not served, cut short, another size, sha256, package, version or signer):
  the cloud would most likely serve the same bytes again, so from `refused_base_s`, doubling to
  `refused_cap_s`. An operator who fixes an app in the fleet gives it new bytes, so a new sha256,
  which has no failures yet: it is fetched at once.
A technician's `cabinetctl sync now` clears the waits of every package.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

from cabinetproto.package_events import RefusedBecause


@dataclass(frozen=True)
class FetchPacing:
    # How often the work types are looked at for a change when nothing woke the cache.
    look_s: float = 2.0
    request_timeout_s: float = 30.0
    unreachable_base_s: float = 30.0
    unreachable_cap_s: float = 30 * 60.0
    refused_base_s: float = 30 * 60.0
    refused_cap_s: float = 24 * 3600.0


@dataclass
class Tries:
    """One package's failures in a row and when it may be asked for again (monotonic seconds)."""

    failures: int = 0
    not_before: float = 0.0
    reason: RefusedBecause | None = None  # the last refusal, None when the cloud was not reached
    detail: str = ""
    at: datetime | None = None


@dataclass
class Retries:
    pacing: FetchPacing
    rng: random.Random
    tries: dict[str, Tries] = field(default_factory=dict)

    def due(self, sha256: str, now: float) -> bool:
        found = self.tries.get(sha256)
        return found is None or found.not_before <= now

    def failed(
        self,
        sha256: str,
        now: float,
        at: datetime,
        detail: str,
        reason: RefusedBecause | None,
        retry_after_s: float | None = None,
    ) -> float:
        """Record a failure; returns the wait before the next try."""
        found = self.tries.setdefault(sha256, Tries())
        pacing = self.pacing
        base, cap = (
            (pacing.unreachable_base_s, pacing.unreachable_cap_s)
            if reason is None
            else (pacing.refused_base_s, pacing.refused_cap_s)
        )
        window = min(cap, base * 2.0 ** min(found.failures, 32))
        wait: float = window / 2 + self.rng.uniform(0, window / 2)
        if retry_after_s is not None:
            wait = max(wait, min(retry_after_s, cap))
        found.failures += 1
        found.not_before = now + wait
        found.at = at
        found.detail = detail
        if reason is not None or found.reason is None:
            found.reason = reason
        return wait

    def succeeded(self, sha256: str) -> None:
        self.tries.pop(sha256, None)

    def keep_only(self, needed: set[str]) -> None:
        """Drop the failures of packages no work type needs any more."""
        self.tries = {sha: t for sha, t in self.tries.items() if sha in needed}

    def now(self) -> None:
        """Every package may be asked for at once (the failures still count for the next wait)."""
        for found in self.tries.values():
            found.not_before = 0.0
