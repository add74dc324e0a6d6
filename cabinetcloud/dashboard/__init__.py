"""The operators' dashboard at `/dashboard`: pages rendered on the server (Jinja2), in Chinese and
English, over the same sessions, roles and store scoping as the admin API (docs/dashboard.md).

A refusal under `/dashboard` is a page in the reader's language, never the API's JSON: an unknown
cabinet is a 404 page, a page without a session leads to the login form.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from importlib import resources
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from cabinetcloud.dashboard import actions, fleetpages, outbound, pages, releases, render, signin
from cabinetcloud.dashboard.signin import PageRefusal, SignInNeeded

PREFIX: Final = "/dashboard"
ROUTERS: Final = (signin.router, pages.router, fleetpages.router, outbound.router, releases.router, actions.router)
HEADLINES: Final = {
    400: "error.400",
    403: "error.403",
    404: "error.404",
    405: "error.405",
    409: "error.409",
    422: "error.422",
}


async def refused_page(request: Request, refusal: PageRefusal) -> Response:
    who = await run_in_threadpool(signin.current, request)
    context = {
        "headline": HEADLINES.get(refusal.status, "error.other"),
        "key": refusal.key,
        "values": refusal.values,
        "detail": refusal.detail,
    }
    if who is None:
        return render.page(request, "error.html", refusal.status, **context)
    return render.signed(request, who, "error.html", refusal.status, **context)


async def _answered(reply: Response | Awaitable[Response]) -> Response:
    return await reply if inspect.isawaitable(reply) else reply


def _under_dashboard(request: Request) -> bool:
    return request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/")


def install(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    static = resources.files("cabinetcloud.dashboard") / "static"
    app.mount(PREFIX + "/static", StaticFiles(directory=str(static)), name="dashboard-static")

    @app.exception_handler(SignInNeeded)
    async def _sign_in(_request: Request, exc: SignInNeeded) -> Response:
        return signin.to_login(exc.back_to)

    @app.exception_handler(PageRefusal)
    async def _refused(request: Request, exc: PageRefusal) -> Response:
        return await refused_page(request, exc)

    # The API keeps its JSON refusals; under /dashboard the same errors are pages.
    api_http_error = app.exception_handlers[StarletteHTTPException]
    api_invalid = app.exception_handlers[RequestValidationError]

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _under_dashboard(request):
            why = f"error.{exc.status_code}.why" if exc.status_code in HEADLINES else "error.other.why"
            return await refused_page(request, PageRefusal(exc.status_code, why))
        return await _answered(api_http_error(request, exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if _under_dashboard(request):
            return await refused_page(request, PageRefusal(400, "refused.query"))
        return await _answered(api_invalid(request, exc))
