"""`/v1/admin/views/...`: the fleet's views (docs/fleet-views.md), read from the projections.

Every role may read them. A store-manager sees their own stores only: asking for another store is
404 as for one that does not exist, and without `store` they get each of their stores in turn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Path, Query, Request
from pydantic import StringConstraints
from sqlalchemy.engine import Connection

from cabinetcloud.admin.access import Principal, Reader, now_of, storage_of
from cabinetcloud.admin.histories import SERIAL_PATTERN, visible_cabinet
from cabinetcloud.admin.models import ID_PATTERN
from cabinetcloud.admin.stores import visible_store
from cabinetcloud.bodies import BodyLimitedRoute
from cabinetcloud.operators import Role
from cabinetcloud.projections import LOST_AFTER_DAYS, usage, views
from cabinetcloud.projections.shapes import Conflict, DeviceStatus, Fault, LostDevice, Rental, SlotPicture, UsageDay
from cabinetcloud.projections.status import device_status
from cabinetcloud.replies import refusals

router = APIRouter(prefix="/views", tags=["views"], route_class=BodyLimitedRoute)

StoreQuery = Annotated[
    str | None, Query(pattern=ID_PATTERN, description="one store; without it, every store the caller sees")
]
T = TypeVar("T")


def stores_to_show(conn: Connection, who: Principal, store: str | None) -> list[str | None]:
    """The stores a view runs for: the one asked (404 unless the caller sees it), a store-manager's
    own, or None (the whole fleet) for everyone else."""
    if store is not None:
        visible_store(conn, who, store)
        return [store]
    if who.role is Role.STORE_MANAGER:
        return list(who.operator.stores)
    return [None]


def _per_store(request: Request, who: Principal, store: str | None, view: Callable[..., list[T]]) -> list[T]:
    now = now_of(request)
    with storage_of(request).reading() as conn:
        return [item for shown in stores_to_show(conn, who, store) for item in view(conn, store=shown, now=now)]


@router.get("/rentals", responses=refusals(401, 403, 404))
def open_rentals(
    request: Request,
    who: Reader,
    store: StoreQuery = None,
    staff: Annotated[str | None, Query(pattern=ID_PATTERN, description="one staff member's rentals")] = None,
) -> list[Rental]:
    """Open rentals (device, staff, cabinet, slot, rented at, due at), oldest first."""
    return _per_store(request, who, store, lambda conn, **at: views.open_rentals(conn, staff=staff, **at))


@router.get("/overdue", responses=refusals(401, 403, 404))
def overdue(request: Request, who: Reader, store: StoreQuery = None) -> list[Rental]:
    """Open rentals past their due time now, the longest overdue first."""
    return _per_store(request, who, store, views.overdue)


@router.get("/lost", responses=refusals(401, 403, 404))
def lost(
    request: Request,
    who: Reader,
    store: StoreQuery = None,
    days: Annotated[int, Query(ge=1, le=365, description="not seen for this many days")] = LOST_AFTER_DAYS,
) -> list[LostDevice]:
    """Devices no cabinet has seen for `days` days (a device in a slot is seen while its cabinet syncs)."""
    return _per_store(request, who, store, lambda conn, **at: views.lost_devices(conn, days=days, **at))


@router.get("/faults", responses=refusals(401, 403, 404))
def faults(
    request: Request,
    who: Reader,
    store: StoreQuery = None,
    open_only: Annotated[bool, Query(alias="open", description="only those still keeping a device out")] = False,
) -> list[Fault]:
    """Repair tickets with their self-test evidence and problems reported at the screen, newest first."""
    return _per_store(request, who, store, lambda conn, **at: views.faults(conn, open_only=open_only, **at))


@router.get("/usage", responses=refusals(401, 403, 404))
def usage_per_day(
    request: Request,
    who: Reader,
    store: StoreQuery = None,
    days: Annotated[int, Query(ge=1, le=92, description="today (UTC) and the days before it")] = usage.USAGE_DAYS,
) -> list[UsageDay]:
    """Rentals per day, hours out, devices idle, battery at hand-out and at return: per store, then
    per work type."""
    return _per_store(request, who, store, lambda conn, **at: usage.usage(conn, days=days, **at))


@router.get("/conflicts", responses=refusals(401, 403, 404))
def conflicts(request: Request, who: Reader, store: StoreQuery = None) -> list[Conflict]:
    """Devices in two or more rentals at once (e.g. after a cabinet was restored from an old copy)."""
    found = _per_store(request, who, store, views.conflicts)
    # A conflict between two of a store-manager's stores is listed once.
    return list({conflict.device: conflict for conflict in found}.values())


@router.get("/away-returns", responses=refusals(401, 403, 404))
def away_returns(request: Request, who: Reader, store: StoreQuery = None) -> list[Rental]:
    """Rentals returned to a store that is not the device's home store, newest first."""
    found = _per_store(request, who, store, views.away_returns)
    return list({(rental.cabinet, rental.rental_id): rental for rental in found}.values())


@router.get("/devices", responses=refusals(401, 403, 404))
def devices_status(
    request: Request,
    who: Reader,
    serial: Annotated[
        list[Annotated[str, StringConstraints(pattern=SERIAL_PATTERN)]],
        Query(min_length=1, max_length=500, description="serials, repeated"),
    ],
    days: Annotated[int, Query(ge=1, le=365, description="lost after this many days unseen")] = LOST_AFTER_DAYS,
) -> list[DeviceStatus]:
    """Where each device stands now: in_slot, rented, in_repair, lost or unknown."""
    del who  # any role; a state says nothing of a store
    with storage_of(request).reading() as conn:
        found = device_status(conn, serial, now_of(request), lost_after_days=days)
    return [DeviceStatus(serial=name, state=state) for name, state in found.items()]


@router.get("/cabinets/{cabinet_id}/slots", responses=refusals(401, 403, 404))
def cabinet_slots(
    request: Request, who: Reader, cabinet_id: Annotated[str, Path(pattern=ID_PATTERN)]
) -> list[SlotPicture]:
    """The live picture of a cabinet's slots: state, device and since when, by slot number."""
    with storage_of(request).reading() as conn:
        visible_cabinet(conn, who, cabinet_id)
        return views.cabinet_slots(conn, cabinet=cabinet_id, now=now_of(request))
