"""The pages every role reads: the fleet overview, a store, a cabinet, the audit log.

Each reads through the admin API's own functions, so a page shows exactly what the API would give the
same operator: a store-manager sees only their stores, and another store or its cabinet is a 404 page,
as it is a 404 reply. The figures, charts and slots come from the fleet's views (fleetpages.py).
"""

from __future__ import annotations

import re
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cabinetcloud.admin import audit_log, cabinets, stores
from cabinetcloud.admin.access import AUDIT_READ, now_of, storage_of
from cabinetcloud.dashboard import fleetpages, render, scope
from cabinetcloud.dashboard.signin import PageRefusal, Viewer, require
from cabinetcloud.projections import views

router = APIRouter(include_in_schema=False)

AUDIT_PAGE: Final = 50
AUDIT_RESOURCES: Final = (
    "store",
    "cabinet",
    "operator",
    "command",
    "staff",
    "work_type",
    "device_model",
    "device",
    "release",
    "rollout",
    "app_package",
)
_NUMBER = re.compile(r"^[0-9]{1,15}$")


@router.get("/dashboard")
def overview(request: Request, who: Viewer) -> HTMLResponse:
    now = now_of(request)
    with storage_of(request).reading() as conn:
        figures = fleetpages.store_figures(conn, who, now)
        days = scope.usage_of(conn, who, None, fleetpages.USAGE_DAYS, now)
    return render.signed(
        request,
        who,
        "overview.html",
        stores=stores.list_stores(request, who),
        cabinets=cabinets.list_cabinets(request, who, None),
        figures=figures,
        charts=fleetpages.usage_charts(request, days, by_work_type=False),
    )


@router.get("/dashboard/stores/{store_id}")
def store(request: Request, store_id: str, who: Viewer) -> HTMLResponse:
    found = scope.visible_store(request, who, store_id)
    now = now_of(request)
    with storage_of(request).reading() as conn:
        rentals = views.open_rentals(conn, store=found.id, now=now)
        days = scope.usage_of(conn, who, found.id, fleetpages.USAGE_DAYS, now)
    return render.signed(
        request,
        who,
        "store.html",
        store=found,
        cabinets=cabinets.list_cabinets(request, who, found.id),
        rentals=rentals,
        charts=fleetpages.usage_charts(request, days, by_work_type=True),
    )


@router.get("/dashboard/cabinets/{cabinet_id}")
def cabinet(request: Request, cabinet_id: str, who: Viewer) -> HTMLResponse:
    found = scope.visible_cabinet(request, who, cabinet_id)
    return render.signed(
        request,
        who,
        "cabinet.html",
        cabinet=found,
        **fleetpages.slot_context(request, who, found.id),
        **fleetpages.command_context(request, who, found.id),
    )


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
