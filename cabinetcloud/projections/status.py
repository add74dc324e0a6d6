"""Where each device stands: in a slot, rented, in repair, lost or never seen (docs/fleet-views.md)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.projections import tables
from cabinetcloud.projections.shapes import DeviceState

# A device no cabinet has seen for this many days is lost, unless the view is asked otherwise.
LOST_AFTER_DAYS: Final = 3
# A device in a slot is seen for as long as its cabinet keeps in contact: the cabinet would have
# recorded it leaving. These are the settled states of a device in a cabinet.
IN_A_CABINET: Final = frozenset({DeviceState.IN_SLOT, DeviceState.IN_REPAIR})


def seen_at(row: Any) -> datetime | None:
    """When the device was last known to be where the projection says: its last event, or the last
    contact of the cabinet whose slot holds it."""
    seen: datetime | None = row.last_seen_at
    contact: datetime | None = row.contact_at
    if seen is not None and contact is not None and row.state in IN_A_CABINET and row.placed_cabinet is not None:
        return max(seen, contact)
    return seen


def state_of(row: Any, now: datetime, lost_after_days: int) -> DeviceState:
    """A projected_devices row (with `contact_at`) as a state at `now`; None row: never seen."""
    if row is None or row.last_seen_at is None:
        return DeviceState.UNKNOWN
    seen = seen_at(row)
    if seen is not None and seen < now - timedelta(days=lost_after_days):
        return DeviceState.LOST
    return DeviceState(row.state or DeviceState.IN_SLOT)


def device_rows(conn: Connection, serials: list[str] | None = None) -> list[Any]:
    devices = tables.devices
    cabinets = schema.cabinets
    query = sa.select(devices, cabinets.c.last_session_at.label("contact_at")).select_from(
        devices.outerjoin(cabinets, cabinets.c.id == devices.c.placed_cabinet)
    )
    if serials is not None:
        query = query.where(devices.c.serial.in_(serials))
    return list(conn.execute(query.order_by(devices.c.serial)))


def device_status(
    conn: Connection, serials: list[str], now: datetime, *, lost_after_days: int = LOST_AFTER_DAYS
) -> dict[str, DeviceState]:
    """The state of each serial at `now` (unknown for one no event ever named)."""
    rows = {row.serial: row for row in device_rows(conn, serials)} if serials else {}
    return {serial: state_of(rows.get(serial), now, lost_after_days) for serial in serials}
