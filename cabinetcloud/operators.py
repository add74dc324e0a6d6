"""Operators: the accounts that run the fleet, their roles, passwords, API tokens and browser sessions.

Passwords are argon2id (argon2-cffi's defaults). API tokens and session ids are 256 random bits, so
the cloud keeps a plain SHA-256 of each, like a cabinet's token; the raw value is shown once.
Every change here is written with its audit event by the caller, in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.storage import Storage

TOKEN_PREFIX: Final = "op1_"
SESSION_LIFETIME: Final = timedelta(hours=12)
MIN_PASSWORD_CHARS: Final = 10

_hasher: Final = PasswordHasher()
# Verified against when the name is unknown, so that a wrong name costs as long as a wrong password.
_DUMMY_HASH: Final = _hasher.hash(secrets.token_urlsafe(16))


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"
    STORE_MANAGER = "store-manager"


class OperatorError(Exception):
    """An operator account cannot be changed as asked; the message names the operator."""

    def __init__(self, message: str, *, status: int = 409, code: str = "conflict") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Operator:
    id: int
    name: str
    role: Role
    active: bool
    stores: tuple[str, ...] = ()
    has_password: bool = False
    created_at: datetime | None = field(default=None, compare=False)

    def view(self) -> dict[str, Any]:
        """The account as the API and the audit log show it (never a hash)."""
        return {
            "name": self.name,
            "role": self.role.value,
            "stores": list(self.stores),
            "active": self.active,
            "has_password": self.has_password,
        }


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _stores_of(conn: Connection, operator_id: int) -> tuple[str, ...]:
    rows = conn.execute(
        sa.select(schema.operator_stores.c.store)
        .where(schema.operator_stores.c.operator_id == operator_id)
        .order_by(schema.operator_stores.c.store)
    )
    return tuple(rows.scalars())


def _operator(conn: Connection, row: Any) -> Operator:
    return Operator(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        active=row.active,
        stores=_stores_of(conn, row.id),
        has_password=row.password_hash is not None,
        created_at=row.created_at,
    )


def find(conn: Connection, name: str) -> Operator | None:
    row = conn.execute(sa.select(schema.operators).where(schema.operators.c.name == name)).first()
    return None if row is None else _operator(conn, row)


def get(conn: Connection, name: str) -> Operator:
    found = find(conn, name)
    if found is None:
        raise OperatorError(f"operator {name!r} is not known", status=404, code="not_found")
    return found


def listing(conn: Connection) -> list[Operator]:
    rows = conn.execute(sa.select(schema.operators).order_by(schema.operators.c.name)).all()
    return [_operator(conn, row) for row in rows]


def check_password(name: str, password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise OperatorError(
            f"operator {name!r}: a password needs at least {MIN_PASSWORD_CHARS} characters",
            status=422,
            code="invalid",
        )


def _check_stores(conn: Connection, name: str, role: Role, stores: tuple[str, ...]) -> None:
    if role is Role.STORE_MANAGER and not stores:
        raise OperatorError(f"operator {name!r}: a store-manager needs at least one store", status=422, code="invalid")
    if role is not Role.STORE_MANAGER and stores:
        raise OperatorError(
            f"operator {name!r}: only a store-manager has stores, not a {role}", status=422, code="invalid"
        )
    known = set(conn.execute(sa.select(schema.stores.c.id).where(schema.stores.c.id.in_(stores))).scalars())
    for store in stores:
        if store not in known:
            raise OperatorError(f"operator {name!r}: store {store!r} is not known", status=404, code="not_found")


def _set_stores(conn: Connection, operator_id: int, stores: tuple[str, ...]) -> None:
    conn.execute(sa.delete(schema.operator_stores).where(schema.operator_stores.c.operator_id == operator_id))
    if stores:
        conn.execute(sa.insert(schema.operator_stores), [{"operator_id": operator_id, "store": s} for s in stores])


def add(
    conn: Connection,
    name: str,
    role: Role,
    stores: tuple[str, ...] = (),
    password: str | None = None,
    now: datetime | None = None,
) -> Operator:
    stores = tuple(sorted(set(stores)))
    if find(conn, name) is not None:
        raise OperatorError(f"operator {name!r} already exists")
    _check_stores(conn, name, role, stores)
    if password is not None:
        check_password(name, password)
    operator_id = conn.execute(
        sa.insert(schema.operators)
        .values(
            name=name,
            role=role.value,
            password_hash=None if password is None else _hasher.hash(password),
            active=True,
            created_at=now or datetime.now(UTC),
        )
        .returning(schema.operators.c.id)
    ).scalar_one()
    _set_stores(conn, operator_id, stores)
    return get(conn, name)


def update(
    conn: Connection,
    name: str,
    *,
    role: Role | None = None,
    stores: tuple[str, ...] | None = None,
    active: bool | None = None,
) -> tuple[Operator, Operator]:
    """Change an account's role, stores or active flag; returns it before and after."""
    before = get(conn, name)
    new_role = before.role if role is None else role
    new_stores = before.stores if stores is None else tuple(sorted(set(stores)))
    if role is not None and role is not Role.STORE_MANAGER and stores is None:
        new_stores = ()  # leaving store-manager drops the stores
    _check_stores(conn, name, new_role, new_stores)
    values: dict[str, Any] = {"role": new_role.value}
    if active is not None:
        values["active"] = active
    conn.execute(sa.update(schema.operators).where(schema.operators.c.id == before.id).values(**values))
    _set_stores(conn, before.id, new_stores)
    if active is False:
        end_sessions(conn, before.id)
    if before.role is Role.ADMIN and before.active:
        _keep_an_admin(conn, name)
    return before, get(conn, name)


