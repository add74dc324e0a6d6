"""`POST /v1/repair-tickets/{ticket_id}`: the store's repair service reports on a ticket it was sent.

It authenticates with the callback token its endpoint was given (`Authorization: Bearer rcb1_…`), and
sees only its own store's tickets (another's is 404). The body is `{"status", "reference"?, "note"?}`;
each update is published as `repair_ticket.updated` and recorded in the audit log as `repair:<endpoint>`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from cabinetcloud import audit
from cabinetcloud.admin.access import now_of, storage_of
from cabinetcloud.bodies import BodyLimitedRoute
from cabinetcloud.outbox import endpoints, messages, tickets
from cabinetcloud.replies import Refusal, refusals

router = APIRouter(prefix="/v1/repair-tickets", tags=["repair service"], route_class=BodyLimitedRoute)
_bearer = HTTPBearer(auto_error=False, description="The repair endpoint's callback token (rcb1_…).")

TicketId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]


class TicketUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["accepted", "in_repair", "closed", "rejected"]
    reference: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    note: Annotated[str, Field(max_length=2000)] | None = None


@router.post("/{ticket_id}", responses=refusals(400, 401, 404, 409, 413, 415))
def update_ticket(
    request: Request,
    ticket_id: TicketId,
    body: TicketUpdate,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> messages.RepairTicketUpdated:
    storage = storage_of(request)
    now = now_of(request)
    with storage.writing() as conn:
        endpoint = None if credentials is None else endpoints.by_callback_token(conn, credentials.credentials.strip())
        if endpoint is None:
            raise Refusal(
                401, "unauthorized", "missing or unknown repair-service token", headers={"WWW-Authenticate": "Bearer"}
            )
        actor = audit.Actor(name=f"repair:{endpoint.store}/{endpoint.name}", via="token")
        try:
            before = tickets.current(conn, ticket_id, endpoint.store)
            after = tickets.update(
                storage, conn, ticket_id, body.model_dump(exclude_none=True), actor.name, now, store=endpoint.store
            )
        except tickets.TicketError as exc:
            raise Refusal(exc.status, exc.code, str(exc)) from None
        audit.record(conn, actor, "update", "repair_ticket", ticket_id, before=before, after=after, now=now)
    return messages.RepairTicketUpdated.model_validate(after)
