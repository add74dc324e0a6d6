"""`/v1/admin/audit`: the audit log, newest first, filtered by resource, paged by id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from cabinetcloud import audit
from cabinetcloud.admin.access import AuditReader, storage_of
from cabinetcloud.admin.models import AuditEvent, AuditPage
from cabinetcloud.bodies import BodyLimitedRoute
from cabinetcloud.replies import refusals

router = APIRouter(prefix="/audit", tags=["audit"], route_class=BodyLimitedRoute)


@router.get("", responses=refusals(401, 403))
def list_audit(
    request: Request,
    who: AuditReader,
    resource: Annotated[
        str | None, Query(pattern=r"^[a-z_]{1,32}$", description="e.g. store, cabinet, operator")
    ] = None,
    resource_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**52, description="the next_before of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_PAGE)] = 50,
) -> AuditPage:
    with storage_of(request).reading() as conn:
        events, next_before = audit.page(
            conn, resource=resource, resource_id=resource_id, before_id=before, limit=limit
        )
    return AuditPage(events=[AuditEvent.model_validate(event) for event in events], next_before=next_before)
