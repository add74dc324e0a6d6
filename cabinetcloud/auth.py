"""Cabinet tokens: issued at enrolment, shown once, kept only as a hash; revoked and rotated here.

A token is 256 random bits, so a plain SHA-256 of it cannot be searched back; a slow hash would only
cost every request time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema

TOKEN_PREFIX: Final = "cab1_"


class EnrolmentError(Exception):
    """An operator's enrol, revoke or rotate cannot be done; the message names the cabinet."""


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    cabinet_id: str
    store: str


def authenticate(conn: Connection, authorization: str | None) -> Caller | None:
    """The cabinet a `Bearer` header belongs to, or None for a missing, unknown or revoked token."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    digest = token_hash(token.strip())
    row = conn.execute(
        sa.select(schema.cabinets.c.id, schema.cabinets.c.store, schema.cabinets.c.token_hash).where(
            schema.cabinets.c.token_hash == digest
        )
    ).first()
    # The lookup is by hash already; the constant-time compare keeps a timing side out of it anyway.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return Caller(cabinet_id=row.id, store=row.store)


def _cabinet(conn: Connection, cabinet_id: str) -> Any:
    return conn.execute(
        sa.select(schema.cabinets.c.store, schema.cabinets.c.token_hash).where(schema.cabinets.c.id == cabinet_id)
    ).first()


def cabinet_record(conn: Connection, cabinet_id: str) -> dict[str, Any] | None:
    """A cabinet's enrolment as the audit log shows it: never its token's hash."""
    row = conn.execute(sa.select(schema.cabinets).where(schema.cabinets.c.id == cabinet_id)).first()
    if row is None:
        return None
    return {
        "id": row.id,
        "store": row.store,
        "enrolled": row.token_hash is not None,
        "token_issued_at": row.token_issued_at,
        "revoked_at": row.revoked_at,
    }


def enroll(conn: Connection, cabinet_id: str, store: str, now: datetime | None = None) -> str:
    """Register (or take over a seeded) cabinet and issue its first token."""
    now = now or datetime.now(UTC)
    known_store = conn.execute(sa.select(schema.stores.c.id).where(schema.stores.c.id == store)).first()
    if known_store is None:
        raise EnrolmentError(f"store {store!r} is not known: seed it first (cabinet-cloud seed FILE.toml)")
    row = _cabinet(conn, cabinet_id)
    token = new_token()
    values = {"token_hash": token_hash(token), "token_issued_at": now, "revoked_at": None}
    if row is None:
        conn.execute(sa.insert(schema.cabinets).values(id=cabinet_id, store=store, **values))
        return token
    if row.store != store:
        raise EnrolmentError(f"cabinet {cabinet_id!r} belongs to store {row.store!r}, not {store!r}")
    if row.token_hash is not None:
        raise EnrolmentError(
            f"cabinet {cabinet_id!r} is already enrolled: rotate its token (cabinet-cloud rotate) instead"
        )
    conn.execute(sa.update(schema.cabinets).where(schema.cabinets.c.id == cabinet_id).values(**values))
    return token


def rotate(conn: Connection, cabinet_id: str, now: datetime | None = None) -> str:
    """Replace a cabinet's token at once: the old one stops working with this commit."""
    if _cabinet(conn, cabinet_id) is None:
        raise EnrolmentError(f"cabinet {cabinet_id!r} is not known")
    token = new_token()
    conn.execute(
        sa.update(schema.cabinets)
        .where(schema.cabinets.c.id == cabinet_id)
        .values(token_hash=token_hash(token), token_issued_at=now or datetime.now(UTC), revoked_at=None)
    )
    return token


def revoke(conn: Connection, cabinet_id: str, now: datetime | None = None) -> None:
    row = _cabinet(conn, cabinet_id)
    if row is None:
        raise EnrolmentError(f"cabinet {cabinet_id!r} is not known")
    if row.token_hash is None:
        raise EnrolmentError(f"cabinet {cabinet_id!r} has no token to revoke")
    conn.execute(
        sa.update(schema.cabinets)
        .where(schema.cabinets.c.id == cabinet_id)
        .values(token_hash=None, revoked_at=now or datetime.now(UTC))
    )
