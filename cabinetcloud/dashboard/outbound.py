"""The pages over what the cloud sends out: a store's endpoints (webhook receivers, chat and e-mail
channels) with the forms to add one, send it a test message, turn it off or on and rotate its secret;
and every delivery with its attempts, one delivery's log and payload, and "retry now".

Each reads and acts through the admin API's own route functions (cabinetcloud/admin/endpoints.py,
deliveries.py), so a page shows and does exactly what the API would for the same operator.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, get_args

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from cabinetcloud.admin import deliveries, endpoints, stores
from cabinetcloud.admin.access import FLEET_WRITE
from cabinetcloud.dashboard import render
from cabinetcloud.dashboard.actions import page_refusal
from cabinetcloud.dashboard.signin import Actor, PageRefusal, Viewer, require
from cabinetcloud.replies import Refusal

router = APIRouter(include_in_schema=False)

EVENT_TYPES: Final = get_args(endpoints.EventType)
Status = Literal["pending", "delivered", "failed", "held"]
STATUSES: Final[tuple[Status, ...]] = get_args(Status)
PURPOSES: Final = get_args(endpoints.EndpointIn.model_fields["purpose"].annotation)
PAGE: Final = 50


@router.get("/dashboard/endpoints")
def endpoint_list(request: Request, who: Viewer) -> HTMLResponse:
    found = endpoints.list_endpoints(request, who, None)
    return render.signed(
        request,
        who,
        "endpoints.html",
        endpoints=found,
        event_types=EVENT_TYPES,
        purposes=PURPOSES,
        stores=stores.list_stores(request, who),
    )


@router.post("/dashboard/endpoints/new")
def add_endpoint(
    request: Request,
    who: Actor,
    store: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    kind: Annotated[str, Form(max_length=20)] = "webhook",
    url: Annotated[str, Form(max_length=2000)] = "",
    purpose: Annotated[str, Form(max_length=20)] = "events",
    allow_private: Annotated[str, Form(max_length=5)] = "",
    event_types: Annotated[list[str] | None, Form(max_length=20)] = None,
) -> Response:
    require(who, FLEET_WRITE)
    values: dict[str, object] = {"store": store, "name": name, "kind": kind, "url": url, "purpose": purpose}
    values |= {"allow_private": allow_private == "1", "event_types": event_types or []}
    try:
        body = endpoints.EndpointIn.model_validate(values)
    except ValidationError as exc:
        wrong = ", ".join(str(error["loc"][0]) for error in exc.errors())
        raise PageRefusal(422, "refused.endpoint", fields=wrong) from None
    try:
        issued = endpoints.create_endpoint(request, body, who)
    except Refusal as exc:
        raise page_refusal(exc) from None
    return render.signed(request, who, "secret.html", issued=issued, made=True)


@router.post("/dashboard/endpoints/{endpoint_id}/test")
def test_endpoint(request: Request, endpoint_id: int, who: Actor) -> Response:
    require(who, FLEET_WRITE)
    try:
        found = endpoints.get_endpoint(request, endpoint_id, who)
        result = endpoints.send_test(request, endpoint_id, who)
    except Refusal as exc:
        raise page_refusal(exc) from None
    return render.signed(request, who, "tested.html", endpoint=found, result=result)


@router.post("/dashboard/endpoints/{endpoint_id}/active")
def switch_endpoint(
    request: Request, endpoint_id: int, who: Actor, active: Annotated[str, Form(max_length=1)] = ""
) -> Response:
    require(who, FLEET_WRITE)
    try:
        endpoints.update_endpoint(request, endpoint_id, endpoints.EndpointPatch(active=active == "1"), who)
    except Refusal as exc:
        raise page_refusal(exc) from None
    return RedirectResponse(f"/dashboard/endpoints#endpoint-{endpoint_id}", status_code=303)


@router.post("/dashboard/endpoints/{endpoint_id}/rotate")
def rotate_endpoint(request: Request, endpoint_id: int, who: Actor) -> Response:
    require(who, FLEET_WRITE)
    try:
        issued = endpoints.rotate_secret(request, endpoint_id, endpoints.RotateIn(), who)
    except Refusal as exc:
        raise page_refusal(exc) from None
    return render.signed(request, who, "secret.html", issued=issued, made=False)


@router.get("/dashboard/deliveries")
def delivery_list(request: Request, who: Viewer) -> HTMLResponse:
    asked = request.query_params.get("status") or None
    status = next((known for known in STATUSES if known == asked), None)
    before = request.query_params.get("before") or None
    if (asked is not None and status is None) or (before is not None and not before.isdigit()):
        raise PageRefusal(400, "refused.query")
    if before is not None and not 1 <= int(before) <= 2**52:
        raise PageRefusal(400, "refused.query")
    page = deliveries.list_deliveries(request, who, None, status, None, int(before) if before else None, PAGE)
    return render.signed(request, who, "deliveries.html", page=page, chosen=status, statuses=STATUSES)


@router.get("/dashboard/deliveries/{delivery_id}")
def delivery(request: Request, delivery_id: int, who: Viewer) -> HTMLResponse:
    try:
        found = deliveries.get_delivery(request, delivery_id, who)
    except Refusal as exc:
        if exc.status_code == 404:
            raise PageRefusal(404, "missing.delivery", id=delivery_id) from None
        raise
    return render.signed(request, who, "delivery.html", delivery=found)


@router.post("/dashboard/deliveries/{delivery_id}/retry")
def retry(request: Request, delivery_id: int, who: Actor) -> Response:
    require(who, FLEET_WRITE)
    try:
        deliveries.retry_delivery(request, delivery_id, who)
    except Refusal as exc:
        raise page_refusal(exc) from None
    return RedirectResponse(f"/dashboard/deliveries/{delivery_id}", status_code=303)
