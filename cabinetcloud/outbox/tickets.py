"""Repair tickets on their way to the store's repair service.

A cabinet's `repair_ticket_opened` (a failed self-test at return, or a problem a person reported at the
cabinet) opens a ticket in the ingest's own transaction and publishes `repair_ticket.opened` with all the
repair service needs: the device (serial, model, home store), the self-test report, the person's own
report if there was one, the last rental with its renter and usage, and the cabinet, slot and times, all
read from the events the cloud holds. The service may answer the delivery with its own ticket id
(`{"reference": "…"}`, or `ticket_id` / `id`) and later post status updates to
`/v1/repair-tickets/{ticket_id}` with its endpoint's callback token. A device stays in repair until its
ticket is closed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.outbox import messages, publish
from cabinetcloud.storage import Storage

T = schema.repair_tickets
EV = schema.events
STATUSES: Final = ("open", "accepted", "in_repair", "closed", "rejected")
FINAL: Final = frozenset({"closed", "rejected"})
RENTALS_LOOKED_AT: Final = 50


class TicketError(ValueError):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code


def _when(row: Any) -> datetime | None:
    return None if row is None else row.occurred_at_utc


def _latest(conn: Connection, query: sa.Select[Any]) -> Any:
    return conn.execute(query.order_by(EV.c.seq.desc()).limit(1)).first()


def _rental(conn: Connection, serial: str, rental_id: str | None, returned: Any) -> messages.RentalUsage | None:
    if rental_id is None:
        return None
    # The rental may have begun at another cabinet: look among the device's rentals anywhere.
    rented = conn.execute(
        sa.select(EV)
        .where(EV.c.device == serial, EV.c.type == "device_rented")
        .order_by(EV.c.occurred_at_utc.desc())
        .limit(RENTALS_LOOKED_AT)
    ).all()
    start = next((row for row in rented if json.loads(row.payload).get("rental_id") == rental_id), None)
    staff = None
    if start is not None and start.staff:
        name = conn.execute(sa.select(schema.staff.c.name).where(schema.staff.c.id == start.staff)).scalar()
        staff = messages.StaffRef(id=start.staff, name=name or "")
    due = None if start is None else json.loads(start.payload).get("due_at")
    return messages.RentalUsage(
        rental_id=rental_id,
        staff=staff,
        cabinet=None if start is None else start.cabinet_id,
        rented_at=_when(start),
        due_at=due,
        returned_at=_when(returned),
        usage=json.loads(returned.payload).get("usage", {}) if returned is not None else {},
    )


def _report(
    evidence: dict[str, Any], conn: Connection, cabinet_id: str, serial: str | None
) -> messages.UserReport | None:
    found = evidence.get("report")
    if not isinstance(found, dict):
        return None
    reported = None
    if serial is not None:
        reported = _latest(
            conn,
            sa.select(EV).where(EV.c.cabinet_id == cabinet_id, EV.c.type == "problem_reported", EV.c.device == serial),
        )
    return messages.UserReport(
        reason=str(found.get("reason", "")),
        note=str(found.get("note", "")),
        critical=bool(found.get("critical", False)),
        reported_at=_when(reported),
        staff=found.get("staff"),
    )


def ticket_data(conn: Connection, store: str, event: dict[str, Any]) -> messages.RepairTicketOpened:
    """The repair_ticket.opened data for a cabinet's repair_ticket_opened event (a row of `events`)."""
    payload = json.loads(event["payload"])
    evidence: dict[str, Any] = dict(payload.get("evidence") or {})
    serial = event["device"]
    device = rental = None
    if serial is not None:
        held = conn.execute(sa.select(schema.devices).where(schema.devices.c.serial == serial)).first()
        device = messages.DeviceRef(
            serial=serial, model=held.model if held else None, home_store=held.store if held else None
        )
        returned = _latest(
            conn,
            sa.select(EV).where(
                EV.c.cabinet_id == event["cabinet_id"],
                EV.c.epoch == event["epoch"],
                EV.c.seq < event["seq"],
                EV.c.type == "device_returned",
                EV.c.device == serial,
            ),
        )
        rental_id = None if returned is None else json.loads(returned.payload).get("rental_id")
        rental = _rental(conn, serial, rental_id, returned)
    return messages.RepairTicketOpened(
        ticket_id=str(payload["ticket_id"]),
        status="open",
        opened_at=event["occurred_at_utc"],
        store=store,
        cabinet=event["cabinet_id"],
        slot=event["slot"],
        device=device,
        selftest={k: v for k, v in evidence.items() if k != "report"},
        report=_report(evidence, conn, event["cabinet_id"], serial),
        rental=rental,
    )


