"""`/v1/admin/cabinets`: the cabinets with their sync health; enrol, rotate and revoke their tokens.

A token is in the reply once (enrol, rotate) and never again: the cloud keeps only its hash.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request
from sqlalchemy.engine import Connection

from cabinetcloud import audit, auth, schema
from cabinetcloud.admin.access import Principal, Reader, Writer, now_of, storage_of
from cabinetcloud.admin.models import ID_PATTERN, CabinetIn, CabinetOut, IssuedCabinetToken, SyncHealth
from cabinetcloud.admin.stores import visible_store
from cabinetcloud.bodies import BodyLimitedRoute
from cabinetcloud.replies import Refusal, refusals

router = APIRouter(prefix="/cabinets", tags=["cabinets"], route_class=BodyLimitedRoute)

CabinetId = Annotated[str, Path(pattern=ID_PATTERN)]


def _cabinets(conn: Connection, *, cabinet_id: str | None = None, store: str | None = None) -> list[CabinetOut]:
    query = sa.select(schema.cabinets).order_by(schema.cabinets.c.id)
    held = sa.select(
        schema.epochs.c.cabinet_id,
        sa.func.count().label("epochs"),
        sa.func.coalesce(sa.func.sum(schema.epochs.c.acked_seq), 0).label("events_held"),
        sa.func.max(schema.epochs.c.fork_detected_at).label("fork_detected_at"),
    ).group_by(schema.epochs.c.cabinet_id)
    if cabinet_id is not None:
        query = query.where(schema.cabinets.c.id == cabinet_id)
        held = held.where(schema.epochs.c.cabinet_id == cabinet_id)
    if store is not None:
        query = query.where(schema.cabinets.c.store == store)
    epochs = {row.cabinet_id: row for row in conn.execute(held)}
    acked = {(row.cabinet_id, row.epoch): row.acked_seq for row in conn.execute(_acked(cabinet_id))}
    found = []
    for row in conn.execute(query):
        epoch = epochs.get(row.id)
        fork = epoch.fork_detected_at if epoch is not None else None
        sync = SyncHealth(
            last_session_at=row.last_session_at,
            software_version=row.software_version,
            protocol_version=row.protocol_version,
            schema_version=row.schema_version,
            clock_skew_s=row.skew_s,
            clock_skew_flagged=row.skew_flagged,
            events_held=int(epoch.events_held) if epoch is not None else 0,
            pending_events=_pending(row, acked),
            epochs=int(epoch.epochs) if epoch is not None else 0,
            # max() over the column loses its type on SQLite: read back through the column's type.
            fork_detected_at=schema.UtcDateTime().process_result_value(fork, conn.dialect) if fork else None,
        )
        found.append(
            CabinetOut(
                id=row.id,
                store=row.store,
                enrolled=row.token_hash is not None,
                token_issued_at=row.token_issued_at,
                revoked_at=row.revoked_at,
                sync=sync,
            )
        )
    return found


def _acked(cabinet_id: str | None) -> sa.Select[Any]:
    query = sa.select(schema.epochs.c.cabinet_id, schema.epochs.c.epoch, schema.epochs.c.acked_seq)
    return query if cabinet_id is None else query.where(schema.epochs.c.cabinet_id == cabinet_id)


def _pending(row: Any, acked: dict[tuple[str, str], int]) -> int | None:
    if row.reported_seq is None:
        return None
    return max(0, int(row.reported_seq) - int(acked.get((row.id, row.reported_epoch), 0)))


def visible_cabinet(conn: Connection, who: Principal, cabinet_id: str) -> CabinetOut:
    found = _cabinets(conn, cabinet_id=cabinet_id)
    if not found or not who.sees_store(found[0].store):
        raise Refusal(404, "not_found", f"cabinet {cabinet_id!r} is not known")
    return found[0]


def _audited(conn: Connection, who: Principal, action: str, cabinet_id: str, before: Any) -> None:
    audit.record(
        conn, who.actor, action, "cabinet", cabinet_id, before=before, after=auth.cabinet_record(conn, cabinet_id)
    )


@router.get("", responses=refusals(401, 403, 404))
def list_cabinets(
    request: Request, who: Reader, store: Annotated[str | None, Query(pattern=ID_PATTERN)] = None
) -> list[CabinetOut]:
    with storage_of(request).reading() as conn:
        if store is not None:
            visible_store(conn, who, store)
        return [cabinet for cabinet in _cabinets(conn, store=store) if who.sees_store(cabinet.store)]


@router.get("/{cabinet_id}", responses=refusals(401, 403, 404))
def get_cabinet(request: Request, cabinet_id: CabinetId, who: Reader) -> CabinetOut:
    with storage_of(request).reading() as conn:
        return visible_cabinet(conn, who, cabinet_id)


@router.post("", status_code=201, responses=refusals(400, 413, 415, 401, 403, 404, 409))
def enrol_cabinet(request: Request, body: CabinetIn, who: Writer) -> IssuedCabinetToken:
    """Register a cabinet (or take over a seeded one without a token) and issue its first token."""
    with storage_of(request).writing() as conn:
        visible_store(conn, who, body.store)
        before = auth.cabinet_record(conn, body.id)
        if before is not None and before["store"] != body.store:
            raise Refusal(
                409, "conflict", f"cabinet {body.id!r} belongs to store {before['store']!r}, not {body.store!r}"
            )
        if before is not None and before["enrolled"]:
            raise Refusal(409, "conflict", f"cabinet {body.id!r} is already enrolled: rotate its token instead")
        token = auth.enroll(conn, body.id, body.store, now_of(request))
        _audited(conn, who, "enroll", body.id, before)
        return IssuedCabinetToken(cabinet=visible_cabinet(conn, who, body.id), token=token)


@router.post("/{cabinet_id}/token", responses=refusals(401, 403, 404))
def rotate_token(request: Request, cabinet_id: CabinetId, who: Writer) -> IssuedCabinetToken:
    """A new token for the cabinet; the old one stops working at once."""
    with storage_of(request).writing() as conn:
        visible_cabinet(conn, who, cabinet_id)
        before = auth.cabinet_record(conn, cabinet_id)
        token = auth.rotate(conn, cabinet_id, now_of(request))
        _audited(conn, who, "rotate", cabinet_id, before)
        return IssuedCabinetToken(cabinet=visible_cabinet(conn, who, cabinet_id), token=token)


@router.delete("/{cabinet_id}/token", responses=refusals(401, 403, 404, 409))
def revoke_token(request: Request, cabinet_id: CabinetId, who: Writer) -> CabinetOut:
    """Revoke the cabinet's token: it cannot sync until it is enrolled again."""
    with storage_of(request).writing() as conn:
        current = visible_cabinet(conn, who, cabinet_id)
        if not current.enrolled:
            raise Refusal(409, "conflict", f"cabinet {cabinet_id!r} has no token to revoke")
        before = auth.cabinet_record(conn, cabinet_id)
        auth.revoke(conn, cabinet_id, now_of(request))
        _audited(conn, who, "revoke", cabinet_id, before)
        return visible_cabinet(conn, who, cabinet_id)
