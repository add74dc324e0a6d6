from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from cabinetproto.chain import (
    GENESIS_HASH,
    HASHED_FIELDS,
    Uuid7,
    canonical_json,
    event_hash,
    iso_utc,
    parse_utc,
)

EVENT = {
    "boot_id": "boot-1",
    "cabinet_id": "cab-1",
    "device": "PDA-001",
    "epoch": "01939a4e-0000-7000-8000-000000000000",
    "event_id": "01939a4e-0001-7000-8000-000000000001",
    "mono_ns": 123456789,
    "occurred_at": "2025-03-01T08:00:01.000000Z",
    "payload": {"rental_id": "R-1", "due_at": "2025-03-01T16:00:00.000000Z"},
    "schema_version": 1,
    "seq": 1,
    "slot": 1,
    "staff": "S-100",
    "type": "device_rented",
}


def test_ok__uuid7_carries_version_variant_and_milliseconds() -> None:
    made = Uuid7()(1_740_816_000_123)
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert made.int >> 80 == 1_740_816_000_123


def test_ok__uuid7_increases_within_one_millisecond_and_when_the_clock_goes_back() -> None:
    uuid7 = Uuid7()
    ids = [uuid7(1_740_816_000_000) for _ in range(10_000)]
    ids += [uuid7(1_740_000_000_000) for _ in range(10)]  # wall clock stepped back
    assert ids == sorted(ids)
    assert len({i.int for i in ids}) == len(ids)
    assert all(i.version == 7 for i in ids)


def test_ok__iso_utc_is_fixed_width_utc() -> None:
    assert iso_utc(datetime(2025, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=1)))) == "2025-03-01T08:00:00.000000Z"
    assert iso_utc(datetime(2025, 3, 1, 8, 0, 0, 5, tzinfo=UTC)) == "2025-03-01T08:00:00.000005Z"
    assert parse_utc("2025-03-01T08:00:00.000005Z") == datetime(2025, 3, 1, 8, 0, 0, 5, tzinfo=UTC)


def test_fail__iso_utc_refuses_a_time_without_zone() -> None:
    with pytest.raises(ValueError, match=r"^time 2025-03-01T08:00:00 has no time zone$"):
        iso_utc(datetime(2025, 3, 1, 8, 0))


def test_ok__canonical_json_is_sorted_compact_ascii() -> None:
    assert canonical_json({"b": 1, "a": ["é", None, True]}) == '{"a":["\\u00e9",null,true],"b":1}'


def test_ok__event_hash_is_sha256_of_prev_hash_and_canonical_form() -> None:
    body = canonical_json({name: EVENT[name] for name in HASHED_FIELDS})
    expected = hashlib.sha256((GENESIS_HASH + body).encode()).hexdigest()
    assert event_hash(GENESIS_HASH, EVENT) == expected
    assert event_hash(GENESIS_HASH, {**EVENT, "prev_hash": "x", "hash": "y"}) == expected


@pytest.mark.parametrize("field", HASHED_FIELDS)
def test_ok__every_hashed_field_changes_the_hash(field: str) -> None:
    changed = {**EVENT, field: {"other": True}}
    assert event_hash(GENESIS_HASH, changed) != event_hash(GENESIS_HASH, EVENT)


def test_ok__the_previous_hash_changes_the_hash() -> None:
    assert event_hash("1" * 64, EVENT) != event_hash(GENESIS_HASH, EVENT)
