"""A store's endpoints: webhook receivers and chat / e-mail channels, set up by operators.

A webhook endpoint gets a signing secret (`whsec_…`, shown once) and a callback token (`rcb1_…`, shown
once, kept as its SHA-256) with which the receiver posts repair-ticket updates back. Rotating the secret
keeps the old one signing beside the new one until the operator drops it, so that a receiver can move
over without missing a message. A URL is checked when it is saved and again at every send.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.outbox import channels, netguard
from cabinetcloud.outbox.publish import EVENT_TYPES
from cabinetcloud.outbox.webhooks import new_secret

KINDS: Final = ("webhook", "channel")
PURPOSES: Final = ("events", "reminders", "escalation")
MAX_SECRETS: Final = 2
CALLBACK_PREFIX: Final = "rcb1_"
E = schema.endpoints


class EndpointError(ValueError):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Issued:
    """What is shown once when an endpoint is made or its keys are rotated."""

    endpoint: dict[str, Any]
    secret: str | None = None
    callback_token: str | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def public(row: Any) -> dict[str, Any]:
    """An endpoint as operators see it: never its secrets, only how many it signs with."""
    return {
        "id": row.id,
        "store": row.store,
        "name": row.name,
        "kind": row.kind,
        "url": row.url if row.kind == "webhook" else _masked(row.url),
        "event_types": json.loads(row.event_types),
        "purpose": row.purpose,
        "allow_private": row.allow_private,
        "active": row.active,
        "disabled_reason": row.disabled_reason,
        "signing_secrets": len(json.loads(row.secrets)),
        "created_at": row.created_at,
    }


def _masked(url: str) -> str:
    # A channel URL carries the channel's own token: show the scheme and where it goes, not the token.
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest[:4]}…" if rest else url


def check_target(kind: str, url: str, event_types: list[str], *, allow_private: bool) -> None:
    if kind not in KINDS:
        raise EndpointError(422, "invalid", f"kind {kind!r} is not one of {', '.join(KINDS)}")
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown:
        raise EndpointError(422, "invalid", f"event type {unknown[0]!r} is not one of {', '.join(EVENT_TYPES)}")
    try:
        if kind == "webhook":
            netguard.check_url(url, allow_private=allow_private)
        else:
            channels.check(url, allow_private=allow_private)
    except (netguard.UnsafeAddress, channels.ChannelError) as exc:
        raise EndpointError(
            422, "unsafe_url" if isinstance(exc, netguard.UnsafeAddress) else "invalid", str(exc)
        ) from None


def get(conn: Connection, endpoint_id: int) -> Any:
    row = conn.execute(sa.select(E).where(E.c.id == endpoint_id)).first()
    if row is None:
        raise EndpointError(404, "not_found", f"endpoint {endpoint_id} is not known")
    return row


def create(conn: Connection, values: dict[str, Any], now: datetime) -> Issued:
    kind = values["kind"]
    check_target(kind, values["url"], values.get("event_types", []), allow_private=values.get("allow_private", False))
    if values.get("purpose", "events") not in PURPOSES:
        raise EndpointError(422, "invalid", f"purpose {values['purpose']!r} is not one of {', '.join(PURPOSES)}")
    taken = conn.execute(sa.select(E.c.id).where(E.c.store == values["store"], E.c.name == values["name"])).first()
    if taken is not None:
        raise EndpointError(409, "conflict", f"store {values['store']!r} already has an endpoint {values['name']!r}")
    secret = new_secret() if kind == "webhook" else None
    callback = CALLBACK_PREFIX + secrets.token_urlsafe(32) if kind == "webhook" else None
    endpoint_id = conn.execute(
        sa.insert(E)
        .values(
            store=values["store"],
            name=values["name"],
            kind=kind,
            url=values["url"],
            secrets=json.dumps([secret] if secret else []),
            event_types=json.dumps(sorted(values.get("event_types", []))),
            purpose=values.get("purpose", "events"),
            allow_private=values.get("allow_private", False),
            callback_token_hash=None if callback is None else token_hash(callback),
            active=True,
            created_at=now,
        )
        .returning(E.c.id)
    ).scalar_one()
    return Issued(public(get(conn, endpoint_id)), secret, callback)


def update(conn: Connection, endpoint_id: int, changes: dict[str, Any], now: datetime) -> dict[str, Any]:
    row = get(conn, endpoint_id)
    url = changes.get("url", row.url)
    types = changes.get("event_types", json.loads(row.event_types))
    allow = changes.get("allow_private", row.allow_private)
    check_target(row.kind, url, types, allow_private=allow)
    values: dict[str, Any] = {"url": url, "event_types": json.dumps(sorted(types)), "allow_private": allow}
    if "active" in changes:
        values["active"] = changes["active"]
        values["disabled_reason"] = None if changes["active"] else "disabled by an operator"
    conn.execute(sa.update(E).where(E.c.id == endpoint_id).values(**values))
    if changes.get("active"):
        # Enabled again: what was held for it while it was disabled goes out now.
        conn.execute(
            sa.update(schema.deliveries)
            .where(schema.deliveries.c.endpoint_id == endpoint_id, schema.deliveries.c.status == "held")
            .values(status="pending", next_attempt_at=now)
        )
    return public(get(conn, endpoint_id))


def rotate_secret(conn: Connection, endpoint_id: int, *, drop_old: bool) -> Issued:
    """A new signing secret first; the newest old one signs beside it until dropped."""
    row = get(conn, endpoint_id)
    if row.kind != "webhook":
        raise EndpointError(409, "conflict", f"endpoint {endpoint_id} is a channel: it has no signing secret")
    held = json.loads(row.secrets)
    secret = new_secret()
    kept = [] if drop_old else held[: MAX_SECRETS - 1]
    conn.execute(sa.update(E).where(E.c.id == endpoint_id).values(secrets=json.dumps([secret, *kept])))
    return Issued(public(get(conn, endpoint_id)), secret=secret)


def by_callback_token(conn: Connection, token: str) -> Any:
    return conn.execute(sa.select(E).where(E.c.callback_token_hash == token_hash(token), E.c.active.is_(True))).first()
