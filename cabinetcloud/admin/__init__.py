"""The operators' API under `/v1/admin`: one router per resource family, one error shape (replies.py).

A family added later (staff, work types, device models, devices, commands) is a module with its own
`router`, listed in ROUTERS; access.py says which roles each kind of route takes.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, FastAPI

from cabinetcloud.admin import (
    audit_log,
    cabinets,
    deliveries,
    endpoints,
    fleet_views,
    histories,
    login,
    operator_accounts,
    stores,
)
from cabinetcloud.bodies import BodyLimitedRoute

PREFIX: Final = "/v1/admin"
ROUTERS: Final = (
    login.router,
    stores.router,
    cabinets.router,
    audit_log.router,
    operator_accounts.router,
    endpoints.router,
    deliveries.router,
    fleet_views.router,
    histories.router,
)


def install(app: FastAPI) -> None:
    admin = APIRouter(prefix=PREFIX, route_class=BodyLimitedRoute)
    for router in ROUTERS:
        admin.include_router(router)
    app.include_router(admin)
