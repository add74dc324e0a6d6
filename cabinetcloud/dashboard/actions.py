"""What an operator does from the pages: enrol a cabinet, rotate or revoke its token, queue a
remote command for it.

Each form posts the session's CSRF token; the role is checked here whether or not the page showed the
control, and the work is the admin API's own (the same checks, the same audit event, `via` session).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from cabinetcloud.admin import cabinets, commands
from cabinetcloud.admin.access import FLEET_COMMANDS, FLEET_WRITE
from cabinetcloud.admin.fleet_shapes import CommandIn
from cabinetcloud.admin.models import CabinetIn
from cabinetcloud.dashboard import render
from cabinetcloud.dashboard.scope import visible_cabinet
from cabinetcloud.dashboard.signin import Actor, PageRefusal, require
from cabinetcloud.replies import Refusal
from cabinetproto.wire import COMMAND_ARGS, SLOT_COMMANDS

router = APIRouter(include_in_schema=False)

# What the admin API's refusal codes are called on a page.
_REFUSED = {404: "refused.not_found", 409: "refused.conflict", 422: "refused.invalid"}


def page_refusal(exc: Refusal) -> PageRefusal:
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
        raise page_refusal(exc) from None
    return render.signed(request, who, "token.html", issued=issued)


@router.post("/dashboard/cabinets/{cabinet_id}/rotate")
def rotate(request: Request, cabinet_id: str, who: Actor) -> Response:
    require(who, FLEET_WRITE)
    visible_cabinet(request, who, cabinet_id)
    try:
        issued = cabinets.rotate_token(request, cabinet_id, who)
    except Refusal as exc:
        raise page_refusal(exc) from None
    return render.signed(request, who, "token.html", issued=issued)


@router.post("/dashboard/cabinets/{cabinet_id}/revoke")
def revoke(request: Request, cabinet_id: str, who: Actor) -> Response:
    require(who, FLEET_WRITE)
    visible_cabinet(request, who, cabinet_id)
    try:
        cabinets.revoke_token(request, cabinet_id, who)
    except Refusal as exc:
        raise page_refusal(exc) from None
    return RedirectResponse(f"/dashboard/cabinets/{cabinet_id}", status_code=303)


@router.post("/dashboard/cabinets/{cabinet_id}/commands")
def queue_command(
    request: Request,
    cabinet_id: str,
    who: Actor,
    kind: Annotated[str, Form(max_length=32)] = "",
    slot: Annotated[str, Form(max_length=12)] = "",
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """A remote command from the cabinet's page, checked and audited as the API's own."""
    require(who, FLEET_COMMANDS)
    visible_cabinet(request, who, cabinet_id)
    known = next((member for member in SLOT_COMMANDS if member.value == kind), None)
    if known is None:
        raise PageRefusal(422, "refused.command_kind", kind=kind)
    if not slot.strip().isdigit():
        raise PageRefusal(422, "refused.command_slot", slot=slot)
    args: dict[str, str | int | bool] = {"slot": int(slot)}
    if reason.strip() and "reason" in COMMAND_ARGS[known]:
        args["reason"] = reason.strip()
    try:
        commands.queue_command(request, cabinet_id, CommandIn(kind=known.value, args=args), who)
    except Refusal as exc:
        raise page_refusal(exc) from None
    return RedirectResponse(f"/dashboard/cabinets/{cabinet_id}#commands", status_code=303)
