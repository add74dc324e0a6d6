"""Who is looking at a page: the operator behind the `cabinet_session` cookie, the same browser session
as `POST /v1/admin/login` opens. A page without one leads to the login page; a form that changes
something must carry the session's CSRF token (`csrf_token`), or it is refused.

The login form itself has no session yet: it carries a token of its own, also set as a cookie only
this site can send (SameSite=Strict), so that another site cannot sign a browser in to an account of
its choosing (login CSRF).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from typing import Annotated, Final
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from cabinetcloud import operators
from cabinetcloud.admin.access import CSRF_FIELD, SESSION_COOKIE, Principal, now_of, storage_of
from cabinetcloud.admin.login import LoginBody, clear_session_cookie, open_login, set_session_cookie
from cabinetcloud.dashboard import render
from cabinetcloud.operators import Role
from cabinetcloud.replies import Refusal

HOME: Final = "/dashboard"
LOGIN: Final = "/dashboard/login"
LOGIN_COOKIE: Final = "cabinet_login"

router = APIRouter()


class SignInNeeded(Exception):
    """No live session: the page leads to the login form, and back here after it."""

    def __init__(self, back_to: str) -> None:
        super().__init__(back_to)
        self.back_to = back_to


class PageRefusal(Exception):
    """A page or form refused on purpose: an error page in the reader's language, with this status."""

    def __init__(self, status: int, key: str, *, detail: str | None = None, **values: object) -> None:
        super().__init__(key)
        self.status = status
        self.key = key
        self.detail = detail  # the admin API's own words for it, naming the thing
        self.values = values


def current(request: Request) -> Principal | None:
    """The operator of the request's session, or None (no cookie, ended, or a disabled account)."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    with storage_of(request).reading() as conn:
        found = operators.session(conn, session_id, now_of(request))
    if found is None:
        return None
    return Principal(operator=found.operator, via="session", csrf_token=found.csrf_token)


def reader(request: Request) -> Principal:
    """A dependency of every page: the signed-in operator, else off to the login page."""
    who = current(request)
    if who is None:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(back)
    return who


async def actor(request: Request) -> Principal:
    """A dependency of every form that changes something: the operator, and the session's CSRF token."""
    who = await run_in_threadpool(reader, request)
    sent = (await request.form()).get(CSRF_FIELD)
    expected = who.csrf_token or ""
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise PageRefusal(403, "refused.csrf")
    return who


Viewer = Annotated[Principal, Depends(reader)]
Actor = Annotated[Principal, Depends(actor)]


def require(who: Principal, roles: Iterable[Role]) -> None:
    """Refuse (403) a role that may not do this, whether or not its page showed the control."""
    if who.role not in roles:
        raise PageRefusal(403, "refused.role")


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a dashboard page of this site, never another site."""
    if value and value.startswith(HOME) and not value.startswith("//") and "\\" not in value:
        return value
    return HOME


def to_login(back_to: str) -> RedirectResponse:
    return RedirectResponse(f"{LOGIN}?next={quote(back_to, safe='/')}", status_code=303)


def _login_form(
    request: Request, next_page: str | None, *, status: int = 200, failed: str | None = None, name: str = ""
) -> Response:
    token = secrets.token_urlsafe(32)
    response = render.page(
        request, "login.html", status, login_token=token, next_page=safe_next(next_page), failed=failed, name=name
    )
    response.set_cookie(
        LOGIN_COOKIE, token, path=LOGIN, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return response


@router.get(LOGIN, include_in_schema=False)
def login_page(request: Request) -> Response:
    if current(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return _login_form(request, request.query_params.get("next"))


@router.post(LOGIN, include_in_schema=False)
def login(
    request: Request,
    name: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    login_token: Annotated[str, Form(max_length=128)] = "",
    next_page: Annotated[str, Form(alias="next", max_length=2048)] = HOME,
) -> Response:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(login_token.encode(), expected.encode()):
        return _login_form(request, next_page, status=403, failed="login.expired", name=name)
    if not name or not password:
        return _login_form(request, next_page, status=422, failed="login.empty", name=name)
    try:
        _operator, session_id, _session = open_login(
            storage_of(request), LoginBody(name=name, password=password), now_of(request)
        )
    except Refusal:
        return _login_form(request, next_page, status=401, failed="login.failed", name=name)
    response = RedirectResponse(safe_next(next_page), status_code=303)
    set_session_cookie(request, response, session_id)
    response.delete_cookie(LOGIN_COOKIE, path=LOGIN)
    return response


@router.post("/dashboard/logout", include_in_schema=False)
def logout(request: Request, who: Actor) -> Response:
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        with storage_of(request).writing() as conn:
            operators.close_session(conn, session_id)
    response = RedirectResponse(LOGIN, status_code=303)
    clear_session_cookie(response)
    return response
