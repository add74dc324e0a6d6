"""When a failed delivery is tried again.

The schedule is the Standard Webhooks specification's example: after the first attempt fails, again in
5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h; a delivery that fails all eight attempts has failed. Each
wait is spread by up to a tenth either way, so that the endpoints that came back after one outage are
not all tried again in the same second. A receiver's `Retry-After` (seconds, or an HTTP date) replaces
the wait, within a day.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Final

RETRY_WAITS: Final = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS: Final = len(RETRY_WAITS) + 1
JITTER: Final = 0.1
MAX_RETRY_AFTER: Final = timedelta(days=1)


def next_attempt(attempts: int, now: datetime, rng: random.Random | None = None) -> datetime | None:
    """When to try again after `attempts` failed attempts; None when the schedule is spent."""
    if attempts >= MAX_ATTEMPTS:
        return None
    wait = RETRY_WAITS[attempts - 1]
    spread = (rng or random).uniform(-JITTER, JITTER)
    return now + wait * (1 + spread)


def retry_after(header: str | None, now: datetime) -> datetime | None:
    """The time a `Retry-After` header asks for (delay-seconds or HTTP-date), or None when it says nothing usable."""
    if header is None:
        return None
    text = header.strip()
    if text.isdigit():
        wait = timedelta(seconds=int(text))
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        wait = when - now
    return now + max(timedelta(0), min(wait, MAX_RETRY_AFTER))
