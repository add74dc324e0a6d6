"""`/v1/admin/staff`: the people who rent devices, their badges, work types, roles, PINs and where
their notices go. Every change reaches the cabinets through the change feed (but `notify`, which
stays in the cloud).

A PIN is write-only: it is kept as a salted hash (as the seed file keeps it) and shown as `has_pin`.
Staff are deactivated, never deleted here, since a cabinet may still hold a rental of theirs; a
store-manager keeps the staff of their own stores.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request
from sqlalchemy.engine import Connection

from cabinetcloud import fleet, fleetcheck, fleetwrite, schema
from cabinetcloud.admin.access import Principal, Reader, StoreWriter, storage_of
from cabinetcloud.admin.fleet_common import known_to, merged, not_known, refuse
from cabinetcloud.admin.fleet_shapes import StaffOut, StaffPatch
from cabinetcloud.admin.models import ID_PATTERN
from cabinetcloud.admin.stores import visible_store
from cabinetcloud.bodies import BodyLimitedRoute
from cabinetcloud.fleetcheck import Badges
from cabinetcloud.fleetdata import StaffEntry
from cabinetcloud.replies import Refusal, refusals
from cabinetproto.wire import Entity

router = APIRouter(prefix="/staff", tags=["staff"], route_class=BodyLimitedRoute)

StaffId = Annotated[str, Path(pattern=ID_PATTERN)]
Filter = Annotated[str | None, Query(pattern=ID_PATTERN)]


def _visible(conn: Connection, who: Principal, staff_id: str) -> dict[str, Any]:
    found = fleetwrite.record(conn, Entity.STAFF, staff_id)
    if found is None or not who.sees_store(found["store"]):
        raise not_known("staff member", staff_id)
    return found


def _entry_fields(held: dict[str, Any]) -> dict[str, Any]:
    return {key: held[key] for key in ("id", "name", "badge", "store", "work_type", "role", "active", "notify")}


def _save(conn: Connection, who: Principal, entry: StaffEntry, *, kept_pin: bool) -> StaffOut:
    problems = fleetcheck.staff_problems(
        entry,
        known_to(conn, who),
        Badges.in_cloud(conn, leaving_out={entry.id}),
        f"staff {entry.id!r}",
        kept_pin=kept_pin,
    )
    refuse(problems)
    fleetwrite.save(conn, who.actor, Entity.STAFF, fleetwrite.staff_row(conn, entry), notify=entry.notify)
    return StaffOut.model_validate(_visible(conn, who, entry.id))


@router.get("", responses=refusals(401, 403, 404))
def list_staff(
    request: Request, who: Reader, store: Filter = None, work_type: Filter = None, active: bool | None = None
) -> list[StaffOut]:
    staff, contacts = schema.staff, schema.staff_contacts
    query = (
        sa.select(staff, contacts.c.notify).outerjoin(contacts, contacts.c.staff_id == staff.c.id).order_by(staff.c.id)
    )
    if store is not None:
        query = query.where(staff.c.store == store)
    if work_type is not None:
        query = query.where(staff.c.work_type == work_type)
    if active is not None:
        query = query.where(staff.c.active == active)
    with storage_of(request).reading() as conn:
        if store is not None:
            visible_store(conn, who, store)
        rows = conn.execute(query).mappings().all()
    return [
        StaffOut.model_validate({**row, "has_pin": row["pin_hash"] is not None})
        for row in rows
        if who.sees_store(row["store"])
    ]


@router.get("/{staff_id}", responses=refusals(401, 403, 404))
def get_staff(request: Request, staff_id: StaffId, who: Reader) -> StaffOut:
    with storage_of(request).reading() as conn:
        return StaffOut.model_validate(_visible(conn, who, staff_id))


@router.post("", status_code=201, responses=refusals(400, 413, 415, 401, 403, 404, 409))
def create_staff(request: Request, body: StaffEntry, who: StoreWriter) -> StaffOut:
    """A new staff member; the badge is kept in its roster form, the PIN as a hash."""
    with storage_of(request).writing() as conn:
        if fleetwrite.record(conn, Entity.STAFF, body.id) is not None:
            raise Refusal(409, "conflict", f"staff id {body.id!r} is taken")
        return _save(conn, who, body, kept_pin=False)


@router.patch("/{staff_id}", responses=refusals(400, 413, 415, 401, 403, 404, 409))
def update_staff(request: Request, staff_id: StaffId, body: StaffPatch, who: StoreWriter) -> StaffOut:
    """Change what the body names; a PIN left out stays as it is (a role without one drops it)."""
    with storage_of(request).writing() as conn:
        held = _visible(conn, who, staff_id)
        entry = merged(StaffEntry, _entry_fields(held), body)
        return _save(conn, who, entry, kept_pin=held["has_pin"] and body.pin is None)


@router.delete("/{staff_id}", responses=refusals(401, 403, 404))
def deactivate_staff(request: Request, staff_id: StaffId, who: StoreWriter) -> StaffOut:
    """Take someone out of service: their badge is refused; their history stays readable."""
    with storage_of(request).writing() as conn:
        held = _visible(conn, who, staff_id)
        # The row as held, not re-read as an entry: a badge kept from before the roster form stays.
        row = fleet.current(conn, Entity.STAFF, staff_id)
        assert row is not None
        fleetwrite.save(
            conn, who.actor, Entity.STAFF, {**row, "active": False}, notify=held["notify"], action="disable"
        )
        return StaffOut.model_validate(_visible(conn, who, staff_id))
