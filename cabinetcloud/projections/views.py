"""The fleet's views over the projection tables: rentals, overdue and lost devices, conflicts,
returns away from home, faults and repair tickets, the slots of a cabinet (docs/fleet-views.md).

Each takes a connection, the store to look at (None: the whole fleet) and `now`, and reads only
projection tables and the fleet's own data (names, home stores): nothing is recomputed from the
events per request.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.projections import status, tables
from cabinetcloud.projections.shapes import Conflict, DeviceState, Fault, LostDevice, Rental, SlotPicture

_r = tables.rentals


def _rentals_query() -> sa.Select[Any]:
    return sa.select(
        _r, schema.staff.c.name.label("staff_name"), schema.devices.c.store.label("home_store")
    ).select_from(
        _r.outerjoin(schema.staff, schema.staff.c.id == _r.c.staff).outerjoin(
            schema.devices, schema.devices.c.serial == _r.c.device
        )
    )


def rental_of(row: Any, now: datetime) -> Rental:
    returned = row.ended_by == "returned"
    return Rental(
        device=row.device,
        staff=row.staff,
        staff_name=row.staff_name,
        store=row.store,
        cabinet=row.cabinet_id,
        slot=row.slot,
        rental_id=row.rental_id,
        work_type=row.work_type,
        rented_at=row.rented_at,
        due_at=row.due_at,
        overdue=row.ended_at is None and row.due_at is not None and row.due_at < now,
        conflict=row.conflict,
        battery_out=row.battery_out,
        ended_at=row.ended_at,
        ended_by=row.ended_by,
        returned_cabinet=row.end_cabinet if returned else None,
        returned_store=row.end_store if returned else None,
        away_from_home=returned and row.home_store is not None and row.end_store != row.home_store,
    )


def _order(query: sa.Select[Any]) -> sa.Select[Any]:
    return query.order_by(_r.c.rented_at, _r.c.cabinet_id, _r.c.rental_id)


def open_rentals(conn: Connection, *, store: str | None, staff: str | None = None, now: datetime) -> list[Rental]:
    """Rentals not yet ended, of a store's cabinets and/or one staff member, oldest first."""
    query = _rentals_query().where(_r.c.ended_at.is_(None))
    if store is not None:
        query = query.where(_r.c.store == store)
    if staff is not None:
        query = query.where(_r.c.staff == staff)
    return [rental_of(row, now) for row in conn.execute(_order(query))]


def overdue(conn: Connection, *, store: str | None, now: datetime) -> list[Rental]:
    """Open rentals past their due time at `now`, the longest overdue first."""
    query = _rentals_query().where(_r.c.ended_at.is_(None), _r.c.due_at < now)
    if store is not None:
        query = query.where(_r.c.store == store)
    query = query.order_by(_r.c.due_at, _r.c.cabinet_id, _r.c.rental_id)
    return [rental_of(row, now) for row in conn.execute(query)]


def conflicts(conn: Connection, *, store: str | None, now: datetime) -> list[Conflict]:
    """Devices in overlapping rentals, each with all its flagged rentals (a store: any of them there)."""
    rows = conn.execute(_order(_rentals_query().where(_r.c.conflict.is_(True)))).all()
    by_device: dict[str, list[Rental]] = defaultdict(list)
    for row in rows:
        by_device[row.device].append(rental_of(row, now))
    return [
        Conflict(device=device, rentals=found, open=any(rental.ended_at is None for rental in found))
        for device, found in sorted(by_device.items())
        if store is None or any(rental.store == store for rental in found)
    ]


def away_returns(conn: Connection, *, store: str | None, now: datetime, limit: int = 200) -> list[Rental]:
    """Rentals returned to a store that is not the device's home store, newest first (a store: the
    one it was returned to, or its home)."""
    home = schema.devices.c.store
    query = _rentals_query().where(_r.c.ended_by == "returned", home.is_not(None), _r.c.end_store != home)
    if store is not None:
        query = query.where(sa.or_(_r.c.end_store == store, home == store))
    query = query.order_by(_r.c.ended_at.desc(), _r.c.cabinet_id, _r.c.rental_id).limit(limit)
    return [rental_of(row, now) for row in conn.execute(query)]


def lost_devices(
    conn: Connection, *, store: str | None, days: int = status.LOST_AFTER_DAYS, now: datetime
) -> list[LostDevice]:
    """Devices no cabinet has seen for `days` days (a store: those it is home to)."""
    fleet = {
        row.serial: row
        for row in conn.execute(sa.select(schema.devices.c.serial, schema.devices.c.model, schema.devices.c.store))
    }
    found = []
    for row in status.device_rows(conn):
        home = fleet.get(row.serial)
        if status.state_of(row, now, days) is not DeviceState.LOST:
            continue
        if store is not None and (home is None or home.store != store):
            continue
        out = open_rentals_of(conn, row.serial, now)
        found.append(
            LostDevice(
                serial=row.serial,
                model=None if home is None else home.model,
                home_store=None if home is None else home.store,
                last_seen_at=status.seen_at(row),
                last_seen_cabinet=row.last_seen_cabinet,
                rental=out[-1] if out else None,
            )
        )
    return found


def open_rentals_of(conn: Connection, serial: str, now: datetime) -> list[Rental]:
    query = _rentals_query().where(_r.c.device == serial, _r.c.ended_at.is_(None))
    return [rental_of(row, now) for row in conn.execute(_order(query))]


def _rental_of_fault(conn: Connection, row: Any, now: datetime) -> Rental | None:
    if row.return_event is not None:
        query = _rentals_query().where(_r.c.end_cabinet == row.cabinet_id, _r.c.end_event == row.return_event)
    elif row.rental_id is not None:
        query = _rentals_query().where(_r.c.rental_id == row.rental_id)
    else:
        return None
    found = conn.execute(_order(query).limit(1)).first()
    return None if found is None else rental_of(found, now)


def faults(
    conn: Connection, *, store: str | None, open_only: bool = False, now: datetime, limit: int = 200
) -> list[Fault]:
    """Repair tickets and problem reports, newest first, each linked to its device and rental."""
    f = tables.faults
    query = sa.select(f).where(f.c.kind.in_(("ticket", "report")))
    if store is not None:
        query = query.where(f.c.store == store)
    if open_only:
        query = query.where(f.c.closed_at.is_(None))
    query = query.order_by(f.c.at.desc(), f.c.cabinet_id, f.c.event_id).limit(limit)
    return [
        Fault(
            kind=row.kind,
            cabinet=row.cabinet_id,
            store=row.store,
            slot=row.slot,
            device=row.device,
            staff=row.staff,
            at=row.at,
            ticket_id=row.ticket_id,
            evidence=None if row.evidence is None else json.loads(row.evidence),
            reason=row.reason,
            note=row.note,
            critical=row.critical,
            open=row.closed_at is None,
            closed_at=row.closed_at,
            rental=_rental_of_fault(conn, row, now),
        )
        for row in conn.execute(query)
    ]


def cabinet_slots(conn: Connection, *, cabinet: str, now: datetime) -> list[SlotPicture]:
    """The live picture of a cabinet's slots, by slot number (`now` is unused: it is as last reported)."""
    del now
    s = tables.slots
    rows = conn.execute(sa.select(s).where(s.c.cabinet_id == cabinet).order_by(s.c.slot))
    return [
        SlotPicture(cabinet=row.cabinet_id, slot=row.slot, state=row.state, device=row.device, since=row.since)
        for row in rows
    ]