def _keep_an_admin(conn: Connection, name: str) -> None:
    admins = conn.execute(
        sa.select(sa.func.count())
        .select_from(schema.operators)
        .where(schema.operators.c.role == Role.ADMIN.value, schema.operators.c.active.is_(True))
    ).scalar_one()
    if admins == 0:
        # Without one, only the CLI (direct access to the database) could manage accounts again.
        raise OperatorError(f"operator {name!r} is the last active admin: make another admin first")


def set_password(conn: Connection, name: str, password: str) -> Operator:
    """A new password; the operator's browser sessions end (tokens stay)."""
    operator = get(conn, name)
    check_password(name, password)
    conn.execute(
        sa.update(schema.operators)
        .where(schema.operators.c.id == operator.id)
        .values(password_hash=_hasher.hash(password))
    )
    end_sessions(conn, operator.id)
    return get(conn, name)


def login(conn: Connection, name: str, password: str) -> Operator | None:
    """The active operator whose password this is, or None (a wrong name costs as much as a wrong password)."""
    row = conn.execute(sa.select(schema.operators).where(schema.operators.c.name == name)).first()
    encoded = _DUMMY_HASH if row is None or row.password_hash is None else row.password_hash
    try:
        _hasher.verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.password_hash is None or not row.active:
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        conn.execute(
            sa.update(schema.operators)
            .where(schema.operators.c.id == row.id)
            .values(password_hash=_hasher.hash(password))
        )
    return _operator(conn, row)


# --- API tokens ------------------------------------------------------------------------------------


