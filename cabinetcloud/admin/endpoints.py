"""`/v1/admin/endpoints`: a store's webhook receivers and chat / e-mail channels (docs/webhooks.md).

Admins and operators set them up; a store-manager and a viewer read their stores' endpoints. The signing
secret and the repair service's callback token are shown once, when made or rotated. `POST …/test` sends
an `endpoint.test` message at once and answers how it went.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection

from cabinetcloud import audit, schema
from cabinetcloud.admin.access import Principal, Reader, Writer, now_of, storage_of
from cabinetcloud.admin.models import Body, Ident
from cabinetcloud.admin.stores import visible_store
from cabinetcloud.bodies import BodyLimitedRoute
from cabinetcloud.outbox import endpoints, queue, worker
from cabinetcloud.replies import Refusal, refusals

router = APIRouter(prefix="/endpoints", tags=["endpoints"], route_class=BodyLimitedRoute)

EndpointId = Annotated[int, Path(ge=1, le=2**31 - 1)]
EventType = Literal[
    "repair_ticket.opened", "repair_ticket.updated", "rental.due_soon", "rental.overdue", "alarm.raised", "device.lost"
]
Url = Annotated[str, Field(min_length=8, max_length=2000)]


class EndpointIn(Body):
    store: Ident
    name: Ident
    kind: Literal["webhook", "channel"]
    url: Url
    event_types: Annotated[list[EventType], Field(max_length=6, default_factory=list)]
    purpose: Literal["events", "reminders", "escalation"] = "events"
    allow_private: bool = False


class EndpointPatch(Body):
    url: Url | None = None
    event_types: Annotated[list[EventType], Field(max_length=6)] | None = None
    allow_private: bool | None = None
    active: bool | None = None


class EndpointOut(BaseModel):
    id: int
    store: str
    name: str
    kind: str
    url: str
    event_types: list[str]
    purpose: str
    allow_private: bool
    active: bool
    disabled_reason: str | None
    signing_secrets: int
    created_at: datetime


class EndpointIssued(BaseModel):
    endpoint: EndpointOut
    secret: str | None = Field(None, description="the signing secret (whsec_…), shown once")
    callback_token: str | None = Field(None, description="the repair service's token for ticket updates, shown once")


class RotateIn(Body):
    drop_old: bool = Field(False, description="stop signing with the older secret at once")


class TestResult(BaseModel):
    delivery_id: int
    status: str
    last_status: int | None
    detail: str | None


def _refused(exc: endpoints.EndpointError) -> Refusal:
    return Refusal(exc.status, exc.code, str(exc))


def _visible(conn: Connection, who: Principal, endpoint_id: int) -> Any:
    try:
        row = endpoints.get(conn, endpoint_id)
    except endpoints.EndpointError as exc:
        raise _refused(exc) from None
    if not who.sees_store(row.store):
        raise Refusal(404, "not_found", f"endpoint {endpoint_id} is not known")
    return row


@router.get("", responses=refusals(401, 403))
def list_endpoints(
    request: Request, who: Reader, store: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9._-]{1,64}$")] = None
) -> list[EndpointOut]:
    query = sa.select(schema.endpoints).order_by(schema.endpoints.c.store, schema.endpoints.c.name)
    if store is not None:
        query = query.where(schema.endpoints.c.store == store)
    with storage_of(request).reading() as conn:
        rows = conn.execute(query).all()
    return [EndpointOut.model_validate(endpoints.public(row)) for row in rows if who.sees_store(row.store)]


@router.get("/{endpoint_id}", responses=refusals(401, 403, 404))
def get_endpoint(request: Request, endpoint_id: EndpointId, who: Reader) -> EndpointOut:
    with storage_of(request).reading() as conn:
        return EndpointOut.model_validate(endpoints.public(_visible(conn, who, endpoint_id)))


@router.post("", status_code=201, responses=refusals(400, 401, 403, 404, 409, 413, 415))
def create_endpoint(request: Request, body: EndpointIn, who: Writer) -> EndpointIssued:
    with storage_of(request).writing() as conn:
        visible_store(conn, who, body.store)
        try:
            issued = endpoints.create(conn, body.model_dump(), now_of(request))
        except endpoints.EndpointError as exc:
            raise _refused(exc) from None
        audit.record(conn, who.actor, "create", "endpoint", str(issued.endpoint["id"]), after=issued.endpoint)
    return EndpointIssued(
        endpoint=EndpointOut.model_validate(issued.endpoint), secret=issued.secret, callback_token=issued.callback_token
    )


@router.patch("/{endpoint_id}", responses=refusals(400, 401, 403, 404, 413, 415))
def update_endpoint(request: Request, endpoint_id: EndpointId, body: EndpointPatch, who: Writer) -> EndpointOut:
    with storage_of(request).writing() as conn:
        before = endpoints.public(_visible(conn, who, endpoint_id))
        try:
            after = endpoints.update(conn, endpoint_id, body.model_dump(exclude_none=True), now_of(request))
        except endpoints.EndpointError as exc:
            raise _refused(exc) from None
        audit.record(conn, who.actor, "update", "endpoint", str(endpoint_id), before=before, after=after)
    return EndpointOut.model_validate(after)


@router.post("/{endpoint_id}/rotate-secret", responses=refusals(400, 401, 403, 404, 409, 413, 415))
def rotate_secret(request: Request, endpoint_id: EndpointId, body: RotateIn, who: Writer) -> EndpointIssued:
    with storage_of(request).writing() as conn:
        before = endpoints.public(_visible(conn, who, endpoint_id))
        try:
            issued = endpoints.rotate_secret(conn, endpoint_id, drop_old=body.drop_old)
        except endpoints.EndpointError as exc:
            raise _refused(exc) from None
        audit.record(conn, who.actor, "rotate", "endpoint", str(endpoint_id), before=before, after=issued.endpoint)
    return EndpointIssued(endpoint=EndpointOut.model_validate(issued.endpoint), secret=issued.secret)


@router.post("/{endpoint_id}/test", responses=refusals(401, 403, 404))
def send_test(request: Request, endpoint_id: EndpointId, who: Writer) -> TestResult:
    """Send an `endpoint.test` message now, through the outbox like any other, and say how it went."""
    storage = storage_of(request)
    now = now_of(request)
    with storage.writing() as conn:
        row = _visible(conn, who, endpoint_id)
        body: dict[str, Any] = {
            "type": "endpoint.test",
            "timestamp": now.isoformat().replace("+00:00", "Z"),
            "data": {"store": row.store, "endpoint": row.name, "requested_by": who.operator.name},
        }
        if row.kind == "channel":
            body = {"title": "cabinet-cloud", "body": f"Test message for {row.store}/{row.name}", "mentions": []}
        key = f"test:{now.isoformat()}:{who.operator.name}"
        queue.enqueue(storage, conn, endpoint_id, "endpoint.test", body, key, now)
        delivery_id = conn.execute(
            sa.select(schema.deliveries.c.id).where(
                schema.deliveries.c.endpoint_id == endpoint_id, schema.deliveries.c.dedup_key == key[:200]
            )
        ).scalar_one()
        audit.record(conn, who.actor, "test", "endpoint", str(endpoint_id), after={"delivery": delivery_id})
    worker.run_once(storage, now, only=delivery_id)
    with storage.writing() as conn:
        queue.give_up(conn, delivery_id, "a test message is sent once, not retried")
        done = conn.execute(sa.select(schema.deliveries).where(schema.deliveries.c.id == delivery_id)).one()
    return TestResult(delivery_id=delivery_id, status=done.status, last_status=done.last_status, detail=done.last_error)
