"""The fleet's views as one operator may see them: the whole fleet, or a store-manager's stores.

The views (cabinetcloud/projections) take one store or None for the whole fleet; a store-manager's
page asks each of their stores in turn, as their API routes do, so they see exactly their stores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from fastapi import Request
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.admin import cabinets, stores
from cabinetcloud.admin.access import Principal
from cabinetcloud.admin.models import CabinetOut, StoreOut
from cabinetcloud.dashboard.signin import PageRefusal
from cabinetcloud.operators import Role
from cabinetcloud.projections import usage
from cabinetcloud.projections.shapes import UsageDay
from cabinetcloud.replies import Refusal

T = TypeVar("T")


def visible_cabinet(request: Request, who: Principal, cabinet_id: str) -> CabinetOut:
    """The cabinet as the admin API gives it to this operator, or the 404 page (unknown, or not theirs)."""
    try:
        return cabinets.get_cabinet(request, cabinet_id, who)
    except Refusal as exc:
        if exc.status_code == 404:
            raise PageRefusal(404, "missing.cabinet", id=cabinet_id) from None
        raise


def visible_store(request: Request, who: Principal, store_id: str) -> StoreOut:
    try:
        return stores.get_store(request, store_id, who)
    except Refusal as exc:
        if exc.status_code == 404:
            raise PageRefusal(404, "missing.store", id=store_id) from None
        raise


def stores_of(who: Principal) -> tuple[str, ...] | None:
    """The stores the operator is limited to, or None for the whole fleet."""
    return who.operator.stores if who.role is Role.STORE_MANAGER else None


def across(who: Principal, view: Callable[..., list[T]], conn: Connection, **arguments: Any) -> list[T]:
    """A view over every store the operator sees: once for the fleet, or once per store of theirs."""
    stores = stores_of(who)
    if stores is None:
        return view(conn, store=None, **arguments)
    return [item for store in stores for item in view(conn, store=store, **arguments)]


def count_by_store(items: Sequence[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item.store] = counts.get(item.store, 0) + 1
    return counts


def cabinet_stores(conn: Connection) -> dict[str, str]:
    return {row.id: row.store for row in conn.execute(sa.select(schema.cabinets.c.id, schema.cabinets.c.store))}


def usage_of(conn: Connection, who: Principal, store: str | None, days: int, now: datetime) -> list[UsageDay]:
    """Usage per day of one store, or of every store the operator sees."""
    if store is not None:
        return usage.usage(conn, store=store, days=days, now=now)
    return across(who, usage.usage, conn, days=days, now=now)


def series_by(
    days: Sequence[UsageDay], key: Callable[[UsageDay], str], value: Callable[[UsageDay], float | None]
) -> tuple[list[date], list[tuple[str, list[float | None]]]]:
    """Usage days as a chart's x axis (every day, in order) and one series per key."""
    axis = sorted({day.day for day in days})
    grouped: dict[str, dict[date, float | None]] = {}
    for day in days:
        grouped.setdefault(key(day), {})[day.day] = value(day)
    return axis, [(name, [values.get(day) for day in axis]) for name, values in sorted(grouped.items())]
