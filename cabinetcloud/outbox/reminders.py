"""Reminders that reach the person who holds the device (docs/notifications.md).

A rental with a time limit is due soon 15 minutes before its due time (as the cabinet counts it), then
overdue, again every `overdue_every_min` while it stays out, and after `escalate_after_min` the store
manager's channel hears of it. Each of these is noted once per rental, kind and interval, whichever
noticed it first: the cabinet (its `rental_due_soon` and `rental_overdue` events, which it records
offline and uploads later) or the cloud's own clock over the open rentals. A cabinet's note that
arrives after its interval has passed is kept, not sent.

Notes for one person, kind and interval are gathered for a minute into one message listing every
device of theirs that is due, sent to the store's reminder channels (with the person @-mentioned or
addressed) and to the webhook endpoints that take `rental.due_soon` / `rental.overdue`. Channel
messages wait for the end of the store's quiet hours; webhooks, which no one is woken by, do not.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.outbox import notices as store_notices
from cabinetcloud.outbox import queue, texts
from cabinetcloud.outbox.messages import DueDevice, RentalReminder, StaffRef
from cabinetcloud.outbox.notices import Notices
from cabinetcloud.projections import views
from cabinetcloud.storage import Storage

DUE_SOON: Final = timedelta(minutes=15)  # as the cabinet's own reminder (cabinetd/flows/watch.py)
GATHER: Final = timedelta(seconds=60)
MOBILE: Final = re.compile(r"^\+?[0-9]{6,15}$")
E, D = schema.endpoints, schema.deliveries


@dataclass(frozen=True)
class Due:
    store: str
    staff: str
    kind: str  # due_soon | overdue | escalation
    interval: int
    device: DueDevice


def _person(conn: Connection, staff: str) -> tuple[StaffRef, str | None]:
    name = conn.execute(sa.select(schema.staff.c.name).where(schema.staff.c.id == staff)).scalar()
    notify = conn.execute(
        sa.select(schema.staff_contacts.c.notify).where(schema.staff_contacts.c.staff_id == staff)
    ).scalar()
    return StaffRef(id=staff, name=name or ""), notify


def _targets(conn: Connection, store: str, kind: str) -> list[Any]:
    purpose = "escalation" if kind == "escalation" else "reminders"
    rows = conn.execute(sa.select(E).where(E.c.store == store, E.c.active.is_(True))).all()
    chosen = [row for row in rows if row.kind == "channel" and row.purpose == purpose]
    if kind != "escalation":
        event_type = f"rental.{kind}"
        chosen += [
            row
            for row in rows
            if row.kind == "webhook" and (not json.loads(row.event_types) or event_type in json.loads(row.event_types))
        ]
    return chosen


def _addressing(notify: str | None) -> dict[str, Any]:
    """How a channel message reaches the person: @-mentioned by mobile, addressed by e-mail, or sent to
    their own Apprise URL."""
    if not notify:
        return {"mentions": []}
    if MOBILE.match(notify):
        return {"mentions": [notify]}
    if notify.startswith("mailto:") and not notify.startswith("mailto://"):
        return {"mentions": [], "to": notify.removeprefix("mailto:")}
    return {"mentions": [], "url": notify}


def _payload(
    endpoint: Any, due: Due, reminder: RentalReminder, notify: str | None, notices: Notices, now: datetime
) -> dict[str, Any]:
    data = reminder.model_dump(mode="json")
    if endpoint.kind == "webhook":
        return {"type": f"rental.{reminder.kind}", "timestamp": now.isoformat().replace("+00:00", "Z"), "data": data}
    title, body = texts.render(reminder, notices, due.kind)
    return {"title": title, "body": body, "data": data, **_addressing(notify)}


def _gather(storage: Storage, conn: Connection, endpoint: Any, due: Due, notices: Notices, now: datetime) -> None:
    staff, notify = _person(conn, due.staff)
    group = f"remind:{due.kind}:{due.interval}:{due.staff}:"
    held = conn.execute(
        storage.lock_for_update(
            sa.select(D.c.id, D.c.payload)
            .where(D.c.endpoint_id == endpoint.id, D.c.status == queue.PENDING, D.c.attempts == 0)
            .where(D.c.dedup_key.startswith(group, autoescape=True))
            .order_by(D.c.id.desc())
            .limit(1)
        )
    ).first()
    kind = "overdue" if due.kind == "escalation" else due.kind
    if held is not None:
        reminder = RentalReminder.model_validate(json.loads(held.payload)["data"])
        if all(d.rental_id != due.device.rental_id for d in reminder.devices):
            reminder.devices.append(due.device)
        payload = _payload(endpoint, due, reminder, notify, notices, now)
        conn.execute(
            sa.update(D)
            .where(D.c.id == held.id)
            .values(payload=json.dumps(payload, sort_keys=True, ensure_ascii=False))
        )
        return
    reminder = RentalReminder(store=due.store, staff=staff, kind=kind, interval=due.interval, devices=[due.device])
    payload = _payload(endpoint, due, reminder, notify, notices, now)
    release = now + GATHER if endpoint.kind == "webhook" else notices.release(now + GATHER)
    event_type = f"rental.{kind}" if due.kind != "escalation" else "rental.escalation"
    queue.enqueue(storage, conn, endpoint.id, event_type, payload, group + now.isoformat(), now, not_before=release)


def note(storage: Storage, conn: Connection, due: Due, now: datetime, *, source: str, deliver: bool = True) -> bool:
    """A reminder noted once per rental, kind and interval; True when it was new (and so sent)."""
    inserted = conn.execute(
        storage.insert_ignoring_duplicates(schema.reminders_sent)
        .values(
            cabinet_id=due.device.cabinet,
            rental_id=due.device.rental_id,
            kind=due.kind,
            interval=due.interval,
            staff=due.staff,
            noted_at=now,
            source=source,
            delivered=deliver,
        )
        # RETURNING rather than rowcount: what the database reports for a skipped insert differs.
        .returning(schema.reminders_sent.c.kind)
    ).first()
    if inserted is None:
        return False
    if deliver:
        notices = store_notices.of(conn, due.store)
        for endpoint in _targets(conn, due.store, due.kind):
            _gather(storage, conn, endpoint, due, notices, now)
    return True


def _model(conn: Connection, serial: str) -> str | None:
    return conn.execute(sa.select(schema.devices.c.model).where(schema.devices.c.serial == serial)).scalar()


def from_cabinet(storage: Storage, conn: Connection, store: str, event: dict[str, Any], now: datetime) -> None:
    """A cabinet's rental_due_soon / rental_overdue, at ingest (perhaps long after, from an offline cabinet)."""
    if event["staff"] is None or event["device"] is None:
        return
    payload = json.loads(event["payload"])
    kind = "due_soon" if event["type"] == "rental_due_soon" else "overdue"
    device = DueDevice(
        serial=event["device"],
        model=_model(conn, event["device"]),
        cabinet=event["cabinet_id"],
        rental_id=str(payload["rental_id"]),
        rented_at=None,
        due_at=payload["due_at"],
    )
    notices = store_notices.of(conn, store)
    late = event["occurred_at_utc"] is not None and now - event["occurred_at_utc"] > timedelta(
        minutes=notices.overdue_every_min
    )
    note(storage, conn, Due(store, event["staff"], kind, 0, device), now, source="cabinet", deliver=not late)


