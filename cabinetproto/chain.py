"""The pieces of an event that make it unique and chained: ids, timestamps, the canonical form and
its hash.

Standard library only, so that the cloud can import the same hash function it checks chains with.
The canonical form is JSON with sorted keys, no spaces, ASCII only; the hash of an event is
SHA-256 over the previous event's hash (64 hex digits) followed by the canonical form of the event
without its `prev_hash` and `hash` fields.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

# The hash the first event of a ledger chains to.
GENESIS_HASH: Final = "0" * 64

# The fields of an event that its hash covers, besides `prev_hash`.
HASHED_FIELDS: Final = (
    "boot_id",
    "cabinet_id",
    "device",
    "epoch",
    "event_id",
    "mono_ns",
    "occurred_at",
    "payload",
    "schema_version",
    "seq",
    "slot",
    "staff",
    "type",
)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def event_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    """The chain hash of `event` (a mapping holding at least HASHED_FIELDS, payload as an object)."""
    body = canonical_json({name: event[name] for name in HASHED_FIELDS})
    return hashlib.sha256((prev_hash + body).encode("ascii")).hexdigest()


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a `Z`: fixed width, so text order is time order."""
    if moment.tzinfo is None:
        raise ValueError(f"time {moment.isoformat()} has no time zone")
    # isoformat rather than strftime: the same text, in half the time on the badge's commit.
    return moment.astimezone(UTC).isoformat(timespec="microseconds").removesuffix("+00:00") + "Z"


def parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def utc_now() -> datetime:
    return datetime.now(UTC)


class Uuid7:
    """UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then a 12-bit counter, then 62 random bits.

    The counter keeps ids from one process strictly increasing within a millisecond, and the
    millisecond never goes back even when the wall clock does (a board without RTC can jump back
    after its time sync), so ids sort in the order they were made.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0

    def __call__(self, unix_ms: int | None = None) -> uuid.UUID:
        ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
        # One read of the system's randomness per id: 62 bits for rand_b, 9 more for a counter start.
        randomness = int.from_bytes(os.urandom(10))
        with self._lock:
            if ms > self._last_ms:
                self._last_ms = ms
                # Start low in the counter's range so that a burst has room to count up.
                self._counter = randomness >> 62 & 0x1FF
            else:
                self._counter += 1
                if self._counter > 0xFFF:
                    self._last_ms += 1
                    self._counter = 0
            ms, counter = self._last_ms, self._counter
        rand_b = randomness & ((1 << 62) - 1)
        value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
        return uuid.UUID(int=value)


uuid7 = Uuid7()
