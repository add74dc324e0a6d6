"""`/v1/admin/stores`: list, read, create and rename stores. Stores are not replicated to cabinets."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Path, Request
from sqlalchemy.engine import Connection

from cabinetcloud import audit, schema
from cabinetcloud.admin.access import Principal, Reader, Writer, storage_of
from cabinetcloud.admin.models import ID_PATTERN, StoreIn, StoreOut, StorePatch
from cabinetcloud.bodies import BodyLimitedRoute
from cabinetcloud.replies import Refusal, refusals

router = APIRouter(prefix="/stores", tags=["stores"], route_class=BodyLimitedRoute)

StoreId = Annotated[str, Path(pattern=ID_PATTERN)]


def _stores(conn: Connection, ids: list[str] | None = None) -> list[StoreOut]:
    count = (
        sa.select(sa.func.count())
        .select_from(schema.cabinets)
        .where(schema.cabinets.c.store == schema.stores.c.id)
        .scalar_subquery()
    )
    query = sa.select(schema.stores.c.id, schema.stores.c.name, count.label("cabinets")).order_by(schema.stores.c.id)
    if ids is not None:
        query = query.where(schema.stores.c.id.in_(ids))
    return [StoreOut(id=row.id, name=row.name, cabinets=row.cabinets) for row in conn.execute(query)]


def visible_store(conn: Connection, who: Principal, store_id: str) -> StoreOut:
    """The store, or 404 when it does not exist or the caller may not see it (a store-manager's)."""
    found = _stores(conn, [store_id]) if who.sees_store(store_id) else []
    if not found:
        raise Refusal(404, "not_found", f"store {store_id!r} is not known")
    return found[0]


@router.get("", responses=refusals(401, 403))
def list_stores(request: Request, who: Reader) -> list[StoreOut]:
    with storage_of(request).reading() as conn:
        return [store for store in _stores(conn) if who.sees_store(store.id)]


@router.get("/{store_id}", responses=refusals(401, 403, 404))
def get_store(request: Request, store_id: StoreId, who: Reader) -> StoreOut:
    with storage_of(request).reading() as conn:
        return visible_store(conn, who, store_id)


@router.post("", status_code=201, responses=refusals(400, 413, 415, 401, 403, 409))
def create_store(request: Request, body: StoreIn, who: Writer) -> StoreOut:
    with storage_of(request).writing() as conn:
        if _stores(conn, [body.id]):
            raise Refusal(409, "conflict", f"store {body.id!r} already exists")
        conn.execute(sa.insert(schema.stores).values(id=body.id, name=body.name))
        made = visible_store(conn, who, body.id)
        audit.record(conn, who.actor, "create", "store", body.id, after=made.model_dump())
        return made


@router.patch("/{store_id}", responses=refusals(400, 413, 415, 401, 403, 404))
def update_store(request: Request, store_id: StoreId, body: StorePatch, who: Writer) -> StoreOut:
    with storage_of(request).writing() as conn:
        before = visible_store(conn, who, store_id)
        conn.execute(sa.update(schema.stores).where(schema.stores.c.id == store_id).values(name=body.name))
        after = visible_store(conn, who, store_id)
        if after != before:
            audit.record(
                conn, who.actor, "update", "store", store_id, before=before.model_dump(), after=after.model_dump()
            )
        return after
