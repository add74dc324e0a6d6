"""Who is calling an operator route, and what their role lets them do.

An operator comes in with `Authorization: Bearer op1_...` (an API token) or the `cabinet_session`
cookie of a browser login. A request that changes something and came with the cookie must carry the
session's CSRF token too (the `X-CSRF-Token` header or a `csrf_token` form field); a bearer token
needs none, since a browser never sends one by itself. A cabinet's token is refused here with 403.

A store-manager sees only their own stores: another store, or a cabinet of another store, is answered
404 exactly like one that does not exist, so that store-managers cannot list the fleet by probing.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Final

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from cabinetcloud import audit, auth, operators
from cabinetcloud.operators import Operator, Role
from cabinetcloud.replies import Refusal
from cabinetcloud.storage import Storage

SESSION_COOKIE: Final = "cabinet_session"
CSRF_HEADER: Final = "X-CSRF-Token"
CSRF_FIELD: Final = "csrf_token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})

ALL_ROLES: Final = frozenset(Role)
# What each kind of route needs. A store-manager keeps the staff and devices of their own stores and
# queues commands for their cabinets; what is fleet-wide (work types, device models) is FLEET_WRITE's.
FLEET_READ: Final = ALL_ROLES
FLEET_WRITE: Final = frozenset({Role.ADMIN, Role.OPERATOR})
STORE_WRITE: Final = frozenset({Role.ADMIN, Role.OPERATOR, Role.STORE_MANAGER})
FLEET_COMMANDS: Final = frozenset({Role.ADMIN, Role.OPERATOR, Role.STORE_MANAGER})
AUDIT_READ: Final = frozenset({Role.ADMIN, Role.OPERATOR, Role.VIEWER})
ACCOUNTS: Final = frozenset({Role.ADMIN})

_bearer = HTTPBearer(auto_error=False, description="An operator's API token (cabinet-cloud user token).")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="A browser login (POST /v1/admin/login).")


@dataclass(frozen=True)
class Principal:
    operator: Operator
    via: str  # "token" or "session"
    csrf_token: str | None = None

    @property
    def actor(self) -> audit.Actor:
        return audit.Actor(name=self.operator.name, via=self.via)

    @property
    def role(self) -> Role:
        return self.operator.role

    def sees_store(self, store: str) -> bool:
        return self.role is not Role.STORE_MANAGER or store in self.operator.stores


def storage_of(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


def now_of(request: Request) -> datetime:
    clock: Callable[[], datetime] | None = getattr(request.app.state, "clock", None)
    return clock() if clock is not None else datetime.now(UTC)


def _unauthorized(detail: str) -> Refusal:
    return Refusal(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def _by_token(storage: Storage, token: str, now: datetime) -> Principal:
    with storage.writing() as conn:
        found = operators.by_token(conn, token, now)
        if found is None and auth.authenticate(conn, f"Bearer {token}") is not None:
            raise Refusal(403, "forbidden", "a cabinet's token is not accepted on operator routes")
    if found is None:
        raise _unauthorized("missing or unknown operator token")
    return Principal(operator=found[0], via="token")


def _session(storage: Storage, session_id: str, now: datetime) -> operators.Session | None:
    with storage.reading() as conn:
        return operators.session(conn, session_id, now)


async def _csrf_sent(request: Request) -> str:
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        try:
            form = await request.form()
        except (StarletteHTTPException, ValueError):
            return ""  # a form that cannot be read carries no token
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else ""
    return sent


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session_id: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    """The operator behind this request, or a refusal: 401 without credentials, 403 for a cabinet."""
    storage = storage_of(request)
    now = now_of(request)
    if request.headers.get("authorization") is not None:
        if credentials is None or not credentials.credentials.strip():
            raise _unauthorized("missing or unknown operator token")
        # The database is read off the event loop, which the cabinets' long polls share.
        return await run_in_threadpool(_by_token, storage, credentials.credentials.strip(), now)
    if not session_id:
        raise _unauthorized("sign in (POST /v1/admin/login) or send an operator token")
    found = await run_in_threadpool(_session, storage, session_id, now)
    if found is None:
        raise _unauthorized("the session has ended: sign in again")
    if request.method not in SAFE_METHODS:
        sent = await _csrf_sent(request)
        if not sent or not hmac.compare_digest(sent.encode(), found.csrf_token.encode()):
            raise Refusal(
                403,
                "csrf",
                f"a change made with a session cookie needs the session's CSRF token "
                f"({CSRF_HEADER} header or {CSRF_FIELD} form field)",
            )
    return Principal(operator=found.operator, via="session", csrf_token=found.csrf_token)


def allow(roles: frozenset[Role], what: str) -> Callable[..., object]:
    """A dependency: the caller, when their role is one of `roles`; else 403 naming what they may not do."""

    async def dependency(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.role not in roles:
            raise Refusal(403, "forbidden", f"role {who.role.value} may not {what}")
        return who

    return dependency


Reader = Annotated[Principal, Depends(allow(FLEET_READ, "read the fleet"))]
Writer = Annotated[Principal, Depends(allow(FLEET_WRITE, "change the fleet"))]
StoreWriter = Annotated[Principal, Depends(allow(STORE_WRITE, "change the fleet"))]
AuditReader = Annotated[Principal, Depends(allow(AUDIT_READ, "read the audit log"))]
Admin = Annotated[Principal, Depends(allow(ACCOUNTS, "manage operators' accounts"))]
AnyOperator = Annotated[Principal, Depends(principal)]


def refusal(exc: operators.OperatorError) -> Refusal:
    return Refusal(exc.status, exc.code, str(exc))
