"""The fleet at a glance, store by store: what the overview page and a store's page lead with."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.projections import status, tables, views
from cabinetcloud.projections.shapes import DeviceState, StoreSummary


def store_summaries(conn: Connection, *, store: str | None, now: datetime) -> list[StoreSummary]:
    """Per store: its cabinets, its devices by state, open and overdue rentals (of its cabinets),
    open faults and conflicts."""
    query = sa.select(schema.stores.c.id, schema.stores.c.name).order_by(schema.stores.c.id)
    if store is not None:
        query = query.where(schema.stores.c.id == store)
    stores = conn.execute(query).all()
    per_store = sa.select(schema.cabinets.c.store, sa.func.count()).group_by(schema.cabinets.c.store)
    cabinets: dict[str, int] = {row[0]: int(row[1]) for row in conn.execute(per_store)}
    fleet = schema.devices
    homed = conn.execute(sa.select(fleet.c.serial, fleet.c.store).where(fleet.c.active)).all()
    states = status.device_status(conn, [row.serial for row in homed], now)
    faults = tables.faults
    still_open = (
        sa.select(faults.c.store, sa.func.count())
        .where(faults.c.kind.in_(("ticket", "report")), faults.c.closed_at.is_(None))
        .group_by(faults.c.store)
    )
    open_faults: dict[str, int] = {row[0]: int(row[1]) for row in conn.execute(still_open)}
    found = []
    for row in stores:
        counts = {state: 0 for state in DeviceState}
        for device in homed:
            if device.store == row.id:
                counts[states[device.serial]] += 1
        found.append(
            StoreSummary(
                store=row.id,
                name=row.name,
                cabinets=cabinets.get(row.id, 0),
                devices=counts,
                open_rentals=len(views.open_rentals(conn, store=row.id, now=now)),
                overdue=len(views.overdue(conn, store=row.id, now=now)),
                open_faults=open_faults.get(row.id, 0),
                conflicts=len(views.conflicts(conn, store=row.id, now=now)),
            )
        )
    return found
