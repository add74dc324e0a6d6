"""The operators' API under `/v1/admin`: one router per resource family, one error shape (replies.py).

A family added later (staff, work types, device models, devices, commands) is a module with its own
`router`, listed in ROUTERS; access.py says which roles each kind of route takes.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, FastAPI

from cabinetcloud.admin import (
    app_packages,
    audit_log,
    cabinets,
    commands,
    deliveries,
    device_models,
    devices,
    endpoints,
    fleet_views,
    histories,
    login,
    operator_accounts,
    releases,
    staff,
    store_notices,
    stores,
    work_types,
)
from cabinetcloud.bodies import BodyLimitedRoute

PREFIX: Final = "/v1/admin"
ROUTERS: Final = (
    login.router,
    stores.router,
    cabinets.router,
    audit_log.router,
    operator_accounts.router,
    fleet_views.router,
    histories.router,
    endpoints.router,
    deliveries.router,
    store_notices.router,
    # the fleet data (docs/fleet.md, "Fleet data")
    staff.router,
    work_types.router,
    device_models.router,
    devices.router,
    commands.router,
    # signed releases of the cabinet's package and their rollouts (docs/releases.md)
    releases.router,
    # the APKs of the work types' apps (docs/app-packages.md)
    app_packages.router,
)


def install(app: FastAPI) -> None:
    admin = APIRouter(prefix=PREFIX, route_class=BodyLimitedRoute)
    for router in ROUTERS:
        admin.include_router(router)
    app.include_router(admin)
