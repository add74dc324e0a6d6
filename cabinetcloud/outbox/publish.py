"""Which endpoints a message goes to: every active webhook endpoint of the store that takes its type.

The body is the Standard Webhooks payload shape, `{"type", "timestamp", "data"}`; its types and their JSON
Schemas are in docs/webhooks.md. `dedup_key` names the cause (the cabinet's event, a ticket's update
number, a reminder's rental and interval), so publishing the same cause twice sends nothing twice.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.outbox import queue
from cabinetcloud.storage import Storage

EVENT_TYPES: Final = (
    "repair_ticket.opened",
    "repair_ticket.updated",
    "rental.due_soon",
    "rental.overdue",
    "alarm.raised",
    "device.lost",
)
E = schema.endpoints


def webhook_endpoints(conn: Connection, store: str, event_type: str) -> list[int]:
    rows = conn.execute(
        sa.select(E.c.id, E.c.event_types).where(E.c.store == store, E.c.kind == "webhook", E.c.active.is_(True))
    ).all()
    return [row.id for row in rows if not json.loads(row.event_types) or event_type in json.loads(row.event_types)]


def publish(
    storage: Storage,
    conn: Connection,
    store: str,
    event_type: str,
    data: dict[str, Any],
    dedup_key: str,
    now: datetime,
    *,
    exclude: int | None = None,
) -> int:
    """Enqueue one delivery per endpoint that takes `event_type`; returns how many were new."""
    assert event_type in EVENT_TYPES, event_type
    body = {"type": event_type, "timestamp": now.isoformat().replace("+00:00", "Z"), "data": data}
    made = 0
    for endpoint_id in webhook_endpoints(conn, store, event_type):
        if endpoint_id != exclude:
            made += queue.enqueue(storage, conn, endpoint_id, event_type, body, f"{event_type}:{dedup_key}", now)
    return made


def raise_alarm(
    storage: Storage,
    conn: Connection,
    store: str,
    alarm: str,
    subject: str,
    detail: str,
    now: datetime,
    *,
    exclude: int | None = None,
) -> bool:
    """A cloud alarm (an endpoint failing, a cabinet gone quiet), once until it is cleared; delivered as
    alarm.raised to the store's other endpoints. True when it was new."""
    alarms = schema.cloud_alarms
    open_ = conn.execute(
        sa.select(alarms.c.id).where(
            alarms.c.alarm == alarm, alarms.c.subject == subject, alarms.c.cleared_at.is_(None)
        )
    ).first()
    if open_ is not None:
        return False
    made = conn.execute(
        sa.insert(alarms)
        .values(store=store, alarm=alarm, subject=subject, detail=detail, raised_at=now)
        .returning(alarms.c.id)
    ).scalar_one()
    data = {
        "alarm": alarm,
        "store": store,
        "subject": subject,
        "detail": detail,
        "raised_at": now.isoformat(),
        "source": "cloud",
    }
    publish(storage, conn, store, "alarm.raised", data, f"cloud:{made}", now, exclude=exclude)
    return True


def clear_alarm(conn: Connection, alarm: str, subject: str, now: datetime) -> None:
    alarms = schema.cloud_alarms
    conn.execute(
        sa.update(alarms)
        .where(alarms.c.alarm == alarm, alarms.c.subject == subject, alarms.c.cleared_at.is_(None))
        .values(cleared_at=now)
    )
