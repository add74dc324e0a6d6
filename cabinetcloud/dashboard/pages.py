"""The pages every role reads: the fleet overview, a store, a cabinet, the audit log.

Each reads through the admin API's own functions, so a page shows exactly what the API would give the
same operator: a store-manager sees only their stores, and another store or its cabinet is a 404 page,
as it is a 404 reply.
"""

from __future__ import annotations

import re
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cabinetcloud.admin import audit_log, cabinets, stores
from cabinetcloud.admin.access import AUDIT_READ
from cabinetcloud.admin.models import CabinetOut
from cabinetcloud.dashboard import render
from cabinetcloud.dashboard.signin import PageRefusal, Viewer, require
from cabinetcloud.replies import Refusal

router = APIRouter(include_in_schema=False)

AUDIT_PAGE: Final = 50
AUDIT_RESOURCES: Final = ("store", "cabinet", "operator", "command", "staff", "work_type", "device_model", "device")
_NUMBER = re.compile(r"^[0-9]{1,15}$")


def visible_cabinet(request: Request, who: Viewer, cabinet_id: str) -> CabinetOut:
    try:
        return cabinets.get_cabinet(request, cabinet_id, who)
    except Refusal as exc:
        if exc.status_code == 404:
            raise PageRefusal(404, "missing.cabinet", id=cabinet_id) from None
        raise


@router.get("/dashboard")
def overview(request: Request, who: Viewer) -> HTMLResponse:
    return render.signed(
        request,
        who,
        "overview.html",
        stores=stores.list_stores(request, who),
        cabinets=cabinets.list_cabinets(request, who, None),
    )


@router.get("/dashboard/stores/{store_id}")
def store(request: Request, store_id: str, who: Viewer) -> HTMLResponse:
    try:
        found = stores.get_store(request, store_id, who)
    except Refusal as exc:
        if exc.status_code == 404:
            raise PageRefusal(404, "missing.store", id=store_id) from None
        raise
    return render.signed(
        request, who, "store.html", store=found, cabinets=cabinets.list_cabinets(request, who, found.id)
    )


@router.get("/dashboard/cabinets/{cabinet_id}")
def cabinet(request: Request, cabinet_id: str, who: Viewer) -> HTMLResponse:
    return render.signed(request, who, "cabinet.html", cabinet=visible_cabinet(request, who, cabinet_id))


@router.get("/dashboard/audit")
def audit(request: Request, who: Viewer) -> HTMLResponse:
    require(who, AUDIT_READ)
    resource = request.query_params.get("resource") or None
    before = request.query_params.get("before") or None
    if (resource is not None and resource not in AUDIT_RESOURCES) or (before is not None and not _NUMBER.match(before)):
        raise PageRefusal(400, "refused.query")
    page = audit_log.list_audit(request, who, resource, None, int(before) if before else None, AUDIT_PAGE)
    return render.signed(
        request,
        who,
        "audit.html",
        events=page.events,
        next_before=page.next_before,
        resource=resource,
        resources=AUDIT_RESOURCES,
    )
