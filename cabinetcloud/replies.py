"""The cloud's refusals: one body shape, `{code, detail, expected_seq?}` (ErrorReply), on every route
and for every error, the framework's own included.

Nothing a client sends may reach the client as a 500: what cannot be read is refused with the place
named (422 `invalid`), a database that cannot be reached is 503 `unavailable` with a Retry-After.
The last-resort handler for a bug still answers in the same shape, so a cabinet can log it.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import sqlalchemy as sa
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cabinetcloud.text import place_text, printable
from cabinetproto.wire import ErrorReply

log = logging.getLogger(__name__)

# How long a cabinet waits before it tries again when the database is down or busy.
RETRY_AFTER_S: Final = 30


class Refusal(HTTPException):
    """A request the cloud turns down on purpose; its body is an ErrorReply."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        expected_seq: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        detail = printable(detail)
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.reply = ErrorReply(code=code, detail=detail, expected_seq=expected_seq)


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route: these statuses, 422 and 503 answer an ErrorReply."""
    return {status: {"model": ErrorReply} for status in sorted({*statuses, 422, 503})}


def validation_detail(exc: RequestValidationError) -> str:
    """`body.events[0].seq: must be a whole number (and 2 more)`: the first problem, naming its place."""
    # A parameter both the route and its auth dependency take is reported once for each: count it once.
    errors = list({(tuple(error.get("loc", ())), str(error.get("msg"))): error for error in exc.errors()}.values())
    if not errors:
        return "the request does not match the API"
    first = errors[0]
    root, *place = first.get("loc", ()) or ("request",)
    message = str(first.get("msg", "")).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{place_text(str(root), tuple(place))}: {message}{more}"


def _reply(status: int, code: str, detail: str, headers: Any = None) -> JSONResponse:
    body = ErrorReply(code=code, detail=printable(detail)).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(Refusal)
    async def _refused(_request: Request, exc: Refusal) -> JSONResponse:
        return JSONResponse(exc.reply.model_dump(exclude_none=True), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Errors raised by the framework itself (no such route, a method it does not take).
        return _reply(exc.status_code, f"http_{exc.status_code}", str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # The framework's own reply echoes the input back, which fails to encode when it holds a
        # lone surrogate or NaN; ours names the place and quotes nothing.
        return _reply(422, "invalid", validation_detail(exc))

    @app.exception_handler(sa.exc.OperationalError)
    async def _unavailable(request: Request, exc: sa.exc.OperationalError) -> JSONResponse:
        log.error("%s %s: the database cannot be used: %s", request.method, request.url.path, exc.orig)
        detail = "the cloud's database is unavailable; try again later"
        return _reply(503, "unavailable", detail, {"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        # Last resort: a bug of ours. The traceback goes to the log (the server re-raises it).
        log.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        return _reply(500, "internal", f"the cloud failed on this request ({type(exc).__name__}); it is logged")
