"""`/v1/admin/devices`: the fleet's handhelds: serial, model, home store, whether in service, and
where each stands by its cabinets' events (`status`, from the projections: docs/fleet-views.md).

A device is deactivated, never deleted here: a cabinet may still hold it or a rental of it. A
store-manager keeps the devices of their own stores.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request
from sqlalchemy.engine import Connection

from cabinetcloud import fleet, fleetcheck, fleetwrite, schema
from cabinetcloud.admin.access import Principal, Reader, StoreWriter, now_of, storage_of
from cabinetcloud.admin.fleet_common import known_to, merged, not_known, refuse
from cabinetcloud.admin.fleet_shapes import DeviceOut, DevicePatch
from cabinetcloud.admin.models import ID_PATTERN
from cabinetcloud.admin.stores import visible_store
from cabinetcloud.bodies import BodyLimitedRoute
from cabinetcloud.fleetdata import DeviceEntry
from cabinetcloud.projections import DeviceState, device_status
from cabinetcloud.replies import Refusal, refusals
from cabinetproto.wire import Entity

router = APIRouter(prefix="/devices", tags=["devices"], route_class=BodyLimitedRoute)

Serial = Annotated[str, Path(pattern=ID_PATTERN)]
Filter = Annotated[str | None, Query(pattern=ID_PATTERN)]


def _with_status(conn: Connection, rows: list[dict[str, Any]], now: datetime) -> list[DeviceOut]:
    states = device_status(conn, [row["serial"] for row in rows], now)
    return [DeviceOut.model_validate({**row, "status": states[row["serial"]]}) for row in rows]


def _visible(conn: Connection, who: Principal, serial: str) -> dict[str, Any]:
    found = fleetwrite.record(conn, Entity.DEVICES, serial)
    if found is None or not who.sees_store(found["store"]):
        raise not_known("device", serial)
    return found


def _save(conn: Connection, who: Principal, entry: DeviceEntry, now: datetime, action: str | None = None) -> DeviceOut:
    refuse(fleetcheck.device_problems(entry, known_to(conn, who)))
    fleetwrite.save(conn, who.actor, Entity.DEVICES, fleetwrite.device_row(entry), action=action)
    return _with_status(conn, [_visible(conn, who, entry.serial)], now)[0]


@router.get("", responses=refusals(401, 403, 404))
def list_devices(
    request: Request,
    who: Reader,
    store: Filter = None,
    model: Filter = None,
    active: bool | None = None,
    status: DeviceState | None = None,
) -> list[DeviceOut]:
    devices = schema.devices
    query = sa.select(devices).order_by(devices.c.serial)
    if store is not None:
        query = query.where(devices.c.store == store)
    if model is not None:
        query = query.where(devices.c.model == model)
    if active is not None:
        query = query.where(devices.c.active == active)
    with storage_of(request).reading() as conn:
        if store is not None:
            visible_store(conn, who, store)
        rows = [dict(row) for row in conn.execute(query).mappings() if who.sees_store(row["store"])]
        found = _with_status(conn, rows, now_of(request))
    return [device for device in found if status is None or device.status is status]


@router.get("/{serial}", responses=refusals(401, 403, 404))
def get_device(request: Request, serial: Serial, who: Reader) -> DeviceOut:
    with storage_of(request).reading() as conn:
        return _with_status(conn, [_visible(conn, who, serial)], now_of(request))[0]


@router.post("", status_code=201, responses=refusals(400, 413, 415, 401, 403, 404, 409))
def create_device(request: Request, body: DeviceEntry, who: StoreWriter) -> DeviceOut:
    with storage_of(request).writing() as conn:
        if fleet.current(conn, Entity.DEVICES, body.serial) is not None:
            raise Refusal(409, "conflict", f"device {body.serial!r} is already in the fleet")
        return _save(conn, who, body, now_of(request))


@router.patch("/{serial}", responses=refusals(400, 413, 415, 401, 403, 404))
def update_device(request: Request, serial: Serial, body: DevicePatch, who: StoreWriter) -> DeviceOut:
    """Another model or home store, or back in service (active=true)."""
    with storage_of(request).writing() as conn:
        return _save(conn, who, merged(DeviceEntry, _visible(conn, who, serial), body), now_of(request))


@router.delete("/{serial}", responses=refusals(401, 403, 404))
def deactivate_device(request: Request, serial: Serial, who: StoreWriter) -> DeviceOut:
    """Retire a device from service; its history stays readable."""
    with storage_of(request).writing() as conn:
        held = _visible(conn, who, serial)
        entry = DeviceEntry.model_validate({**held, "active": False})
        return _save(conn, who, entry, now_of(request), action="disable")