def open_ticket(storage: Storage, conn: Connection, store: str, event: dict[str, Any], now: datetime) -> None:
    data = ticket_data(conn, store, event)
    body = data.model_dump(mode="json")
    inserted = conn.execute(
        storage.insert_ignoring_duplicates(T)
        .values(
            ticket_id=data.ticket_id,
            store=store,
            cabinet_id=data.cabinet,
            slot=data.slot,
            device=event["device"],
            status="open",
            opened_at=data.opened_at or now,
            updated_at=now,
            payload=json.dumps(body, sort_keys=True),
        )
        .returning(T.c.ticket_id)
    ).first()
    if inserted is not None:
        publish.publish(storage, conn, store, "repair_ticket.opened", body, data.ticket_id, now)


def take_reference(conn: Connection, ticket_id: str, answer: str) -> None:
    """The repair service's own ticket id, from its answer to repair_ticket.opened, when it gave one."""
    try:
        body = json.loads(answer)
    except ValueError:
        return
    if not isinstance(body, dict):
        return
    reference = next(
        (str(body[k]) for k in ("reference", "ticket_id", "id") if isinstance(body.get(k), str | int)), None
    )
    if reference:
        conn.execute(
            sa.update(T).where(T.c.ticket_id == ticket_id, T.c.reference.is_(None)).values(reference=reference[:128])
        )


def current(conn: Connection, ticket_id: str, store: str | None = None) -> dict[str, Any]:
    row = conn.execute(sa.select(T).where(T.c.ticket_id == ticket_id)).first()
    if row is None or (store is not None and row.store != store):
        raise TicketError(404, "not_found", f"repair ticket {ticket_id!r} is not known")
    return {
        "ticket_id": row.ticket_id,
        "store": row.store,
        "cabinet": row.cabinet_id,
        "slot": row.slot,
        "device": row.device,
        "status": row.status,
        "reference": row.reference,
        "note": row.note,
        "opened_at": row.opened_at,
        "updated_at": row.updated_at,
        "closed_at": row.closed_at,
    }


def update(
    storage: Storage,
    conn: Connection,
    ticket_id: str,
    change: dict[str, Any],
    by: str,
    now: datetime,
    *,
    store: str | None = None,
) -> dict[str, Any]:
    """A status update from the repair service (or an operator); published as repair_ticket.updated."""
    row = conn.execute(storage.lock_for_update(sa.select(T).where(T.c.ticket_id == ticket_id))).first()
    if row is None or (store is not None and row.store != store):
        raise TicketError(404, "not_found", f"repair ticket {ticket_id!r} is not known")
    if row.status in FINAL and change["status"] != row.status:
        raise TicketError(
            409, "conflict", f"repair ticket {ticket_id!r} is {row.status}: it cannot become {change['status']}"
        )
    values = {
        "status": change["status"],
        "reference": change.get("reference") or row.reference,
        "note": change.get("note", row.note),
        "updates": row.updates + 1,
        "updated_at": now,
        "closed_at": now if change["status"] in FINAL else None,
    }
    conn.execute(sa.update(T).where(T.c.ticket_id == ticket_id).values(**values))
    data = messages.RepairTicketUpdated(
        ticket_id=ticket_id,
        status=values["status"],
        reference=values["reference"],
        note=values["note"],
        updated_at=now,
        by=by,
        store=row.store,
        device=row.device,
    ).model_dump(mode="json")
    publish.publish(storage, conn, row.store, "repair_ticket.updated", data, f"{ticket_id}:{values['updates']}", now)
    return data
