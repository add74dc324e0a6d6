"""Usage per store and per work type, day by day (UTC), from the projected rentals."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from statistics import fmean
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.projections import tables
from cabinetcloud.projections.shapes import UsageDay

# The days a usage view covers unless asked otherwise: today and the six before it.
USAGE_DAYS: Final = 7


def _mean(values: Iterable[int | None]) -> float | None:
    found = [value for value in values if value is not None]
    return round(fmean(found), 1) if found else None


def _day_of(rows: list[Any], store: str, work_type: str | None, day: date, idle: int, now: datetime) -> UsageDay:
    hours = sum(((row.ended_at or now) - row.rented_at).total_seconds() for row in rows) / 3600
    return UsageDay(
        store=store,
        work_type=work_type,
        day=day,
        rentals=len(rows),
        hours_out=round(max(hours, 0.0), 2),
        devices_rented=len({row.device for row in rows}),
        devices_idle=idle,
        battery_out_avg=_mean(row.battery_out for row in rows),
        battery_in_avg=_mean(row.battery_in for row in rows if row.ended_by == "returned"),
    )


def usage(conn: Connection, *, store: str | None, days: int = USAGE_DAYS, now: datetime) -> list[UsageDay]:
    """For each store (or the one asked) and each of the last `days` days: the store as a whole, then
    each work type of the fleet. A rental counts on the day it began, at the store it was rented in."""
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(), tzinfo=UTC)
    rows = conn.execute(sa.select(tables.rentals).where(tables.rentals.c.rented_at >= start)).all()
    stores = (
        [store]
        if store is not None
        else list(conn.execute(sa.select(schema.stores.c.id).order_by(schema.stores.c.id)).scalars())
    )
    models_of = {
        row.id: set(json.loads(row.device_models))
        for row in conn.execute(
            sa.select(schema.work_types.c.id, schema.work_types.c.device_models).order_by(schema.work_types.c.id)
        )
    }
    homed: dict[str, dict[str, str]] = defaultdict(dict)
    for device in conn.execute(sa.select(schema.devices.c.serial, schema.devices.c.model, schema.devices.c.store)):
        homed[device.store][device.serial] = device.model
    by_day: dict[date, list[Any]] = defaultdict(list)
    for row in rows:
        by_day[row.rented_at.date()].append(row)
    found = []
    for store_id in stores:
        for offset in range(days):
            day = first + timedelta(days=offset)
            rented = {row.device for row in by_day[day]}  # anywhere: a device out at another store is not idle
            here = [row for row in by_day[day] if row.store == store_id]
            idle = [serial for serial in homed[store_id] if serial not in rented]
            found.append(_day_of(here, store_id, None, day, len(idle), now))
            for work_type, models in models_of.items():
                of_type = [row for row in here if row.work_type == work_type]
                suited = sum(1 for serial in idle if homed[store_id][serial] in models)
                found.append(_day_of(of_type, store_id, work_type, day, suited, now))
    return found
