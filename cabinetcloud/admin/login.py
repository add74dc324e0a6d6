"""Browser logins: `POST /v1/admin/login` (a form or JSON) sets the session cookie, logout ends it.

The cookie is HttpOnly and SameSite=Strict, and Secure when the request came over TLS: directly, or
through a TLS proxy on an address uvicorn trusts for X-Forwarded-Proto (FORWARDED_ALLOW_IPS,
127.0.0.1 by default). The reply carries the session's CSRF token, which a change made with the
cookie must send back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from cabinetcloud import audit, operators
from cabinetcloud.admin.access import SESSION_COOKIE, AnyOperator, now_of, storage_of
from cabinetcloud.admin.models import OperatorOut
from cabinetcloud.bodies import BodyLimitedRoute
from cabinetcloud.operators import Operator
from cabinetcloud.replies import Refusal, refusals, validation_detail
from cabinetcloud.storage import Storage

router = APIRouter(tags=["login"], route_class=BodyLimitedRoute)


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class LoginReply(BaseModel):
    operator: OperatorOut
    csrf_token: str
    expires_at: datetime


class Me(BaseModel):
    operator: OperatorOut
    via: str
    csrf_token: str | None = None


_LOGIN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoginBody.model_json_schema()},
            "application/x-www-form-urlencoded": {"schema": LoginBody.model_json_schema()},
        },
    }
}


async def _credentials(request: Request) -> LoginBody:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        raw: Any = await request.json()
    elif kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raw = {key: value for key, value in (await request.form()).items() if key != "csrf_token"}
    else:
        raise Refusal(415, "bad_media_type", "send the login as application/json or a form")
    try:
        return LoginBody.model_validate(raw)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise Refusal(422, "invalid", validation_detail(RequestValidationError(errors))) from None


def open_login(storage: Storage, body: LoginBody, now: datetime) -> tuple[Operator, str, operators.Session]:
    """Check the name and password and open a session (audited); the dashboard's login form uses it too."""
    with storage.writing() as conn:
        found = operators.login(conn, body.name, body.password)
        if found is None:
            raise Refusal(401, "login_failed", "unknown operator, wrong password or a disabled account")
        session_id, session = operators.open_session(conn, found, now)
        audit.record(conn, audit.Actor(found.name, "session"), "login", "operator", found.name, now=now)
    return found, session_id, session


def set_session_cookie(request: Request, response: Response, session_id: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(operators.SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="strict",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


@router.post("/login", responses=refusals(400, 401, 413, 415), openapi_extra=_LOGIN_BODY)
async def login(request: Request, response: Response) -> LoginReply:
    body = await _credentials(request)
    # argon2 takes its time on purpose: off the event loop, which the cabinets' long polls share.
    found, session_id, session = await run_in_threadpool(open_login, storage_of(request), body, now_of(request))
    set_session_cookie(request, response, session_id)
    return LoginReply(operator=OperatorOut.of(found), csrf_token=session.csrf_token, expires_at=session.expires_at)


@router.post("/logout", status_code=204, responses=refusals(401, 403))
def logout(request: Request, who: AnyOperator) -> Response:
    session_id = request.cookies.get(SESSION_COOKIE)
    if who.via == "session" and session_id:
        with storage_of(request).writing() as conn:
            operators.close_session(conn, session_id)
    response = Response(status_code=204)
    clear_session_cookie(response)
    return response


@router.get("/me", responses=refusals(401, 403))
def me(who: AnyOperator) -> Me:
    """The operator behind this request, and the session's CSRF token when it came with the cookie."""
    return Me(operator=OperatorOut.of(who.operator), via=who.via, csrf_token=who.csrf_token)
