"""The projector: the events the cloud holds, projected cabinet by cabinet into the projection tables.

Ingest does not project (its cabinets would wait on each other's devices); this runs beside it, as a
background job in every `cabinet-cloud serve` process and directly in the tests. Work is claimed per
cabinet epoch with `Storage.claim` (FOR UPDATE SKIP LOCKED on PostgreSQL), so several workers share
a backlog and no event is applied twice: an epoch's events are applied in seq order and its progress
row moves in the same transaction as their facts.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.projections import facts, settle, tables
from cabinetcloud.storage import Storage

log = logging.getLogger(__name__)

# Events of one epoch applied in one transaction: a long backlog is several turns, so that a writer
# (an ingest on SQLite) never waits long behind the projector.
BATCH_EVENTS: Final = 500

_progress = tables.progress
_epochs = schema.epochs


def _acked(cabinet_id: Any = _progress.c.cabinet_id, epoch: Any = _progress.c.epoch) -> Any:
    return (
        sa.select(_epochs.c.acked_seq)
        .where(_epochs.c.cabinet_id == cabinet_id, _epochs.c.epoch == epoch)
        .scalar_subquery()
    )


def _open_progress(storage: Storage) -> None:
    """A progress row for each epoch the cloud holds that has none yet (its first batch came in)."""
    missing = sa.select(_epochs.c.cabinet_id, _epochs.c.epoch, sa.literal(0)).where(
        ~sa.exists().where(_progress.c.cabinet_id == _epochs.c.cabinet_id, _progress.c.epoch == _epochs.c.epoch)
    )
    with storage.reading() as conn:
        if conn.execute(missing.limit(1)).first() is None:
            return
    with storage.writing() as conn:
        columns = ["cabinet_id", "epoch", "projected_seq"]
        conn.execute(storage.insert_ignoring_duplicates(_progress).from_select(columns, missing))


def _write_slots(storage: Storage, conn: Connection, batch: facts.Batch, ordinal: int) -> None:
    """The batch's last word on each slot, unless a later event of the cabinet (a later epoch) is in."""
    slots = tables.slots
    for number in sorted(batch.slots):
        change = batch.slots[number]
        conn.execute(
            storage.insert_ignoring_duplicates(slots).values(
                cabinet_id=batch.cabinet_id, slot=number, since=change.since, ordinal=-1, seq=-1
            )
        )
        values: dict[str, Any] = {"ordinal": ordinal, "seq": change.seq}
        if change.state is not None:
            values |= {"state": change.state, "since": change.since}
        if change.device_known:
            values["device"] = change.device
        older = sa.or_(slots.c.ordinal < ordinal, sa.and_(slots.c.ordinal == ordinal, slots.c.seq < change.seq))
        conn.execute(
            sa.update(slots)
            .where(slots.c.cabinet_id == batch.cabinet_id, slots.c.slot == number, older)
            .values(**values)
        )


def _mark(conn: Connection, serial: str, marks: facts.DeviceMarks) -> None:
    devices = tables.devices
    if marks.seen is not None:
        at, cabinet_id = marks.seen
        later = sa.or_(
            devices.c.last_seen_at.is_(None),
            devices.c.last_seen_at < at,
            sa.and_(devices.c.last_seen_at == at, devices.c.last_seen_cabinet < cabinet_id),
        )
        conn.execute(
            sa.update(devices)
            .where(devices.c.serial == serial, later)
            .values(last_seen_at=at, last_seen_cabinet=cabinet_id)
        )
    if marks.placed is not None:
        at, cabinet_id, slot = marks.placed
        later = sa.or_(
            devices.c.placed_at.is_(None),
            devices.c.placed_at < at,
            sa.and_(devices.c.placed_at == at, devices.c.placed_cabinet < cabinet_id),
        )
        conn.execute(
            sa.update(devices)
            .where(devices.c.serial == serial, later)
            .values(placed_at=at, placed_cabinet=cabinet_id, placed_slot=slot)
        )


def _settle_devices(storage: Storage, conn: Connection, batch: facts.Batch) -> None:
    """Every device the batch named, locked in serial order (two workers never wait in a circle)."""
    serials = sorted(batch.devices)
    if not serials:
        return
    for serial in serials:
        conn.execute(storage.insert_ignoring_duplicates(tables.devices).values(serial=serial))
    locking = sa.select(tables.devices.c.serial).where(tables.devices.c.serial.in_(serials))
    conn.execute(storage.lock_for_update(locking.order_by(tables.devices.c.serial))).all()
    for serial in serials:
        _mark(conn, serial, batch.devices[serial])
        settle.settle(conn, serial)


def _project(storage: Storage, conn: Connection, claimed: Any) -> int:
    cabinet_id, epoch = claimed.cabinet_id, claimed.epoch
    store = conn.execute(sa.select(schema.cabinets.c.store).where(schema.cabinets.c.id == cabinet_id)).scalar_one()
    held = conn.execute(
        sa.select(_epochs.c.ordinal, _epochs.c.acked_seq).where(
            _epochs.c.cabinet_id == cabinet_id, _epochs.c.epoch == epoch
        )
    ).one()
    events = schema.events
    rows = conn.execute(
        sa.select(events)
        .where(events.c.cabinet_id == cabinet_id, events.c.epoch == epoch, events.c.seq > claimed.projected_seq)
        .order_by(events.c.seq)
        .limit(BATCH_EVENTS)
    ).all()
    batch = facts.Batch(cabinet_id=cabinet_id, store=store)
    for row in rows:
        facts.apply(conn, batch, row)
    # Seqs the cloud acknowledged but did not keep (dead letters, duplicates) are passed over.
    reached = rows[-1].seq if len(rows) == BATCH_EVENTS else max(held.acked_seq, rows[-1].seq if rows else 0)
    conn.execute(
        sa.update(_progress)
        .where(_progress.c.cabinet_id == cabinet_id, _progress.c.epoch == epoch)
        .values(projected_seq=reached)
    )
    _write_slots(storage, conn, batch, held.ordinal)
    _settle_devices(storage, conn, batch)
    return len(rows)


def _run(storage: Storage, limit: int) -> tuple[int, int]:
    """(epochs claimed, events applied)."""
    _open_progress(storage)
    claims = applied = 0
    for _ in range(limit):
        with storage.writing() as conn:
            waiting = (
                sa.select(_progress)
                .where(_progress.c.projected_seq < _acked())
                .order_by(_progress.c.cabinet_id, _progress.c.epoch)
                .limit(1)
            )
            claimed = conn.execute(storage.claim(waiting)).first()
            if claimed is None:
                break
            count = _project(storage, conn, claimed)
        log.debug("projected %d events of cabinet %s epoch %s", count, claimed.cabinet_id, claimed.epoch)
        claims += 1
        applied += count
    return claims, applied


def run_once(storage: Storage, now: datetime, *, limit: int = 50) -> int:
    """Project the waiting events of up to `limit` claimed cabinet epochs, one transaction each;
    returns how many events were applied (0: nothing is waiting, or others hold what is)."""
    del now  # the projection is a function of the events alone; `now` is the jobs' common signature
    return _run(storage, limit)[1]


def catch_up(storage: Storage, now: datetime) -> int:
    """Project until nothing is waiting; returns how many events were applied."""
    del now
    total = 0
    while True:
        claims, applied = _run(storage, 50)
        total += applied
        if not claims:
            return total


def reset(storage: Storage) -> None:
    """Empty every projection (and its progress): the next catch_up recomputes them from the events."""
    with storage.writing() as conn:
        for table in (*tables.DERIVED_TABLES, tables.progress):
            conn.execute(sa.delete(table))
