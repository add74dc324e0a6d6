"""`/v1/admin/cabinets/{id}/commands`: remote commands for one cabinet, queued with their arguments
checked against the cabinet's slots (commands.py, the CLI's own check), and what became of each once
the cabinet's command_result came back; `/v1/admin/cabinets/{id}/slots`: the slot numbers checked.

Admins and operators command every cabinet, a store-manager the cabinets of their stores.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from cabinetcloud import audit, commands, fleetwrite
from cabinetcloud.admin.access import FLEET_COMMANDS, Principal, Reader, Writer, allow, now_of, storage_of
from cabinetcloud.admin.cabinets import CabinetId, visible_cabinet
from cabinetcloud.admin.fleet_shapes import CommandIn, CommandOut, SlotsIn, SlotsOut
from cabinetcloud.bodies import BodyLimitedRoute
from cabinetcloud.replies import Refusal, refusals

router = APIRouter(prefix="/cabinets", tags=["commands"], route_class=BodyLimitedRoute)

Commander = Annotated[Principal, Depends(allow(FLEET_COMMANDS, "queue remote commands"))]
CommandId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]


def _out(row: Any, request: Request) -> CommandOut:
    return CommandOut(
        command_id=row.command_id,
        number=row.number,
        cabinet=row.cabinet_id,
        kind=row.kind,
        args=json.loads(row.args),
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        status=commands.status_of(row, now_of(request)),
        delivered_at=row.delivered_at,
        result_at=row.result_at,
        result_detail=row.result_detail,
    )


@router.get("/{cabinet_id}/commands", responses=refusals(401, 403, 404))
def list_commands(
    request: Request,
    cabinet_id: CabinetId,
    who: Reader,
    before: Annotated[int | None, Query(ge=1, le=2**52, description="the number of the oldest one seen")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[CommandOut]:
    """The cabinet's commands, newest first; page with `before` = the last one's `number`."""
    with storage_of(request).reading() as conn:
        visible_cabinet(conn, who, cabinet_id)
        return [_out(row, request) for row in commands.of_cabinet(conn, cabinet_id, limit, before)]


@router.get("/{cabinet_id}/commands/{command_id}", responses=refusals(401, 403, 404))
def get_command(request: Request, cabinet_id: CabinetId, command_id: CommandId, who: Reader) -> CommandOut:
    with storage_of(request).reading() as conn:
        visible_cabinet(conn, who, cabinet_id)
        row = commands.status(conn, command_id)
    if row is None or row.cabinet_id != cabinet_id:
        raise Refusal(404, "not_found", f"cabinet {cabinet_id!r} has no command {command_id!r}")
    return _out(row, request)


@router.post("/{cabinet_id}/commands", status_code=201, responses=refusals(400, 413, 415, 401, 403, 404))
def queue_command(request: Request, cabinet_id: CabinetId, body: CommandIn, who: Commander) -> CommandOut:
    """Queue a command; the cabinet fetches it at its next poll (a held long poll answers at once)."""
    with storage_of(request).writing() as conn:
        visible_cabinet(conn, who, cabinet_id)
        try:
            kind, args = commands.check(conn, cabinet_id, body.kind, dict(body.args))
            queued = commands.queue(
                conn, cabinet_id, kind, args, timedelta(minutes=body.expires_in_minutes), now_of(request)
            )
        except commands.CommandError as exc:
            raise Refusal(422, "invalid", f"body.{exc.field}: {exc}") from None
        after = {**queued.model_dump(mode="json"), "cabinet": cabinet_id}
        audit.record(conn, who.actor, "queue", "command", queued.command_id, after=after, now=now_of(request))
        row = commands.status(conn, queued.command_id)
    return _out(row, request)


@router.get("/{cabinet_id}/slots", responses=refusals(401, 403, 404))
def get_slots(request: Request, cabinet_id: CabinetId, who: Reader) -> SlotsOut:
    with storage_of(request).reading() as conn:
        visible_cabinet(conn, who, cabinet_id)
        return SlotsOut(cabinet=cabinet_id, slots=fleetwrite.slots_of(conn, cabinet_id))


@router.put("/{cabinet_id}/slots", responses=refusals(400, 413, 415, 401, 403, 404))
def set_slots(request: Request, cabinet_id: CabinetId, body: SlotsIn, who: Writer) -> SlotsOut:
    """The cabinet's slot numbers as its modules number them (config `modules.slots.number`)."""
    with storage_of(request).writing() as conn:
        visible_cabinet(conn, who, cabinet_id)
        before = fleetwrite.slots_of(conn, cabinet_id)
        if fleetwrite.set_slots(conn, cabinet_id, body.slots):
            audit.record(
                conn,
                who.actor,
                "set_slots",
                "cabinet",
                cabinet_id,
                before={"slots": before},
                after={"slots": body.slots},
            )
        return SlotsOut(cabinet=cabinet_id, slots=body.slots)
