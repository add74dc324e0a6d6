"""From one cabinet's events, in seq order, to the facts they carry (docs/fleet-views.md).

Each event that carries a fact adds one row keyed by its cabinet and event id; what one batch does
to a slot or to a device's marks (last seen, last placed in a slot) is gathered here and written by
the projector in a fixed order, so that workers projecting other cabinets at the same time never
wait on each other in a circle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.projections import tables
from cabinetproto.chain import parse_utc

# A repair ticket written in the same step as a return follows it within these few seqs (the device's
# status, the return, the ticket, an alarm).
TICKET_AFTER_RETURN: Final = 4
# The event types a later event looks back for (its battery, its work type, the return of a ticket).
LOOKED_BACK: Final = frozenset({"device_status", "dispense_started", "device_returned"})
# The technician's action that lifts a critical problem report (cabinetctl device clear).
CLEAR_REPORT: Final = "clear_report"
# A release's steps on the cabinet (cabinetproto/update_events.py).
UPDATE_EVENTS: Final = frozenset(
    {
        "update_offered",
        "update_downloaded",
        "update_refused",
        "update_installing",
        "update_installed",
        "update_rolled_back",
    }
)


def parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = parse_utc(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def event_time(row: Any) -> datetime:
    """When the event happened by the cabinet's clock; when that was not a time, when it came in."""
    moment: datetime = row.occurred_at_utc if row.occurred_at_utc is not None else row.received_at
    return moment


@dataclass
class SlotChange:
    since: datetime
    seq: int
    state: str | None = None
    device: str | None = None
    device_known: bool = False


@dataclass
class DeviceMarks:
    seen: tuple[datetime, str] | None = None
    placed: tuple[datetime, str, int] | None = None

    def saw(self, at: datetime, cabinet_id: str) -> None:
        if self.seen is None or (at, cabinet_id) > self.seen:
            self.seen = (at, cabinet_id)

    def place(self, at: datetime, cabinet_id: str, slot: int) -> None:
        if self.placed is None or (at, cabinet_id) > self.placed[:2]:
            self.placed = (at, cabinet_id, slot)


@dataclass
class Batch:
    """What one batch of one cabinet's epoch adds up to, besides the fact rows it inserted."""

    cabinet_id: str
    store: str
    ordinal: int  # the epoch's place among the cabinet's epochs
    slots: dict[int, SlotChange] = field(default_factory=dict)
    devices: dict[str, DeviceMarks] = field(default_factory=dict)
    # The latest event of each looked-back type and device in this batch so far: most look-backs
    # (the status written with a return, the dispense before a rental) end here, without a query.
    latest: dict[tuple[str, str], Any] = field(default_factory=dict)

    def slot(self, number: int, at: datetime, seq: int) -> SlotChange:
        change = self.slots.get(number)
        if change is None:
            change = self.slots[number] = SlotChange(since=at, seq=seq)
        change.seq = seq
        return change

    def marks(self, serial: str) -> DeviceMarks:
        return self.devices.setdefault(serial, DeviceMarks())


def _earlier(
    conn: Connection, batch: Batch, row: Any, event_type: str, device: str, *, within: int | None = None
) -> Any:
    """The latest event of a type naming `device` before `row` in its cabinet's epoch (by index)."""
    found = batch.latest.get((event_type, device))
    if found is not None:
        return found if within is None or found.seq >= row.seq - within else None
    events = schema.events
    query = sa.select(events.c.event_id, events.c.payload).where(
        events.c.device == device,
        events.c.cabinet_id == row.cabinet_id,
        events.c.epoch == row.epoch,
        events.c.seq < row.seq,
        events.c.type == event_type,
    )
    if within is not None:
        query = query.where(events.c.seq >= row.seq - within)
    return conn.execute(query.order_by(events.c.seq.desc()).limit(1)).first()


def _battery_before(conn: Connection, batch: Batch, row: Any, device: str) -> int | None:
    """The battery the cabinet last reported for the device before this event: in this epoch, else
    in the cabinet's epoch before it (the first rental after a fork adoption)."""
    found = _earlier(conn, batch, row, "device_status", device)
    if found is None:
        events, epochs = schema.events, schema.epochs
        found = conn.execute(
            sa.select(events.c.payload)
            .join(epochs, sa.and_(epochs.c.cabinet_id == events.c.cabinet_id, epochs.c.epoch == events.c.epoch))
            .where(
                events.c.device == device,
                events.c.cabinet_id == row.cabinet_id,
                events.c.type == "device_status",
                epochs.c.ordinal < batch.ordinal,
            )
            .order_by(epochs.c.ordinal.desc(), events.c.seq.desc())
            .limit(1)
        ).first()
    return None if found is None else int(json.loads(found.payload)["battery"])


def _passed(selftest: Any) -> bool:
    """Every check passed; a failed inspection's evidence (no checks, an unresponsive device) did not."""
    if not isinstance(selftest, dict) or not selftest:
        return False
    return all(isinstance(check, dict) and check.get("passed") is True for check in selftest.values())


def _position(row: Any) -> dict[str, Any]:
    return {"cabinet_id": row.cabinet_id, "epoch": row.epoch, "seq": row.seq}


