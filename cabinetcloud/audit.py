"""The audit log: every change an operator makes, who made it, when, and the resource before and after.

A change and its audit event are written in one transaction: the caller passes the connection it
changed the resource on. `via` says how the operator came in: `token`, `session` or `cli` (then the
actor is `cli:<local user>`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema

MAX_PAGE: Final = 200


@dataclass(frozen=True)
class Actor:
    name: str
    via: str


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} in an audit record")


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=_encode)


def record(
    conn: Connection,
    actor: Actor,
    action: str,
    resource: str,
    resource_id: str,
    *,
    before: Any = None,
    after: Any = None,
    now: datetime | None = None,
) -> None:
    conn.execute(
        sa.insert(schema.audit_events).values(
            at=now or datetime.now(UTC),
            actor=actor.name,
            via=actor.via,
            action=action,
            resource=resource,
            resource_id=resource_id,
            before=_json(before),
            after=_json(after),
        )
    )


def page(
    conn: Connection,
    *,
    resource: str | None = None,
    resource_id: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], int | None]:
    """The newest events first, older than `before_id`; returns them and the cursor of the next page."""
    table = schema.audit_events
    query = sa.select(table).order_by(table.c.id.desc()).limit(min(limit, MAX_PAGE) + 1)
    if resource is not None:
        query = query.where(table.c.resource == resource)
    if resource_id is not None:
        query = query.where(table.c.resource_id == resource_id)
    if before_id is not None:
        query = query.where(table.c.id < before_id)
    rows = conn.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    events = [
        {
            "id": row.id,
            "at": row.at,
            "actor": row.actor,
            "via": row.via,
            "action": row.action,
            "resource": row.resource,
            "resource_id": row.resource_id,
            "before": None if row.before is None else json.loads(row.before),
            "after": None if row.after is None else json.loads(row.after),
        }
        for row in rows
    ]
    return events, (rows[-1].id if more and rows else None)
