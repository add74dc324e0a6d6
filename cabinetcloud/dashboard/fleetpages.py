"""The pages over the fleet's views: what needs someone (overdue devices, devices in two rentals, lost
devices), repair tickets and reports, a device and its history, a cabinet's live slots; and the
figures and usage charts the overview and a store's page show. All of it is read from the
projections (cabinetcloud/projections), within the stores the operator may see.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy.engine import Connection

from cabinetcloud import fleetwrite, schema
from cabinetcloud.admin import commands
from cabinetcloud.admin.access import Principal, now_of, storage_of
from cabinetcloud.dashboard import charts, language, render, scope
from cabinetcloud.dashboard.signin import PageRefusal, Viewer
from cabinetcloud.projections import device_status, history, status, views
from cabinetcloud.projections.shapes import UsageDay
from cabinetproto.wire import COMMAND_ARGS, SLOT_COMMANDS, CommandKind

router = APIRouter(include_in_schema=False)

USAGE_DAYS: Final = 14
COMMANDS_SHOWN: Final = 10
HISTORY_PAGE: Final = 50
_NUMBER = re.compile(r"^[0-9]{1,9}$")


def store_figures(conn: Connection, who: Principal, now: datetime) -> dict[str, dict[str, int]]:
    """Per store: open rentals, overdue devices, open repair tickets."""
    open_rentals = scope.count_by_store(scope.across(who, views.open_rentals, conn, now=now))
    overdue = scope.count_by_store(scope.across(who, views.overdue, conn, now=now))
    faults = scope.across(who, views.faults, conn, open_only=True, now=now)
    tickets = scope.count_by_store([fault for fault in faults if fault.kind == "ticket"])
    stores = set(open_rentals) | set(overdue) | set(tickets)
    return {
        store: {"open": open_rentals.get(store, 0), "overdue": overdue.get(store, 0), "tickets": tickets.get(store, 0)}
        for store in stores
    }


def usage_charts(request: Request, days: list[UsageDay], *, by_work_type: bool) -> list[tuple[str, Markup]]:
    """Rentals per day (per store on the overview, per work type on a store's page) and hours out."""
    words = language.Words(language.of(request))
    if by_work_type:
        counted = [day for day in days if day.work_type is not None]
        axis, rentals = scope.series_by(counted, lambda day: day.work_type or "", lambda day: day.rentals)
    else:
        counted = [day for day in days if day.work_type is None]
        axis, rentals = scope.series_by(counted, lambda day: day.store, lambda day: day.rentals)
    whole = [day for day in days if day.work_type is None]
    hours_axis, hours = scope.series_by(whole, lambda day: day.store, lambda day: day.hours_out)
    made = []
    for key, x_axis, series in (("chart.rentals", axis, rentals), ("chart.hours_out", hours_axis, hours)):
        label = words(key, days=len(x_axis))
        made.append((label, charts.daily(label, x_axis, series, no_data=words("chart.no_data"))))
    return made


@router.get("/dashboard/attention")
def attention(request: Request, who: Viewer) -> HTMLResponse:
    now = now_of(request)
    with storage_of(request).reading() as conn:
        overdue = scope.across(who, views.overdue, conn, now=now)
        conflicts = scope.across(who, views.conflicts, conn, now=now)
        lost = scope.across(who, views.lost_devices, conn, now=now)
    return render.signed(request, who, "attention.html", overdue=overdue, conflicts=conflicts, lost=lost, now=now)


@router.get("/dashboard/tickets")
def tickets(request: Request, who: Viewer) -> HTMLResponse:
    shown_all = request.query_params.get("all") == "1"
    now = now_of(request)
    with storage_of(request).reading() as conn:
        faults = scope.across(who, views.faults, conn, open_only=not shown_all, now=now)
    faults.sort(key=lambda fault: fault.at, reverse=True)
    return render.signed(request, who, "tickets.html", faults=faults, shown_all=shown_all)


def _device_row(conn: Connection, serial: str) -> Any:
    return conn.execute(sa.select(schema.devices).where(schema.devices.c.serial == serial)).first()


@router.get("/dashboard/devices/{serial}")
def device(request: Request, serial: str, who: Viewer) -> HTMLResponse:
    offset = request.query_params.get("offset") or "0"
    if not _NUMBER.match(offset):
        raise PageRefusal(400, "refused.query")
    now = now_of(request)
    stores = scope.stores_of(who)
    with storage_of(request).reading() as conn:
        fleet_row = _device_row(conn, serial)
        state = device_status(conn, [serial], now)[serial]
        out = views.open_rentals_of(conn, serial, now)
        page = history.device_history(conn, serial, offset=int(offset), limit=HISTORY_PAGE)
        at_store = scope.cabinet_stores(conn)
        placed = [row.placed_cabinet for row in status.device_rows(conn, [serial])]
    home = None if fleet_row is None else fleet_row.store
    if fleet_row is None and not page.events and not out:
        raise PageRefusal(404, "missing.device", id=serial)
    if stores is not None:
        # A store-manager sees a device of their stores, one in a slot of theirs or out from their
        # cabinets, and of its history only what happened at their cabinets; any other is as unknown.
        here = home in stores or any(at_store.get(cabinet or "") in stores for cabinet in placed)
        if not here and not any(rental.store in stores for rental in out):
            raise PageRefusal(404, "missing.device", id=serial)
        page.events = [event for event in page.events if at_store.get(event.cabinet) in stores]
        out = [rental for rental in out if rental.store in stores]
    return render.signed(
        request, who, "device.html", serial=serial, fleet_row=fleet_row, state=state, rentals=out, page=page
    )


def slot_context(request: Request, who: Principal, cabinet_id: str) -> dict[str, Any]:
    scope.visible_cabinet(request, who, cabinet_id)
    now = now_of(request)
    with storage_of(request).reading() as conn:
        slots = views.cabinet_slots(conn, cabinet=cabinet_id, now=now)
    return {"slots": slots, "cabinet_id": cabinet_id, "pictured_at": now}


def command_context(request: Request, who: Principal, cabinet_id: str) -> dict[str, Any]:
    """The cabinet's latest commands with what became of them, and what a new one may name."""
    with storage_of(request).reading() as conn:
        slot_numbers = fleetwrite.slots_of(conn, cabinet_id)
    return {
        "commands": commands.list_commands(request, cabinet_id, who, None, COMMANDS_SHOWN),
        "command_kinds": [
            (kind.value, "reason" in COMMAND_ARGS[kind]) for kind in CommandKind if kind in SLOT_COMMANDS
        ],
        "slot_numbers": slot_numbers,
    }


@router.get("/dashboard/cabinets/{cabinet_id}/slots")
def slots(request: Request, cabinet_id: str, who: Viewer) -> HTMLResponse:
    """The slots' picture alone: the cabinet's page fetches it again every few seconds."""
    return render.signed(request, who, "slots.html", **slot_context(request, who, cabinet_id))
