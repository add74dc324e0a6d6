"""The releases page (every release with its rollouts) and one rollout's progress, cabinet by cabinet.

Both read through the admin API's own route functions (cabinetcloud/admin/releases.py), so a page
shows what the API gives the same operator: a store-manager sees of a rollout only their stores'
cabinets. Releases are uploaded and rolled out through the API (docs/releases.md); these pages follow them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from cabinetcloud.admin import releases, stores
from cabinetcloud.admin.access import FLEET_COMMANDS
from cabinetcloud.admin.release_shapes import RolloutIn
from cabinetcloud.dashboard import render
from cabinetcloud.dashboard.actions import page_refusal
from cabinetcloud.dashboard.signin import Actor, PageRefusal, Viewer, require
from cabinetcloud.releases.progress import STATES
from cabinetcloud.replies import Refusal

router = APIRouter(include_in_schema=False)


@router.get("/dashboard/releases")
def release_list(request: Request, who: Viewer) -> HTMLResponse:
    found = releases.list_releases(request, who)
    rollouts = {release.id: releases.list_rollouts(request, release.id, who) for release in found}
    return render.signed(
        request,
        who,
        "releases.html",
        releases=found,
        rollouts=rollouts,
        stores=stores.list_stores(request, who),
        can_roll_out=who.role in FLEET_COMMANDS,
    )


def _rollout_body(store: str, percent: str, cabinets: str, allow_downgrade: str) -> dict[str, Any]:
    """The form's fields as the API's body: listed cabinets, else a store (all of it, or a share),
    else a share of the whole fleet (all of it when no share is given)."""
    body: dict[str, Any] = {"allow_downgrade": allow_downgrade == "1"}
    listed = cabinets.replace(",", " ").split()
    if listed:
        return {**body, "cabinets": listed}
    if store:
        body["store"] = store
    if percent.strip():
        body["percent"] = percent.strip()
    elif not store:
        body["percent"] = 100
    return body


@router.post("/dashboard/releases/{release_id}/rollouts")
def roll_out(
    request: Request,
    release_id: int,
    who: Actor,
    store: Annotated[str, Form(max_length=200)] = "",
    percent: Annotated[str, Form(max_length=5)] = "",
    cabinets: Annotated[str, Form(max_length=5000)] = "",
    allow_downgrade: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """A rollout from the releases page, checked, queued and audited as the API's own."""
    require(who, FLEET_COMMANDS)
    try:
        body = RolloutIn.model_validate(_rollout_body(store, percent, cabinets, allow_downgrade))
    except ValidationError as exc:
        wrong = ", ".join(str(error["loc"][0]) if error["loc"] else "target" for error in exc.errors())
        raise PageRefusal(422, "refused.rollout", fields=wrong) from None
    try:
        started = releases.start_rollout(request, release_id, body, who)
    except Refusal as exc:
        raise page_refusal(exc) from None
    return RedirectResponse(f"/dashboard/rollouts/{started.id}", status_code=303)


@router.get("/dashboard/rollouts/{rollout_id}")
def rollout(request: Request, rollout_id: int, who: Viewer) -> HTMLResponse:
    try:
        found = releases.get_rollout(request, rollout_id, who)
    except Refusal as exc:
        raise page_refusal(exc) from None
    return render.signed(request, who, "rollout.html", rollout=found, states=STATES)
