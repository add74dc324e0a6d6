"""The releases page (every release with its rollouts) and one rollout's progress, cabinet by cabinet.

Both read through the admin API's own route functions (cabinetcloud/admin/releases.py), so a page
shows what the API gives the same operator: a store-manager sees of a rollout only their stores'
cabinets. Releases are uploaded and rolled out through the API (docs/releases.md); these pages follow them.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cabinetcloud.admin import releases
from cabinetcloud.dashboard import render
from cabinetcloud.dashboard.actions import page_refusal
from cabinetcloud.dashboard.signin import Viewer
from cabinetcloud.releases.progress import STATES
from cabinetcloud.replies import Refusal

router = APIRouter(include_in_schema=False)


@router.get("/dashboard/releases")
def release_list(request: Request, who: Viewer) -> HTMLResponse:
    found = releases.list_releases(request, who)
    rollouts = {release.id: releases.list_rollouts(request, release.id, who) for release in found}
    return render.signed(request, who, "releases.html", releases=found, rollouts=rollouts)


@router.get("/dashboard/rollouts/{rollout_id}")
def rollout(request: Request, rollout_id: int, who: Viewer) -> HTMLResponse:
    try:
        found = releases.get_rollout(request, rollout_id, who)
    except Refusal as exc:
        raise page_refusal(exc) from None
    return render.signed(request, who, "rollout.html", rollout=found, states=STATES)
