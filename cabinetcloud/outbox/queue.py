"""The outbox's rows: a delivery is enqueued in the transaction of its cause, leased to one worker while
it is sent, and settled with the attempt's outcome.

A worker claims due deliveries with `Storage.claim` (FOR UPDATE SKIP LOCKED on PostgreSQL), writes a lease
and the attempt's start, and commits before it sends: the network is never waited on inside a
transaction. A worker killed while it sends leaves its lease and an open attempt behind; when the lease
runs out the delivery is due again, the open attempt is closed as `interrupted`, and it is sent with the
same `webhook-id`, which the receiver deduplicates on. Exactly one attempt of a delivery is ever
recorded as delivered: the settle step checks that the lease is still its own.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.outbox.schedule import next_attempt
from cabinetcloud.storage import Storage

LEASE: Final = timedelta(seconds=60)
PENDING: Final = "pending"
DELIVERED: Final = "delivered"
FAILED: Final = "failed"
HELD: Final = "held"

D = schema.deliveries
A = schema.delivery_attempts


@dataclass(frozen=True)
class Claimed:
    """A delivery leased to this worker for one attempt."""

    delivery_id: int
    attempt: int
    leased_until: datetime
    endpoint_id: int
    message_id: str
    event_type: str
    payload: str


@dataclass(frozen=True)
class Outcome:
    outcome: str  # delivered | retry | gone | refused | failed
    status_code: int | None = None
    detail: str = ""
    retry_at: datetime | None = None  # a Retry-After the receiver asked for
    answer: str = ""  # what a receiver that took the message said (a repair service's ticket id)


def enqueue(
    storage: Storage,
    conn: Connection,
    endpoint_id: int,
    event_type: str,
    payload: dict[str, Any],
    dedup_key: str,
    now: datetime,
    *,
    not_before: datetime | None = None,
) -> bool:
    """One delivery, unless this endpoint already has one for `dedup_key`. True when it was new."""
    inserted = conn.execute(
        storage.insert_ignoring_duplicates(D)
        .values(
            endpoint_id=endpoint_id,
            message_id=f"msg_{secrets.token_hex(16)}",
            dedup_key=dedup_key[:200],
            event_type=event_type,
            payload=json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")),
            status=PENDING,
            attempts=0,
            next_attempt_at=not_before or now,
            created_at=now,
        )
        .returning(D.c.id)
    ).first()
    return inserted is not None


def claim(storage: Storage, now: datetime, limit: int, *, only: int | None = None) -> list[Claimed]:
    """Lease up to `limit` due deliveries to this worker and open an attempt for each; committed at once.
    `only` claims that one delivery (an operator's test message, sent while they wait)."""
    due = (
        sa.select(D.c.id, D.c.attempts, D.c.leased_until, D.c.endpoint_id, D.c.message_id, D.c.event_type, D.c.payload)
        .where(D.c.status == PENDING, D.c.next_attempt_at <= now)
        .where(sa.or_(D.c.leased_until.is_(None), D.c.leased_until <= now))
        .order_by(D.c.next_attempt_at, D.c.id)
        .limit(limit)
    )
    if only is not None:
        due = due.where(D.c.id == only)
    claimed: list[Claimed] = []
    with storage.writing() as conn:
        for row in conn.execute(storage.claim(due)).all():
            if row.leased_until is not None:
                _close_interrupted(conn, row.id, now)
            number = _attempts_made(conn, row.id) + 1
            until = now + LEASE
            conn.execute(sa.update(D).where(D.c.id == row.id).values(leased_until=until, attempts=number))
            conn.execute(sa.insert(A).values(delivery_id=row.id, number=number, started_at=now))
            claimed.append(Claimed(row.id, number, until, row.endpoint_id, row.message_id, row.event_type, row.payload))
    return claimed


def _attempts_made(conn: Connection, delivery_id: int) -> int:
    made = conn.execute(sa.select(sa.func.max(A.c.number)).where(A.c.delivery_id == delivery_id)).scalar()
    return int(made or 0)


def _close_interrupted(conn: Connection, delivery_id: int, now: datetime) -> None:
    conn.execute(
        sa.update(A)
        .where(A.c.delivery_id == delivery_id, A.c.finished_at.is_(None))
        .values(finished_at=now, outcome="interrupted", detail="the worker stopped before the receiver answered")
    )


def settle(conn: Connection, claimed: Claimed, result: Outcome, started: datetime, now: datetime) -> str | None:
    """Record the attempt and move the delivery on; returns its new status, or None when the lease was lost
    (another worker took the delivery over: this attempt is logged, and changes nothing else)."""
    duration = int((now - started).total_seconds() * 1000)
    conn.execute(
        sa.update(A)
        .where(A.c.delivery_id == claimed.delivery_id, A.c.number == claimed.attempt)
        .values(
            finished_at=now,
            outcome=result.outcome,
            status_code=result.status_code,
            duration_ms=duration,
            detail=result.detail[:2000],
        )
    )
    status, next_at = _next_state(claimed.attempt, result, now)
    moved = conn.execute(
        sa.update(D)
        .where(D.c.id == claimed.delivery_id, D.c.leased_until == claimed.leased_until, D.c.status == PENDING)
        .values(
            status=status,
            next_attempt_at=next_at,
            leased_until=None,
            last_status=result.status_code,
            last_error=None if result.outcome == "delivered" else result.detail[:2000],
            delivered_at=now if status == DELIVERED else None,
        )
    )
    return status if moved.rowcount else None


def _next_state(attempt: int, result: Outcome, now: datetime) -> tuple[str, datetime | None]:
    if result.outcome == "delivered":
        return DELIVERED, None
    if result.outcome == "gone":
        return HELD, None
    if result.outcome in ("refused", "failed"):
        return FAILED, None
    later = next_attempt(attempt, now)
    if later is None:
        return FAILED, None
    if result.retry_at is not None:
        later = result.retry_at
    return PENDING, later


def hold_endpoint(conn: Connection, endpoint_id: int, reason: str) -> int:
    """A receiver that answered 410 is disabled; its waiting deliveries are held until it is enabled again."""
    conn.execute(
        sa.update(schema.endpoints)
        .where(schema.endpoints.c.id == endpoint_id)
        .values(active=False, disabled_reason=reason)
    )
    held = conn.execute(
        sa.update(D)
        .where(D.c.endpoint_id == endpoint_id, D.c.status == PENDING)
        .values(status=HELD, next_attempt_at=None)
    )
    return int(held.rowcount)


def retry(conn: Connection, delivery_ids: list[int], now: datetime) -> int:
    """Failed or held deliveries due again now, by an operator's word (`cabinet-cloud deliveries retry`)."""
    moved = conn.execute(
        sa.update(D)
        .where(D.c.id.in_(delivery_ids), D.c.status.in_([FAILED, HELD]))
        .values(status=PENDING, next_attempt_at=now, leased_until=None)
    )
    return int(moved.rowcount)


def give_up(conn: Connection, delivery_id: int, reason: str) -> None:
    """A pending delivery that is not to be tried again (an operator's test message that failed)."""
    conn.execute(
        sa.update(D)
        .where(D.c.id == delivery_id, D.c.status == PENDING)
        .values(status=FAILED, next_attempt_at=None, last_error=sa.func.coalesce(D.c.last_error, "") + f" ({reason})")
    )
