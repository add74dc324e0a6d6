"""The uplink on the cloud's side: sessions, event batches, and history for a cabinet restored from
an old copy of its ledger.

One batch is one transaction. The cloud keeps, per cabinet and epoch, the last seq it acknowledged
and the hash there; a batch must start right after it and chain to it. Every event id a cabinet ever
sent is remembered (kept or dead-lettered), so a second copy is counted and dropped.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.auth import Caller
from cabinetcloud.outbox import ingested as outbox
from cabinetcloud.storage import Storage
from cabinetcloud.validation import Problem, check_event, wire_fields
from cabinetproto.chain import parse_utc
from cabinetproto.wire import (
    PROTOCOL_VERSION,
    BatchReply,
    EpochHeld,
    EventBatch,
    Rejection,
    SessionReply,
    SessionRequest,
    SessionStatus,
    WireEvent,
)

log = logging.getLogger(__name__)

# A cabinet whose clock is further off than this is flagged for the fleet operator.
SKEW_FLAG_S: Final = 300.0


@dataclass(frozen=True)
class SeqConflict:
    """The batch does not continue what the cloud holds: 409 with the seq the cloud expects."""

    code: str
    detail: str
    expected_seq: int


def _held_epoch(storage: Storage, conn: Connection, cabinet_id: str, epoch: str) -> Any:
    query = sa.select(schema.epochs).where(schema.epochs.c.cabinet_id == cabinet_id, schema.epochs.c.epoch == epoch)
    return conn.execute(storage.lock_for_update(query)).first()


def _epoch_row(storage: Storage, conn: Connection, cabinet_id: str, epoch: str, now: datetime) -> Any:
    """The epoch's row, made by the first batch the cloud takes in it: an epoch exists only once it
    holds events, so a session that names one and sends nothing leaves no epoch behind to be taken
    for a later one (which would make the cabinet's real epoch look like a fork)."""
    row = _held_epoch(storage, conn, cabinet_id, epoch)
    if row is not None:
        return row
    # The epochs' order is the cabinet's own: numbered under the cabinet's row lock, not a counter all
    # cabinets share, which would make every cabinet's first batch wait for the others' to commit.
    conn.execute(storage.lock_for_update(sa.select(schema.cabinets.c.id).where(schema.cabinets.c.id == cabinet_id)))
    last = sa.func.max(schema.epochs.c.ordinal)
    ordinal = conn.execute(sa.select(sa.func.coalesce(last, 0) + 1).where(schema.epochs.c.cabinet_id == cabinet_id))
    ordinal = ordinal.scalar_one()
    conn.execute(
        storage.insert_ignoring_duplicates(schema.epochs).values(
            cabinet_id=cabinet_id, epoch=epoch, ordinal=ordinal, acked_seq=0, last_hash="", first_seen_at=now
        )
    )
    return _held_epoch(storage, conn, cabinet_id, epoch)


def open_session(storage: Storage, caller: Caller, request: SessionRequest, now: datetime) -> SessionReply:
    skew = None if request.cabinet_time is None else (now - request.cabinet_time).total_seconds()
    flagged = skew is not None and abs(skew) > SKEW_FLAG_S
    with storage.writing() as conn:
        conn.execute(
            sa.update(schema.cabinets)
            .where(schema.cabinets.c.id == caller.cabinet_id)
            .values(
                last_session_at=now,
                software_version=request.software_version,
                protocol_version=request.protocol_version,
                schema_version=request.schema_version,
                skew_s=skew,
                skew_flagged=flagged,
                reported_epoch=request.epoch,
                reported_seq=request.last_seq,
            )
        )
        if request.protocol_version != PROTOCOL_VERSION:
            return SessionReply(
                status=SessionStatus.UPGRADE_REQUIRED,
                server_time=now,
                acked_seq=0,
                acked_hash="",
                detail=f"this cloud speaks sync protocol {PROTOCOL_VERSION}, the cabinet {request.protocol_version}",
            )
        row = _held_epoch(storage, conn, caller.cabinet_id, request.epoch)
        # An epoch the cloud holds nothing of is new to it: nothing to differ from, so no fork, and
        # the upload starts at seq 1. Nothing is written for it until its first batch.
        fork = "" if row is None else _fork(conn, caller.cabinet_id, row, request)
        if fork:
            conn.execute(
                sa.update(schema.epochs)
                .where(schema.epochs.c.cabinet_id == caller.cabinet_id, schema.epochs.c.epoch == request.epoch)
                .values(fork_detected_at=now)
            )
            held = conn.execute(
                sa.select(schema.epochs.c.epoch, schema.epochs.c.acked_seq)
                .where(schema.epochs.c.cabinet_id == caller.cabinet_id)
                .order_by(schema.epochs.c.ordinal)
            ).all()
    if flagged:
        log.warning("cabinet %s: clock is off by %.0f s (flagged)", caller.cabinet_id, skew)
    if fork:
        log.warning("cabinet %s: fork in epoch %s: %s", caller.cabinet_id, request.epoch, fork)
        return SessionReply(
            status=SessionStatus.FORK,
            server_time=now,
            acked_seq=row.acked_seq,
            acked_hash=row.last_hash,
            detail=fork,
            epochs=[EpochHeld(epoch=epoch, acked_seq=acked) for epoch, acked in held],
        )
    if row is None:
        return SessionReply(status=SessionStatus.OK, server_time=now, acked_seq=0, acked_hash="")
    return SessionReply(status=SessionStatus.OK, server_time=now, acked_seq=row.acked_seq, acked_hash=row.last_hash)


def _fork(conn: Connection, cabinet_id: str, row: Any, request: SessionRequest) -> str:
    """Why the cabinet's ledger cannot be the one the cloud holds, or '' when it can."""
    if row.acked_seq > request.last_seq:
        return (
            f"the cloud holds seq {row.acked_seq} of epoch {request.epoch}; "
            f"the cabinet's ledger ends at {request.last_seq}"
        )
    if row.acked_seq == request.last_seq and row.acked_seq > 0 and row.last_hash != request.last_hash:
        return f"the cabinet's hash at seq {row.acked_seq} of epoch {request.epoch} differs from the cloud's"
    later = conn.execute(
        sa.select(schema.epochs.c.epoch)
        .where(schema.epochs.c.cabinet_id == cabinet_id, schema.epochs.c.ordinal > row.ordinal)
        .order_by(schema.epochs.c.ordinal)
        .limit(1)
    ).scalar()
    if later is not None:
        return f"the cloud holds a later epoch {later} of this cabinet"
    return ""


def _dead_lettered(conn: Connection, cabinet_id: str, ids: list[str]) -> set[str]:
    # Dead letters are few, so this lookup is cheap whatever plan the database picks; the far larger
    # events table is deduplicated by the insert itself (ON CONFLICT DO NOTHING RETURNING).
    table = schema.dead_letters
    rows = conn.execute(sa.select(table.c.event_id).where(table.c.cabinet_id == cabinet_id, table.c.event_id.in_(ids)))
    return set(rows.scalars())


def _kept(conn: Connection, cabinet_id: str, event_id: str) -> bool:
    table = schema.events
    found = conn.execute(sa.select(table.c.seq).where(table.c.cabinet_id == cabinet_id, table.c.event_id == event_id))
    return found.first() is not None


def _parse_time(text: str) -> datetime | None:
    try:
        moment = parse_utc(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _event_row(event: WireEvent, now: datetime) -> dict[str, Any]:
    return {
        "cabinet_id": event.cabinet_id,
        "event_id": event.event_id,
        "epoch": event.epoch,
        "seq": event.seq,
        "received_at": now,
        "type": event.type,
        "schema_version": event.schema_version,
        "occurred_at": event.occurred_at,
        "occurred_at_utc": _parse_time(event.occurred_at),
        "mono_ns": event.mono_ns,
        "boot_id": event.boot_id,
        "slot": event.slot,
        "device": event.device,
        "staff": event.staff,
        "payload": json.dumps(event.payload, sort_keys=True, ensure_ascii=True),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def _dead_letter_row(cabinet_id: str, event: WireEvent, problem: Problem, now: datetime) -> dict[str, Any]:
    return {
        "cabinet_id": cabinet_id,
        "event_id": event.event_id,
        "epoch": event.epoch,
        "seq": event.seq,
        "received_at": now,
        "code": problem.code,
        "detail": problem.detail,
        # As it came: ASCII JSON holds a lone surrogate as an escape and nests as deep as the body did.
        "raw": json.dumps(wire_fields(event), sort_keys=True, ensure_ascii=True),
    }


def batch_shape_error(batch: EventBatch) -> str:
    """What makes a batch unreadable as a run of one epoch from `from_seq`, or ''."""
    for index, event in enumerate(batch.events):
        if event.epoch != batch.epoch:
            return f"events[{index}]: epoch {event.epoch!r} in a batch of epoch {batch.epoch!r}"
        if event.seq != batch.from_seq + index:
            return f"events[{index}]: seq {event.seq}, expected {batch.from_seq + index} (contiguous from from_seq)"
    return ""


def ingest_batch(storage: Storage, caller: Caller, batch: EventBatch, now: datetime) -> BatchReply | SeqConflict:
    cabinet_id = caller.cabinet_id
    with storage.writing() as conn:
        row = _epoch_row(storage, conn, cabinet_id, batch.epoch, now)
        expected = row.acked_seq + 1
        if batch.from_seq != expected:
            return SeqConflict(
                "seq_gap", f"epoch {batch.epoch}: the cloud expects seq {expected}, got {batch.from_seq}", expected
            )
        first = batch.events[0]
        if row.acked_seq > 0 and first.prev_hash != row.last_hash:
            return SeqConflict(
                "fork",
                f"epoch {batch.epoch}: seq {first.seq} does not chain to the cloud's seq {row.acked_seq}",
                expected,
            )
        known = _dead_lettered(conn, cabinet_id, [event.event_id for event in batch.events])
        prev = row.last_hash if row.acked_seq > 0 else first.prev_hash
        kept: list[dict[str, Any]] = []
        dead: list[dict[str, Any]] = []
        rejected: list[Rejection] = []
        results: dict[str, WireEvent] = {}
        duplicates = 0
        for event in batch.events:
            if event.event_id in known:
                duplicates += 1
            else:
                known.add(event.event_id)
                problem = check_event(event, cabinet_id, prev)
                if problem is None:
                    kept.append(_event_row(event, now))
                    if event.type == "command_result":
                        results[event.event_id] = event
                elif _kept(conn, cabinet_id, event.event_id):
                    duplicates += 1  # an event the cloud kept before, sent again where it no longer fits
                else:
                    dead.append(_dead_letter_row(cabinet_id, event, problem, now))
                    rejected.append(Rejection(event_id=event.event_id, code=problem.code, detail=problem.detail))
            prev = event.hash
        if kept:
            inserted = set(
                conn.execute(
                    storage.insert_ignoring_duplicates(schema.events).returning(schema.events.c.event_id), kept
                ).scalars()
            )
            duplicates += len(kept) - len(inserted)
            results = {event_id: event for event_id, event in results.items() if event_id in inserted}
            outbox.on_ingest(storage, conn, caller.store, [row for row in kept if row["event_id"] in inserted], now)
        if dead:
            conn.execute(storage.insert_ignoring_duplicates(schema.dead_letters), dead)
        last = batch.events[-1]
        conn.execute(
            sa.update(schema.epochs)
            .where(schema.epochs.c.cabinet_id == cabinet_id, schema.epochs.c.epoch == batch.epoch)
            .values(acked_seq=last.seq, last_hash=last.hash)
        )
        for event in results.values():
            _record_command_result(conn, cabinet_id, event, now)
    for rejection in rejected:
        log.warning("cabinet %s: dead-lettered event %s: %s", cabinet_id, rejection.event_id, rejection.detail)
    return BatchReply(acked_seq=last.seq, duplicates=duplicates, rejected=rejected)


def _record_command_result(conn: Connection, cabinet_id: str, event: WireEvent, now: datetime) -> None:
    payload = event.payload
    conn.execute(
        sa.update(schema.commands)
        .where(
            schema.commands.c.command_id == str(payload["command_id"]),
            schema.commands.c.cabinet_id == cabinet_id,
            schema.commands.c.status == "pending",
        )
        .values(
            status="done" if payload["ok"] else "failed",
            result_detail=str(payload.get("detail", "")),
            result_at=now,
        )
    )


def _no_constant(_token: str) -> None:
    return None


def history(storage: Storage, cabinet_id: str, epoch: str, after: int, limit: int) -> dict[str, Any]:
    """Events the cloud holds of one epoch after a seq (dead-lettered ones too, as they came), as the
    JSON of a HistoryPage: plain values, because a dead letter need not fit the models' limits."""
    fields = list(WireEvent.model_fields)
    with storage.reading() as conn:
        rows = conn.execute(
            sa.select(schema.events)
            .where(
                schema.events.c.cabinet_id == cabinet_id,
                schema.events.c.epoch == epoch,
                schema.events.c.seq > after,
            )
            .order_by(schema.events.c.seq)
            .limit(limit)
        ).all()
        found = [{**{name: getattr(row, name) for name in fields}, "payload": json.loads(row.payload)} for row in rows]
        dead = (
            conn.execute(
                sa.select(schema.dead_letters.c.raw)
                .where(
                    schema.dead_letters.c.cabinet_id == cabinet_id,
                    schema.dead_letters.c.epoch == epoch,
                    schema.dead_letters.c.seq > after,
                )
                .order_by(schema.dead_letters.c.seq)
                .limit(limit)
            )
            .scalars()
            .all()
        )
        # A dead letter stored before the cloud refused NaN may hold one; JSON has no such number.
        found.extend(json.loads(raw, parse_constant=_no_constant) for raw in dead)
    found.sort(key=lambda event: int(event["seq"]))
    complete = len(rows) < limit and len(dead) < limit and len(found) <= limit
    return {"epoch": epoch, "events": found[:limit], "complete": complete}
