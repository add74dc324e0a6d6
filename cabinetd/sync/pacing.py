"""When the sync client talks to the cloud: timeouts, waits and the backoff after a failure.

All of it is injectable so that tests run the real loops at a fraction of the real times.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Pacing:
    # Full-jitter backoff: the n-th retry in a row waits a random time in [0, min(cap, base * 2**n)].
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 300.0
    # The first request after the daemon starts waits a random time in [0, spread]: a store whose
    # power came back, or a fleet restarted at once, does not reach the cloud all in one second.
    first_request_spread_s: float = 60.0
    request_timeout_s: float = 30.0
    # How long the cloud may hold a changes request open when nothing is new.
    long_poll_s: float = 25.0
    # How often the outbox is looked at when nothing woke the client.
    outbox_poll_s: float = 2.0
    # A command the controller has not finished in this time counts as failed.
    command_timeout_s: float = 120.0
    # Timeouts in a row on an upload before the batch is halved.
    timeouts_before_halving: int = 2
    # Good batches in a row before a halved batch may double again.
    batches_before_growing: int = 20
    # A skew larger than this is flagged (the cloud flags the same).
    skew_flag_s: float = 300.0


class Backoff:
    def __init__(self, pacing: Pacing, rng: random.Random) -> None:
        self.pacing = pacing
        self.rng = rng
        self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    def next_delay(self, retry_after_s: float | None = None) -> float:
        window = min(self.pacing.backoff_cap_s, self.pacing.backoff_base_s * 2 ** min(self.failures, 32))
        self.failures += 1
        delay = self.rng.uniform(0, window)
        if retry_after_s is not None:
            # The cloud said when to come back: never sooner, and never later than the cap.
            delay = max(delay, min(retry_after_s, self.pacing.backoff_cap_s))
        return delay
