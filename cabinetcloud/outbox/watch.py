"""What the cloud notices by itself, on its own clock: a cabinet gone quiet, and a device no cabinet has
seen for days. Each is published once (alarm.raised with `"source": "cloud"`, device.lost) and shown as a
cloud alarm until the cause goes away: a cabinet that syncs again clears its alarm; a lost device that
turns up may be lost again later, and is then published again."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

import sqlalchemy as sa

from cabinetcloud import schema
from cabinetcloud.outbox import messages, publish
from cabinetcloud.projections import views
from cabinetcloud.projections.status import LOST_AFTER_DAYS
from cabinetcloud.storage import Storage

OFFLINE_AFTER: Final = timedelta(minutes=30)  # six missed sync rounds of a cabinet's long poll and more


def _cabinets(storage: Storage, now: datetime) -> int:
    raised = 0
    with storage.writing() as conn:
        rows = conn.execute(
            sa.select(schema.cabinets.c.id, schema.cabinets.c.store, schema.cabinets.c.last_session_at).where(
                schema.cabinets.c.revoked_at.is_(None), schema.cabinets.c.last_session_at.is_not(None)
            )
        ).all()
        for row in rows:
            subject = f"cabinet:{row.id}"
            quiet = now - row.last_session_at
            if quiet < OFFLINE_AFTER:
                publish.clear_alarm(conn, "cabinet_offline", subject, now)
                continue
            detail = f"cabinet {row.id} has not synced for {int(quiet.total_seconds() // 60)} minutes"
            raised += publish.raise_alarm(storage, conn, row.store, "cabinet_offline", subject, detail, now)
    return raised


def _lost(storage: Storage, now: datetime) -> int:
    published = 0
    with storage.writing() as conn:
        for device in views.lost_devices(conn, store=None, days=LOST_AFTER_DAYS, now=now):
            if device.home_store is None:
                continue  # a device the fleet does not list: the cabinet flags it (unknown_to_fleet)
            data = messages.DeviceLost(
                serial=device.serial,
                model=device.model,
                home_store=device.home_store,
                last_seen_at=device.last_seen_at,
                last_seen_cabinet=device.last_seen_cabinet,
                days=LOST_AFTER_DAYS if device.last_seen_at is None else (now - device.last_seen_at).days,
            ).model_dump(mode="json")
            seen = "never" if device.last_seen_at is None else device.last_seen_at.isoformat()
            key = f"{device.serial}:{seen}"  # once per disappearance
            published += publish.publish(storage, conn, device.home_store, "device.lost", data, key, now)
    return published


def run_once(storage: Storage, now: datetime) -> int:
    return _cabinets(storage, now) + _lost(storage, now)
