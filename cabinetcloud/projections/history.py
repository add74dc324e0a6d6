"""A device's history and a cabinet's event log: reads of the events table itself, by index.

These two show events one by one, exactly as the cabinets sent them, so a projection would only be a
copy of the events table; an index finds them instead (events_by_device for a device, the table's
events_by_position for a cabinet's epoch) and a page costs the same however long the history is.
"""

from __future__ import annotations

import json
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.projections.shapes import CabinetLogPage, HistoryEvent, HistoryPage

MAX_PAGE: Final = 500
_e = schema.events


def event_of(row: Any) -> HistoryEvent:
    return HistoryEvent(
        cabinet=row.cabinet_id,
        epoch=row.epoch,
        seq=row.seq,
        type=row.type,
        occurred_at=row.occurred_at,
        received_at=row.received_at,
        slot=row.slot,
        device=row.device,
        staff=row.staff,
        payload=json.loads(row.payload),
    )


def device_history(conn: Connection, serial: str, *, offset: int = 0, limit: int = 100) -> HistoryPage:
    """Every event that named the device, at every cabinet, newest first by the cabinets' clocks."""
    moment = sa.func.coalesce(_e.c.occurred_at_utc, _e.c.received_at)
    rows = conn.execute(
        sa.select(_e)
        .where(_e.c.device == serial)
        .order_by(moment.desc(), _e.c.cabinet_id, _e.c.epoch, _e.c.seq.desc())
        .offset(offset)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    return HistoryPage(events=[event_of(row) for row in rows[:limit]], next_offset=offset + limit if more else None)


def cabinet_log(
    conn: Connection, cabinet_id: str, *, epoch: str | None = None, after: int = 0, limit: int = 100
) -> CabinetLogPage:
    """A cabinet's events of one epoch (the latest unless named) in seq order, after a seq."""
    epochs = list(
        conn.execute(
            sa.select(schema.epochs.c.epoch)
            .where(schema.epochs.c.cabinet_id == cabinet_id)
            .order_by(schema.epochs.c.ordinal)
        ).scalars()
    )
    shown = epoch if epoch is not None else (epochs[-1] if epochs else None)
    rows: list[Any] = []
    if shown is not None:
        rows = list(
            conn.execute(
                sa.select(_e)
                .where(_e.c.cabinet_id == cabinet_id, _e.c.epoch == shown, _e.c.seq > after)
                .order_by(_e.c.seq)
                .limit(limit + 1)
            )
        )
    more = len(rows) > limit
    return CabinetLogPage(
        cabinet=cabinet_id,
        epoch=shown,
        epochs=epochs,
        events=[event_of(row) for row in rows[:limit]],
        next_after=rows[limit - 1].seq if more else None,
    )
