"""The control API: one JSON endpoint per `cabinetctl` command, served only on the control socket.

Reads are GET (readings.py, events.py), anything that acts on the cabinet is POST (actions.py) and is
recorded in the ledger by the controller's maintenance desk. Every refusal or failure is
`{"error": "one line"}` with a 4xx/5xx status (shapes.Problem, answers.py).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from cabinetd.api.control.actions import Actions
from cabinetd.api.control.answers import Desk, problem
from cabinetd.api.control.badges import BadgeWatch
from cabinetd.api.control.events import Events
from cabinetd.api.control.readings import Readings


def build_control_app(desk: Desk, badges: BadgeWatch) -> Starlette:
    routes = [*Readings(desk, badges).routes(), *Actions(desk).routes(), *Events(desk.ledger).routes()]

    async def not_found(request: Request, exc: Exception) -> Response:
        return problem(404, f"no such endpoint: {request.method} {request.url.path}")

    async def wrong_method(request: Request, exc: Exception) -> Response:
        return problem(405, f"{request.method} is not allowed on {request.url.path}")

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: wrong_method})
