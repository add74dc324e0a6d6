"""`/v1/admin/work-types`: what staff rent devices for: the apps a device is provisioned with, the
battery it needs, how long a rental lasts, how many devices one person holds, the models that suit
it, and its names in every language. Fleet-wide: admins and operators change them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy.engine import Connection

from cabinetcloud import fleet, fleetcheck, fleetwrite
from cabinetcloud.admin.access import Principal, Reader, Writer, storage_of
from cabinetcloud.admin.fleet_common import known_to, local_name, merged, not_known, refuse
from cabinetcloud.admin.fleet_shapes import WorkTypeOut, WorkTypePatch
from cabinetcloud.admin.models import ID_PATTERN
from cabinetcloud.bodies import BodyLimitedRoute
from cabinetcloud.fleetdata import WorkTypeEntry
from cabinetcloud.replies import Refusal, refusals
from cabinetproto.wire import Entity

router = APIRouter(prefix="/work-types", tags=["work types"], route_class=BodyLimitedRoute)

WorkTypeId = Annotated[str, Path(pattern=ID_PATTERN)]
FIELDS = ("id", "apps", "battery_threshold", "rental_limit_minutes", "device_limit", "device_models")


def _held(conn: Connection, work_type: str) -> dict[str, Any]:
    found = fleetwrite.record(conn, Entity.WORK_TYPES, work_type)
    if found is None:
        raise not_known("work type", work_type)
    return found


def _save(conn: Connection, who: Principal, entry: WorkTypeEntry) -> WorkTypeOut:
    refuse(fleetcheck.work_type_problems(entry, known_to(conn, who)))
    fleetwrite.save(conn, who.actor, Entity.WORK_TYPES, fleetwrite.work_type_row(entry))
    return WorkTypeOut.model_validate(_held(conn, entry.id))


@router.get("", responses=refusals(401, 403))
def list_work_types(request: Request, who: Reader) -> list[WorkTypeOut]:
    with storage_of(request).reading() as conn:
        return [WorkTypeOut.model_validate(_held(conn, i)) for i in sorted(fleet.ids(conn, Entity.WORK_TYPES))]


@router.get("/{work_type}", responses=refusals(401, 403, 404))
def get_work_type(request: Request, work_type: WorkTypeId, who: Reader) -> WorkTypeOut:
    with storage_of(request).reading() as conn:
        return WorkTypeOut.model_validate(_held(conn, work_type))


@router.post("", status_code=201, responses=refusals(400, 413, 415, 401, 403, 404, 409))
def create_work_type(request: Request, body: WorkTypeEntry, who: Writer) -> WorkTypeOut:
    with storage_of(request).writing() as conn:
        if fleetwrite.record(conn, Entity.WORK_TYPES, body.id) is not None:
            raise Refusal(409, "conflict", f"work type {body.id!r} already exists")
        return _save(conn, who, body)


@router.patch("/{work_type}", responses=refusals(400, 413, 415, 401, 403, 404))
def update_work_type(request: Request, work_type: WorkTypeId, body: WorkTypePatch, who: Writer) -> WorkTypeOut:
    with storage_of(request).writing() as conn:
        held = _held(conn, work_type)
        fields = {**{key: held[key] for key in FIELDS}, "name": local_name(held)}
        return _save(conn, who, merged(WorkTypeEntry, fields, body))


@router.delete("/{work_type}", status_code=204, responses=refusals(401, 403, 404, 409))
def delete_work_type(request: Request, work_type: WorkTypeId, who: Writer) -> Response:
    """Only a work type nobody has: 409 names the staff that still do."""
    with storage_of(request).writing() as conn:
        _held(conn, work_type)
        users = fleetcheck.work_type_users(conn, work_type)
        if users is not None:
            raise Refusal(409, "conflict", users)
        fleetwrite.remove(conn, who.actor, Entity.WORK_TYPES, work_type)
    return Response(status_code=204)
