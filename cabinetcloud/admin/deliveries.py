"""`/v1/admin/deliveries`: every outbound delivery with its attempts, next try and last status.

Readers see their stores' deliveries (a store-manager's own); admins and operators may make a failed or
held delivery due again now. A delivery's payload is shown as it was sent, secrets aside (a channel's URL
is the endpoint's, not the delivery's).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel

from cabinetcloud import audit, schema
from cabinetcloud.admin.access import Principal, Reader, Writer, now_of, storage_of
from cabinetcloud.bodies import BodyLimitedRoute
from cabinetcloud.operators import Role
from cabinetcloud.outbox import queue
from cabinetcloud.replies import Refusal, refusals

router = APIRouter(prefix="/deliveries", tags=["deliveries"], route_class=BodyLimitedRoute)

D, E, A = schema.deliveries, schema.endpoints, schema.delivery_attempts
DeliveryId = Annotated[int, Path(ge=1, le=2**52)]
MAX_PAGE = 200


class Attempt(BaseModel):
    number: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    status_code: int | None
    duration_ms: int | None
    detail: str | None


class Delivery(BaseModel):
    id: int
    message_id: str
    store: str
    endpoint_id: int
    endpoint: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryDetail(Delivery):
    payload: Any
    attempt_log: list[Attempt]


class DeliveryPage(BaseModel):
    deliveries: list[Delivery]
    next_before: int | None


def _select() -> sa.Select[Any]:
    return sa.select(D, E.c.store, E.c.name.label("endpoint")).join(E, E.c.id == D.c.endpoint_id)


def _delivery(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in Delivery.model_fields}


@router.get("", responses=refusals(401, 403))
def list_deliveries(
    request: Request,
    who: Reader,
    store: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9._-]{1,64}$")] = None,
    status: Literal["pending", "delivered", "failed", "held"] | None = None,
    endpoint: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**52)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> DeliveryPage:
    query = _select().order_by(D.c.id.desc()).limit(limit + 1)
    for wanted, column in ((store, E.c.store), (status, D.c.status), (endpoint, D.c.endpoint_id)):
        if wanted is not None:
            query = query.where(column == wanted)
    if before is not None:
        query = query.where(D.c.id < before)
    if who.role is Role.STORE_MANAGER:
        query = query.where(E.c.store.in_(who.operator.stores))
    with storage_of(request).reading() as conn:
        rows = conn.execute(query).all()
    page = [Delivery.model_validate(_delivery(row)) for row in rows[:limit]]
    return DeliveryPage(deliveries=page, next_before=page[-1].id if len(rows) > limit else None)


def _visible(conn: Any, who: Principal, delivery_id: int) -> Any:
    row = conn.execute(_select().where(D.c.id == delivery_id)).first()
    if row is None or not who.sees_store(row.store):
        raise Refusal(404, "not_found", f"delivery {delivery_id} is not known")
    return row


@router.get("/{delivery_id}", responses=refusals(401, 403, 404))
def get_delivery(request: Request, delivery_id: DeliveryId, who: Reader) -> DeliveryDetail:
    with storage_of(request).reading() as conn:
        row = _visible(conn, who, delivery_id)
        tries = conn.execute(sa.select(A).where(A.c.delivery_id == delivery_id).order_by(A.c.number)).all()
    log = [Attempt.model_validate({name: getattr(t, name) for name in Attempt.model_fields}) for t in tries]
    return DeliveryDetail(**_delivery(row), payload=json.loads(row.payload), attempt_log=log)


@router.post("/{delivery_id}/retry", responses=refusals(401, 403, 404, 409))
def retry_delivery(request: Request, delivery_id: DeliveryId, who: Writer) -> Delivery:
    with storage_of(request).writing() as conn:
        before = _delivery(_visible(conn, who, delivery_id))
        if not queue.retry(conn, [delivery_id], now_of(request)):
            raise Refusal(
                409, "conflict", f"delivery {delivery_id} is {before['status']}: only failed or held ones are retried"
            )
        after = _delivery(_visible(conn, who, delivery_id))
        audit.record(conn, who.actor, "retry", "delivery", str(delivery_id), before=before, after=after)
    return Delivery.model_validate(after)
