"""`/v1/admin/devices/{serial}/history` and `/v1/admin/cabinets/{id}/log`: events one by one, as the
cabinets sent them, read from the events table by index (docs/fleet-views.md says why)."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.admin.access import Principal, Reader, storage_of
from cabinetcloud.admin.models import ID_PATTERN
from cabinetcloud.bodies import BodyLimitedRoute
from cabinetcloud.operators import Role
from cabinetcloud.projections import history
from cabinetcloud.projections.shapes import CabinetLogPage, HistoryPage
from cabinetcloud.replies import Refusal, refusals

router = APIRouter(tags=["history"], route_class=BodyLimitedRoute)

SERIAL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
Limit = Annotated[int, Query(ge=1, le=history.MAX_PAGE)]


def visible_cabinet(conn: Connection, who: Principal, cabinet_id: str) -> str:
    """The cabinet's store, or 404 when it does not exist or is of a store the caller may not see."""
    store = conn.execute(sa.select(schema.cabinets.c.store).where(schema.cabinets.c.id == cabinet_id)).scalar()
    if store is None or not who.sees_store(store):
        raise Refusal(404, "not_found", f"cabinet {cabinet_id!r} is not known")
    return str(store)


def _visible_device(conn: Connection, who: Principal, serial: str) -> None:
    """404 for a device neither the fleet lists nor any event named, and for a store-manager, for one
    whose home is not one of their stores (a device the fleet does not list has no home to show)."""
    home = conn.execute(sa.select(schema.devices.c.store).where(schema.devices.c.serial == serial)).scalar()
    if home is None:
        named = conn.execute(sa.select(schema.events.c.seq).where(schema.events.c.device == serial).limit(1)).first()
        if named is None or who.role is Role.STORE_MANAGER:
            raise Refusal(404, "not_found", f"device {serial!r} is not known")
    elif not who.sees_store(home):
        raise Refusal(404, "not_found", f"device {serial!r} is not known")


@router.get("/devices/{serial}/history", responses=refusals(401, 403, 404))
def device_history(
    request: Request,
    who: Reader,
    serial: Annotated[str, Path(pattern=SERIAL_PATTERN)],
    offset: Annotated[int, Query(ge=0, le=2**31, description="the next_offset of the previous page")] = 0,
    limit: Limit = 100,
) -> HistoryPage:
    """Every event that named the device, at every cabinet, newest first by the cabinets' clocks."""
    with storage_of(request).reading() as conn:
        _visible_device(conn, who, serial)
        return history.device_history(conn, serial, offset=offset, limit=limit)


@router.get("/cabinets/{cabinet_id}/log", responses=refusals(401, 403, 404))
def cabinet_log(
    request: Request,
    who: Reader,
    cabinet_id: Annotated[str, Path(pattern=ID_PATTERN)],
    epoch: Annotated[str | None, Query(min_length=1, max_length=64, description="default: the latest")] = None,
    after: Annotated[int, Query(ge=0, le=2**52, description="the next_after of the previous page")] = 0,
    limit: Limit = 100,
) -> CabinetLogPage:
    """The cabinet's events of one epoch in seq order, a page at a time; `epochs` lists them all."""
    with storage_of(request).reading() as conn:
        visible_cabinet(conn, who, cabinet_id)
        page = history.cabinet_log(conn, cabinet_id, epoch=epoch, after=after, limit=limit)
    if epoch is not None and epoch not in page.epochs:
        raise Refusal(404, "not_found", f"cabinet {cabinet_id!r} has no epoch {epoch!r} in the cloud")
    return page