def issue_token(conn: Connection, name: str, label: str, now: datetime | None = None) -> tuple[dict[str, Any], str]:
    """A new API token for the operator: its record and the token itself, shown once."""
    operator = get(conn, name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = now or datetime.now(UTC)
    token_id = conn.execute(
        sa.insert(schema.api_tokens)
        .values(operator_id=operator.id, name=label, token_hash=digest(token), created_at=now)
        .returning(schema.api_tokens.c.id)
    ).scalar_one()
    return token_record(conn, name, token_id), token


def _token_view(row: Any, operator: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "operator": operator,
        "name": row.name,
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
        "revoked_at": row.revoked_at,
    }


def tokens(conn: Connection, name: str) -> list[dict[str, Any]]:
    operator = get(conn, name)
    rows = conn.execute(
        sa.select(schema.api_tokens)
        .where(schema.api_tokens.c.operator_id == operator.id)
        .order_by(schema.api_tokens.c.id)
    ).all()
    return [_token_view(row, name) for row in rows]


def token_record(conn: Connection, name: str, token_id: int) -> dict[str, Any]:
    for record in tokens(conn, name):
        if record["id"] == token_id:
            return record
    raise OperatorError(f"operator {name!r} has no token {token_id}", status=404, code="not_found")


def revoke_token(
    conn: Connection, name: str, token_id: int, now: datetime | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    before = token_record(conn, name, token_id)
    if before["revoked_at"] is not None:
        raise OperatorError(f"operator {name!r}: token {token_id} is already revoked")
    conn.execute(
        sa.update(schema.api_tokens)
        .where(schema.api_tokens.c.id == token_id)
        .values(revoked_at=now or datetime.now(UTC))
    )
    return before, token_record(conn, name, token_id)


def by_token(conn: Connection, token: str, now: datetime) -> tuple[Operator, str] | None:
    """The active operator an unrevoked API token belongs to, with the token's name; marks it used."""
    hashed = digest(token)
    row = conn.execute(
        sa.select(schema.api_tokens).where(
            schema.api_tokens.c.token_hash == hashed, schema.api_tokens.c.revoked_at.is_(None)
        )
    ).first()
    if row is None or not hmac.compare_digest(row.token_hash, hashed):
        return None
    operator_row = conn.execute(sa.select(schema.operators).where(schema.operators.c.id == row.operator_id)).one()
    if not operator_row.active:
        return None
    conn.execute(sa.update(schema.api_tokens).where(schema.api_tokens.c.id == row.id).values(last_used_at=now))
    return _operator(conn, operator_row), row.name


def is_operator_token_of(storage: Storage, token: str) -> bool:
    """Whether this is an operator's API token (revoked or not): a cabinet route refuses it as such."""
    with storage.reading() as conn:
        query = sa.select(schema.api_tokens.c.id).where(schema.api_tokens.c.token_hash == digest(token))
        return conn.execute(query).first() is not None


# --- browser sessions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    operator: Operator
    csrf_token: str
    expires_at: datetime


def open_session(conn: Connection, operator: Operator, now: datetime) -> tuple[str, Session]:
    """A new browser session: the cookie's value (shown once) and the session."""
    # Sessions that ran out go when a new one comes: the table holds only live ones and a few more.
    conn.execute(sa.delete(schema.operator_sessions).where(schema.operator_sessions.c.expires_at <= now))
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = now + SESSION_LIFETIME
    conn.execute(
        sa.insert(schema.operator_sessions).values(
            id_hash=digest(session_id), operator_id=operator.id, csrf_token=csrf, created_at=now, expires_at=expires
        )
    )
    return session_id, Session(operator=operator, csrf_token=csrf, expires_at=expires)


def session(conn: Connection, session_id: str, now: datetime) -> Session | None:
    row = conn.execute(
        sa.select(schema.operator_sessions).where(schema.operator_sessions.c.id_hash == digest(session_id))
    ).first()
    if row is None or row.expires_at <= now:
        return None
    operator_row = conn.execute(sa.select(schema.operators).where(schema.operators.c.id == row.operator_id)).one()
    if not operator_row.active:
        return None
    return Session(operator=_operator(conn, operator_row), csrf_token=row.csrf_token, expires_at=row.expires_at)


def close_session(conn: Connection, session_id: str) -> None:
    conn.execute(sa.delete(schema.operator_sessions).where(schema.operator_sessions.c.id_hash == digest(session_id)))


def end_sessions(conn: Connection, operator_id: int) -> None:
    conn.execute(sa.delete(schema.operator_sessions).where(schema.operator_sessions.c.operator_id == operator_id))