def dues(rental: Any, notices: Notices, model: str | None, now: datetime) -> list[Due]:
    """What an open rental (a projections Rental) is due at `now`: nothing, due soon, or overdue in
    interval k (k = 0 at the due time), and escalated once past the escalation time."""
    if rental.due_at is None or now < rental.due_at - DUE_SOON:
        return []
    device = DueDevice(
        serial=rental.device,
        model=model,
        cabinet=rental.cabinet,
        rental_id=rental.rental_id,
        rented_at=rental.rented_at,
        due_at=rental.due_at,
    )
    if now < rental.due_at:
        return [Due(rental.store, rental.staff, "due_soon", 0, device)]
    late = now - rental.due_at
    found = [
        Due(rental.store, rental.staff, "overdue", int(late / timedelta(minutes=notices.overdue_every_min)), device)
    ]
    if notices.escalate_after_min is not None and late >= timedelta(minutes=notices.escalate_after_min):
        found.append(Due(rental.store, rental.staff, "escalation", 0, device))
    return found


def run_once(storage: Storage, now: datetime) -> int:
    """The cloud's own clock over the open rentals of every store no other worker is doing now; returns
    how many reminders it noted."""
    noted = 0
    with storage.writing() as conn:
        stores = conn.execute(storage.claim(sa.select(schema.stores.c.id).order_by(schema.stores.c.id))).scalars().all()
        for store in stores:
            notices = store_notices.of(conn, store)
            for rental in views.open_rentals(conn, store=store, now=now):
                for due in dues(rental, notices, _model(conn, rental.device), now):
                    noted += note(storage, conn, due, now, source="cloud")
    return noted
