"""`/v1/admin/device-models`: the handheld models of the fleet and the slot type that holds each, and
`/v1/admin/slot-types`: the slot types in use, with their models. Fleet-wide: admins and operators
change them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy.engine import Connection

from cabinetcloud import fleet, fleetcheck, fleetwrite
from cabinetcloud.admin.access import Principal, Reader, Writer, storage_of
from cabinetcloud.admin.fleet_common import local_name, merged, not_known
from cabinetcloud.admin.fleet_shapes import DeviceModelOut, DeviceModelPatch, SlotTypeOut
from cabinetcloud.admin.models import ID_PATTERN
from cabinetcloud.bodies import BodyLimitedRoute
from cabinetcloud.fleetdata import DeviceModelEntry
from cabinetcloud.replies import Refusal, refusals
from cabinetproto.wire import Entity

router = APIRouter(tags=["device models"], route_class=BodyLimitedRoute)

ModelId = Annotated[str, Path(pattern=ID_PATTERN)]


def _held(conn: Connection, model: str) -> dict[str, Any]:
    found = fleetwrite.record(conn, Entity.DEVICE_MODELS, model)
    if found is None:
        raise not_known("device model", model)
    return found


def _all(conn: Connection) -> list[DeviceModelOut]:
    return [DeviceModelOut.model_validate(_held(conn, i)) for i in sorted(fleet.ids(conn, Entity.DEVICE_MODELS))]


def _save(conn: Connection, who: Principal, entry: DeviceModelEntry) -> DeviceModelOut:
    fleetwrite.save(conn, who.actor, Entity.DEVICE_MODELS, fleetwrite.device_model_row(entry))
    return DeviceModelOut.model_validate(_held(conn, entry.id))


@router.get("/device-models", responses=refusals(401, 403))
def list_device_models(request: Request, who: Reader) -> list[DeviceModelOut]:
    with storage_of(request).reading() as conn:
        return _all(conn)


@router.get("/device-models/{model}", responses=refusals(401, 403, 404))
def get_device_model(request: Request, model: ModelId, who: Reader) -> DeviceModelOut:
    with storage_of(request).reading() as conn:
        return DeviceModelOut.model_validate(_held(conn, model))


@router.post("/device-models", status_code=201, responses=refusals(400, 413, 415, 401, 403, 409))
def create_device_model(request: Request, body: DeviceModelEntry, who: Writer) -> DeviceModelOut:
    with storage_of(request).writing() as conn:
        if fleetwrite.record(conn, Entity.DEVICE_MODELS, body.id) is not None:
            raise Refusal(409, "conflict", f"device model {body.id!r} already exists")
        return _save(conn, who, body)


@router.patch("/device-models/{model}", responses=refusals(400, 413, 415, 401, 403, 404))
def update_device_model(request: Request, model: ModelId, body: DeviceModelPatch, who: Writer) -> DeviceModelOut:
    """A new name, or another slot type (cabinets then return the model to slots of that type)."""
    with storage_of(request).writing() as conn:
        held = _held(conn, model)
        fields = {"id": model, "name": local_name(held), "slot_type": held["slot_type"], "link": held["link"]}
        return _save(conn, who, merged(DeviceModelEntry, fields, body))


@router.delete("/device-models/{model}", status_code=204, responses=refusals(401, 403, 404, 409))
def delete_device_model(request: Request, model: ModelId, who: Writer) -> Response:
    """Only a model no work type allows and no device is: 409 names who still refers to it."""
    with storage_of(request).writing() as conn:
        _held(conn, model)
        users = fleetcheck.device_model_users(conn, model)
        if users is not None:
            raise Refusal(409, "conflict", users)
        fleetwrite.remove(conn, who.actor, Entity.DEVICE_MODELS, model)
    return Response(status_code=204)


@router.get("/slot-types", responses=refusals(401, 403))
def list_slot_types(request: Request, who: Reader) -> list[SlotTypeOut]:
    """The slot types the device models name: a cabinet module's `slot_type` must be one of them."""
    with storage_of(request).reading() as conn:
        models = _all(conn)
    types = sorted({model.slot_type for model in models})
    return [SlotTypeOut(slot_type=t, device_models=[m.id for m in models if m.slot_type == t]) for t in types]