def _rented(conn: Connection, batch: Batch, row: Any, payload: dict[str, Any], at: datetime) -> None:
    dispense = _earlier(conn, batch, row, "dispense_started", row.device)
    conn.execute(
        sa.insert(tables.rentals).values(
            **_position(row),
            rental_id=str(payload["rental_id"]),
            device=row.device,
            staff=row.staff,
            store=batch.store,
            slot=row.slot,
            work_type=None if dispense is None else json.loads(dispense.payload).get("work_type"),
            rented_at=at,
            due_at=parse_time(payload.get("due_at")),
            battery_out=_battery_before(conn, batch, row, row.device),
        )
    )
    change = batch.slot(row.slot, at, row.seq)
    change.device, change.device_known = None, True


def _ended(conn: Connection, batch: Batch, row: Any, payload: dict[str, Any], at: datetime) -> None:
    returned = row.type == "device_returned"
    conn.execute(
        sa.insert(tables.returns).values(
            **_position(row),
            event_id=row.event_id,
            kind="returned" if returned else "cancelled",
            device=row.device,
            rental_id=payload.get("rental_id"),
            store=batch.store,
            slot=row.slot,
            at=at,
            battery_in=_battery_before(conn, batch, row, row.device) if returned else None,
            passed=_passed(payload.get("selftest")) if returned else False,
        )
    )
    batch.marks(row.device).place(at, row.cabinet_id, row.slot)
    change = batch.slot(row.slot, at, row.seq)
    change.device, change.device_known = row.device, True


def _fault(conn: Connection, batch: Batch, row: Any, payload: dict[str, Any], at: datetime) -> None:
    values: dict[str, Any] = {
        **_position(row),
        "event_id": row.event_id,
        "device": row.device,
        "staff": row.staff,
        "store": batch.store,
        "slot": row.slot,
        "at": at,
        "critical": False,
    }
    if row.type == "repair_ticket_opened":
        evidence = payload.get("evidence", {})
        report = evidence.get("report") if isinstance(evidence, dict) else None
        before = _earlier(conn, batch, row, "device_returned", row.device, within=TICKET_AFTER_RETURN)
        values |= {
            "kind": "ticket",
            "ticket_id": str(payload["ticket_id"]),
            "evidence": json.dumps(evidence, sort_keys=True, ensure_ascii=True),
            "return_event": None if before is None else before.event_id,
            "rental_id": None if before is None else json.loads(before.payload).get("rental_id"),
        }
        if isinstance(report, dict):
            values |= {
                "reason": report.get("reason"),
                "note": report.get("note"),
                "critical": bool(report.get("critical")),
            }
    elif row.type == "problem_reported":
        values |= {
            "kind": "report",
            "reason": payload["reason"],
            "note": payload.get("note", ""),
            "critical": bool(payload.get("critical")),
            "rental_id": payload.get("rental_id"),
        }
    else:  # a technician lifting a critical report: the serial is in the action's arguments
        values |= {"kind": "cleared", "device": str(payload["args"]["serial"]), "staff": payload.get("technician")}
    conn.execute(sa.insert(tables.faults).values(**values))


def _is_clear(row: Any, payload: dict[str, Any]) -> bool:
    args = payload.get("args")
    return payload.get("action") == CLEAR_REPORT and isinstance(args, dict) and isinstance(args.get("serial"), str)


def _update(conn: Connection, batch: Batch, row: Any, payload: dict[str, Any], at: datetime) -> None:
    """A step of a release's way onto the cabinet: what a rollout's progress is read from."""
    reason = payload.get("reason")
    if row.type == "update_refused" and payload.get("detail"):
        reason = f"{reason}: {payload['detail']}"
    conn.execute(
        sa.insert(tables.updates).values(
            cabinet_id=row.cabinet_id,
            event_id=row.event_id,
            release=str(payload["release"]),
            type=row.type,
            version=str(payload["version"]),
            reason=reason,
            at=at,
            ordinal=batch.ordinal,
            seq=row.seq,
        )
    )


def apply(conn: Connection, batch: Batch, row: Any) -> None:
    """Add the facts of one event (an events-table row) to the projection."""
    payload: dict[str, Any] = json.loads(row.payload)
    at = event_time(row)
    kind = row.type
    if kind == "device_rented":
        _rented(conn, batch, row, payload, at)
    elif kind in ("device_returned", "rental_cancelled"):
        _ended(conn, batch, row, payload, at)
    elif kind in ("repair_ticket_opened", "problem_reported"):
        _fault(conn, batch, row, payload, at)
    elif kind == "technician_action" and _is_clear(row, payload):
        _fault(conn, batch, row, payload, at)
        batch.marks(str(payload["args"]["serial"]))
    elif kind == "device_status" and row.slot is not None:
        batch.marks(row.device).place(at, row.cabinet_id, row.slot)
        change = batch.slot(row.slot, at, row.seq)
        change.device, change.device_known = row.device, True
    elif kind in UPDATE_EVENTS:
        _update(conn, batch, row, payload, at)
    elif kind == "slot_state_changed":
        change = batch.slot(row.slot, at, row.seq)
        change.state, change.since = str(payload["to"]), at
        if change.state == "empty":
            change.device, change.device_known = None, True
    if row.device is not None:
        batch.marks(row.device).saw(at, row.cabinet_id)
        if kind in LOOKED_BACK:
            batch.latest[(kind, row.device)] = row
