"""Where each device stands: in a slot, rented, in repair, lost or never seen (docs/fleet-views.md)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.outbox import tables as outbox_tables
from cabinetcloud.projections import tables
from cabinetcloud.projections.shapes import DeviceState
from cabinetcloud.schema import UtcDateTime

# A device no cabinet has seen for this many days is lost, unless the view is asked otherwise.
LOST_AFTER_DAYS: Final = 3
# A device in a slot is seen for as long as its cabinet keeps in contact: the cabinet would have
# recorded it leaving. These are the settled states of a device in a cabinet.
IN_A_CABINET: Final = frozenset({DeviceState.IN_SLOT, DeviceState.IN_REPAIR})


def seen_at(row: Any) -> datetime | None:
    """When the device was last known to be where the projection says: its last event, or the last
    contact (a sync session, an upload) of the cabinet whose slot holds it."""
    seen: datetime | None = row.last_seen_at
    contacts: list[datetime] = [at for at in (row.session_at, row.upload_at) if at is not None]
    if seen is not None and contacts and row.state in IN_A_CABINET and row.placed_cabinet is not None:
        return max(seen, *contacts)
    return seen


def state_of(row: Any, now: datetime, lost_after_days: int) -> DeviceState:
    """A device_rows() row as a state at `now`; None row: never seen."""
    if row is None or row.last_seen_at is None:
        return DeviceState.UNKNOWN
    seen = seen_at(row)
    if seen is not None and seen < now - timedelta(days=lost_after_days):
        return DeviceState.LOST
    return DeviceState(row.state or DeviceState.IN_SLOT)


def device_rows(conn: Connection, serials: list[str] | None = None) -> list[Any]:
    """projected_devices rows with the contacts of the cabinet that holds each: `session_at` (its last
    sync session) and `upload_at` (when the cloud received the last event projected of it)."""
    devices, cabinets, progress, events = tables.devices, schema.cabinets, tables.progress, schema.events
    last_event = sa.and_(
        events.c.cabinet_id == progress.c.cabinet_id,
        events.c.epoch == progress.c.epoch,
        events.c.seq == progress.c.projected_seq,
    )
    uploads = (
        sa.select(progress.c.cabinet_id, sa.type_coerce(sa.func.max(events.c.received_at), UtcDateTime()).label("at"))
        .select_from(progress.join(events, last_event))
        .group_by(progress.c.cabinet_id)
        .subquery()
    )
    query = sa.select(
        devices, cabinets.c.last_session_at.label("session_at"), uploads.c.at.label("upload_at")
    ).select_from(
        devices.outerjoin(cabinets, cabinets.c.id == devices.c.placed_cabinet).outerjoin(
            uploads, uploads.c.cabinet_id == devices.c.placed_cabinet
        )
    )
    if serials is not None:
        query = query.where(devices.c.serial.in_(serials))
    return list(conn.execute(query.order_by(devices.c.serial)))


def device_status(
    conn: Connection, serials: list[str], now: datetime, *, lost_after_days: int = LOST_AFTER_DAYS
) -> dict[str, DeviceState]:
    """The state of each serial at `now` (unknown for one no event ever named)."""
    rows = {row.serial: row for row in device_rows(conn, serials)} if serials else {}
    states = {serial: state_of(rows.get(serial), now, lost_after_days) for serial in serials}
    # A device whose repair ticket the repair service has not closed stays in repair, even when it came
    # back passing its self-test (docs/webhooks.md, "The repair service answers").
    for serial in _under_repair(conn, [s for s, state in states.items() if state is DeviceState.IN_SLOT]):
        states[serial] = DeviceState.IN_REPAIR
    return states


def _under_repair(conn: Connection, serials: list[str]) -> set[str]:
    if not serials:
        return set()
    tickets = outbox_tables.repair_tickets
    query = sa.select(tickets.c.device).where(tickets.c.device.in_(serials), tickets.c.closed_at.is_(None))
    return set(conn.execute(query).scalars())
