"""Every view of the fleet at once, as plain data, for tests that compare two projections."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from cabinetcloud import schema
from cabinetcloud.projections import device_status, history, usage, views
from cabinetcloud.storage import Storage

STORES = (None, "demo", "north")
SERIALS = ["S1-0001", "S1-0002", "S1-0003", "S1-0101", "R1-0001", "R1-0002", "NOT-A-DEVICE"]


def every_view(storage: Storage, now: datetime, *, with_history: bool = True) -> dict[str, Any]:
    """The histories read the events table itself (their received_at is the ingest's clock)."""
    found: dict[str, Any] = {}
    with storage.reading() as conn:
        for store in STORES:
            found[f"open/{store}"] = views.open_rentals(conn, store=store, now=now)
            found[f"overdue/{store}"] = views.overdue(conn, store=store, now=now)
            found[f"conflicts/{store}"] = views.conflicts(conn, store=store, now=now)
            found[f"away/{store}"] = views.away_returns(conn, store=store, now=now)
            found[f"lost/{store}"] = views.lost_devices(conn, store=store, now=now)
            found[f"faults/{store}"] = views.faults(conn, store=store, now=now)
            found[f"usage/{store}"] = usage.usage(conn, store=store, days=3, now=now)
        for staff in ("demo-anna", "demo-chen", "north-erik"):
            found[f"open-of/{staff}"] = views.open_rentals(conn, store=None, staff=staff, now=now)
        cabinets = conn.execute(sa.select(schema.cabinets.c.id).order_by(schema.cabinets.c.id)).scalars().all()
        for cabinet in cabinets:
            found[f"slots/{cabinet}"] = views.cabinet_slots(conn, cabinet=cabinet, now=now)
        found["status"] = device_status(conn, SERIALS, now)
        for serial in SERIALS if with_history else ():
            found[f"history/{serial}"] = history.device_history(conn, serial)
    return {name: _plain(value) for name, value in found.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value
