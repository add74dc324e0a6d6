"""What an operator does from the pages: enrol a cabinet, rotate or revoke its token.

Each form posts the session's CSRF token; the role is checked here whether or not the page showed the
control, and the work is the admin API's own (the same checks, the same audit event, `via` session).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from cabinetcloud.admin import cabinets
from cabinetcloud.admin.access import FLEET_WRITE
from cabinetcloud.admin.models import CabinetIn
from cabinetcloud.dashboard import render
from cabinetcloud.dashboard.scope import visible_cabinet
from cabinetcloud.dashboard.signin import Actor, PageRefusal, require
from cabinetcloud.replies import Refusal

router = APIRouter(include_in_schema=False)

# What the admin API's refusal codes are called on a page.
_REFUSED = {404: "refused.not_found", 409: "refused.conflict", 422: "refused.invalid"}


def _page_refusal(exc: Refusal) -> PageRefusal:
    return PageRefusal(exc.status_code, _REFUSED.get(exc.status_code, "refused.other"), detail=exc.reply.detail)


@router.post("/dashboard/cabinets")
def enrol(
    request: Request,
    who: Actor,
    cabinet_id: Annotated[str, Form(alias="id", max_length=200)] = "",
    store: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    require(who, FLEET_WRITE)
    try:
        body = CabinetIn(id=cabinet_id, store=store)
    except ValidationError:
        raise PageRefusal(422, "refused.cabinet_id", id=cabinet_id) from None
    try:
        issued = cabinets.enrol_cabinet(request, body, who)
    except Refusal as exc:
        raise _page_refusal(exc) from None
    return render.signed(request, who, "token.html", issued=issued)


@router.post("/dashboard/cabinets/{cabinet_id}/rotate")
def rotate(request: Request, cabinet_id: str, who: Actor) -> Response:
    require(who, FLEET_WRITE)
    visible_cabinet(request, who, cabinet_id)
    try:
        issued = cabinets.rotate_token(request, cabinet_id, who)
    except Refusal as exc:
        raise _page_refusal(exc) from None
    return render.signed(request, who, "token.html", issued=issued)


@router.post("/dashboard/cabinets/{cabinet_id}/revoke")
def revoke(request: Request, cabinet_id: str, who: Actor) -> Response:
    require(who, FLEET_WRITE)
    visible_cabinet(request, who, cabinet_id)
    try:
        cabinets.revoke_token(request, cabinet_id, who)
    except Refusal as exc:
        raise _page_refusal(exc) from None
    return RedirectResponse(f"/dashboard/cabinets/{cabinet_id}", status_code=303)
