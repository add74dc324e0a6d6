"""What a cabinet's events cause beyond the cloud: called in the ingest's transaction with the events it
kept for the first time, so a delivery exists exactly when its cause does (an event sent twice is kept
once, and causes once)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from cabinetcloud.outbox import messages, publish, reminders, tickets
from cabinetcloud.storage import Storage


def _alarm(storage: Storage, conn: Connection, store: str, event: dict[str, Any], now: datetime) -> None:
    payload = json.loads(event["payload"])
    slot = event["slot"]
    data = messages.AlarmRaised(
        alarm=str(payload["alarm"]),
        store=store,
        source="cabinet",
        cabinet=event["cabinet_id"],
        slot=slot,
        subject=f"{event['cabinet_id']}/slot {slot}" if slot is not None else event["cabinet_id"],
        detail=str(payload.get("detail", "")),
        raised_at=event["occurred_at_utc"],
    )
    publish.publish(storage, conn, store, "alarm.raised", data.model_dump(mode="json"), event["event_id"], now)


def on_ingest(storage: Storage, conn: Connection, store: str, kept: list[dict[str, Any]], now: datetime) -> None:
    for event in kept:
        if event["type"] == "repair_ticket_opened":
            tickets.open_ticket(storage, conn, store, event, now)
        elif event["type"] == "alarm_raised":
            _alarm(storage, conn, store, event, now)
        elif event["type"] in ("rental_due_soon", "rental_overdue"):
            reminders.from_cabinet(storage, conn, store, event, now)
