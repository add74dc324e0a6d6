"""Reading the ledger: rows as the controller, the sync client and the CLI see them.

Every function takes the store and runs plain SELECTs; none writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from cabinetd.ledger.events import StoredEvent
from cabinetd.ledger.projections import RentalFacts
from cabinetd.ledger.store import Row, Store
from cabinetproto.chain import iso_utc
from cabinetproto.enums import SlotState


@dataclass(frozen=True, slots=True)
class SlotRow:
    slot: int
    state: SlotState
    device: str | None
    alarms: tuple[str, ...]
    updated_seq: int


@dataclass(frozen=True, slots=True)
class DeviceRow:
    serial: str
    model: str | None
    slot: int | None
    battery: int | None
    health: str | None
    charging: bool | None
    provisioned_work_type: str | None
    last_rented_at: str | None


@dataclass(frozen=True, slots=True)
class RentalRow:
    rental_id: str
    staff: str
    device: str
    cabinet_id: str
    slot: int
    started_at: str
    due_at: str
    returned_at: str | None
    returned_to_slot: int | None
    usage: dict[str, Any] | None
    selftest: dict[str, Any] | None
    status: str
    due_soon_at: str | None
    overdue_at: str | None


@dataclass(frozen=True, slots=True)
class EpochRow:
    epoch: str
    ordinal: int
    started_at: str
    reason: str
    start_hash: str
    acked_seq: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class SyncState:
    """Where the outbox stands, for the sync session: the current epoch, its last event and how much
    of it the cloud has acknowledged, and the downlink cursor."""

    cabinet_id: str
    epoch: str
    last_seq: int
    last_hash: str
    acked_seq: int
    pending: int
    downlink_cursor: str | None
    schema_version: int


EVENT_COLUMNS: Final = (
    "epoch, seq, event_id, type, schema_version, occurred_at, mono_ns, boot_id, cabinet_id, "
    "slot, device, staff, payload, prev_hash, hash"
)
RENTAL_COLUMNS: Final = (
    "rental_id, staff, device, cabinet_id, slot, started_at, due_at, returned_at, returned_to_slot, "
    "usage, selftest, status, due_soon_at, overdue_at"
)


def event_from_row(row: Row) -> StoredEvent:
    epoch, seq, event_id, type_, version, occurred_at, mono_ns, boot_id, cabinet_id = row[:9]
    slot, device, staff, payload, prev_hash, hash_ = row[9:]
    return StoredEvent(
        epoch=epoch,
        seq=seq,
        event_id=event_id,
        type=type_,
        schema_version=version,
        occurred_at=occurred_at,
        mono_ns=mono_ns,
        boot_id=boot_id,
        cabinet_id=cabinet_id,
        slot=slot,
        device=device,
        staff=staff,
        payload=json.loads(payload),
        prev_hash=prev_hash,
        hash=hash_,
    )


def _rental(row: Row) -> RentalRow:
    rental_id, staff, device, cabinet_id, slot, started_at, due_at, returned_at, returned_to_slot = row[:9]
    usage, selftest, status, due_soon_at, overdue_at = row[9:]
    return RentalRow(
        rental_id=rental_id,
        staff=staff,
        device=device,
        cabinet_id=cabinet_id,
        slot=slot,
        started_at=started_at,
        due_at=due_at,
        returned_at=returned_at,
        returned_to_slot=returned_to_slot,
        usage=None if usage is None else json.loads(usage),
        selftest=None if selftest is None else json.loads(selftest),
        status=status,
        due_soon_at=due_soon_at,
        overdue_at=overdue_at,
    )


# --- slots, devices, rentals ---------------------------------------------------------------------


def slot_states(store: Store) -> list[SlotRow]:
    rows = store.rows("SELECT slot, state, device, alarms, updated_seq FROM slots ORDER BY slot")
    return [SlotRow(s, SlotState(state), d, tuple(json.loads(a)), u) for s, state, d, a, u in rows]


def devices(store: Store) -> list[DeviceRow]:
    rows = store.rows(
        "SELECT serial, model, slot, battery, health, charging, provisioned_work_type, last_rented_at "
        "FROM devices ORDER BY serial"
    )
    return [
        DeviceRow(serial, model, slot, battery, health, None if charging is None else bool(charging), work, rented)
        for serial, model, slot, battery, health, charging, work, rented in rows
    ]


def rental(store: Store, rental_id: str) -> RentalRow | None:
    rows = store.rows(f"SELECT {RENTAL_COLUMNS} FROM rentals WHERE rental_id = ?", (rental_id,))
    return _rental(rows[0]) if rows else None


def held_by(store: Store, staff: str) -> list[RentalRow]:
    rows = store.rows(
        f"SELECT {RENTAL_COLUMNS} FROM rentals WHERE staff = ? AND status = 'open' ORDER BY started_at",
        (staff,),
    )
    return [_rental(row) for row in rows]


def open_rental_of(store: Store, device: str) -> str | None:
    rows = store.rows("SELECT rental_id FROM rentals WHERE device = ? AND status = 'open'", (device,))
    return str(rows[0][0]) if rows else None


def rented_devices(store: Store) -> set[str]:
    return {row[0] for row in store.rows("SELECT device FROM rentals WHERE status = 'open'")}


def open_rentals(store: Store) -> list[RentalRow]:
    rows = store.rows(f"SELECT {RENTAL_COLUMNS} FROM rentals WHERE status = 'open' ORDER BY due_at")
    return [_rental(row) for row in rows]


def overdue(store: Store, now: datetime) -> list[RentalRow]:
    rows = store.rows(
        f"SELECT {RENTAL_COLUMNS} FROM rentals WHERE status = 'open' AND due_at <= ? ORDER BY due_at",
        (iso_utc(now),),
    )
    return [_rental(row) for row in rows]


def due_soon(store: Store, now: datetime, within: timedelta) -> list[RentalRow]:
    rows = store.rows(
        f"SELECT {RENTAL_COLUMNS} FROM rentals WHERE status = 'open' AND due_at > ? AND due_at <= ? ORDER BY due_at",
        (iso_utc(now), iso_utc(now + within)),
    )
    return [_rental(row) for row in rows]


def command_executed(store: Store, command_id: str) -> bool:
    return bool(store.rows("SELECT 1 FROM executed_commands WHERE command_id = ?", (command_id,)))


def command_started(store: Store, command_id: str) -> bool:
    """A `command_started` event names the command (the expression matches the index of schema v3)."""
    found = store.rows(
        "SELECT 1 FROM events WHERE type = 'command_started' AND json_extract(payload, '$.command_id') = ? LIMIT 1",
        (command_id,),
    )
    return bool(found)


@dataclass(frozen=True, slots=True)
class PinAttempt:
    """A technician's last PIN attempt at the kiosk (a `technician_action` pin_refused or pin_accepted)."""

    technician: str
    accepted: bool
    failures: int  # wrong PINs in a row, this one included (0 once accepted)
    occurred_at: str


def last_pin_attempt(store: Store, technician: str) -> PinAttempt | None:
    """A technician's last PIN attempt, newest first so that the search stops at it."""
    rows = store.rows(
        "SELECT json_extract(payload, '$.action'), coalesce(json_extract(payload, '$.args.failures'), 0), "
        "occurred_at FROM events WHERE type = 'technician_action' AND json_extract(payload, '$.technician') = ? "
        "AND json_extract(payload, '$.action') IN ('pin_refused', 'pin_accepted') ORDER BY id DESC LIMIT 1",
        (technician,),
    )
    if not rows:
        return None
    action, failures, at = rows[0]
    return PinAttempt(technician, action == "pin_accepted", int(failures), str(at))


def roster_size(store: Store) -> int:
    return int(store.rows("SELECT count(*) FROM staff")[0][0])


def open_incident(store: Store) -> tuple[str, str, str | None] | None:
    """The oldest incident no technician has cleared: (kind, detail, copy path)."""
    rows = store.rows("SELECT kind, detail, copy_path FROM incidents WHERE cleared_at IS NULL ORDER BY rowid LIMIT 1")
    return (rows[0][0], rows[0][1], rows[0][2]) if rows else None


# --- events and epochs ---------------------------------------------------------------------------


def events_of(store: Store, types: tuple[str, ...]) -> list[StoredEvent]:
    """Every event of these types, oldest first (the update_* events: a few per release)."""
    marks = ", ".join("?" for _ in types)
    rows = store.rows(f"SELECT {EVENT_COLUMNS} FROM events WHERE type IN ({marks}) ORDER BY id", types)
    return [event_from_row(row) for row in rows]


def tail(store: Store, n: int) -> list[StoredEvent]:
    rows = store.rows(f"SELECT {EVENT_COLUMNS} FROM events ORDER BY id DESC LIMIT ?", (n,))
    return [event_from_row(row) for row in reversed(rows)]


def events_after(store: Store, epoch: str, seq: int, limit: int, max_bytes: int) -> list[StoredEvent]:
    """Events of `epoch` after `seq`, in order: at most `limit`, and no more than `max_bytes` of
    wire JSON in all, except that the first event is always returned so a large one cannot stall
    the outbox."""
    events: list[StoredEvent] = []
    size = 0
    for row in store.scan(
        f"SELECT {EVENT_COLUMNS}, length(payload) FROM events WHERE epoch = ? AND seq > ? ORDER BY seq LIMIT ?",
        (epoch, seq, limit),
    ):
        # The envelope adds a few hundred bytes to the payload; 400 is a safe over-estimate.
        size += row[-1] + 400
        if events and size > max_bytes:
            break
        events.append(event_from_row(row[:-1]))
    return events


def epochs(store: Store) -> list[EpochRow]:
    rows = store.rows(
        "SELECT e.epoch, e.ordinal, e.started_at, e.reason, e.start_hash, e.acked_seq, "
        "(SELECT coalesce(max(seq), 0) FROM events WHERE events.epoch = e.epoch) "
        "FROM epochs e ORDER BY e.ordinal"
    )
    return [EpochRow(*row) for row in rows]


def meta(store: Store, key: str) -> str | None:
    rows = store.rows("SELECT value FROM meta WHERE key = ?", (key,))
    return str(rows[0][0]) if rows else None


class SqlView:
    """The projections as a projection function sees them, read through the write connection so
    that an event in a batch sees the changes of the events before it."""

    def __init__(self, store: Store, *, replaying: bool = False) -> None:
        self._store = store
        self.replaying = replaying

    def _one(self, sql: str, params: tuple[Any, ...]) -> Any:
        rows = self._store.rows(sql, params)
        return rows[0][0] if rows else None

    def slot_device(self, slot: int) -> str | None:
        device: str | None = self._one("SELECT device FROM slots WHERE slot = ?", (slot,))
        return device

    def slot_alarms(self, slot: int) -> list[str]:
        alarms = self._one("SELECT alarms FROM slots WHERE slot = ?", (slot,))
        return [] if alarms is None else list(json.loads(alarms))

    def device_slot(self, serial: str) -> int | None:
        slot: int | None = self._one("SELECT slot FROM devices WHERE serial = ?", (serial,))
        return slot

    def open_rental_of(self, device: str) -> str | None:
        return open_rental_of(self._store, device)

    def rental(self, rental_id: str) -> RentalFacts | None:
        rows = self._store.rows(
            "SELECT device, status, due_soon_at, overdue_at FROM rentals WHERE rental_id = ?", (rental_id,)
        )
        return RentalFacts(*rows[0]) if rows else None

    def command_executed(self, command_id: str) -> bool:
        return command_executed(self._store, command_id)

    def command_started(self, command_id: str) -> bool:
        return command_started(self._store, command_id)

    def open_incidents(self) -> list[str]:
        rows = self._store.rows("SELECT incident_id FROM incidents WHERE cleared_at IS NULL ORDER BY rowid")
        return [row[0] for row in rows]


# The events that settle whether a slot's return still has a report to take in: the latest of them
# at the slot is a `problem_reported` exactly while one waits (an inspection or a ticket takes it in;
# a return called off drops it, the device having left with the person).
_REPORT_SCOPE: Final = (
    "return_started", "return_cancelled", "problem_reported", "device_returned", "repair_ticket_opened"
)


def pending_report(store: Store, slot: int) -> StoredEvent | None:
    """The problem reported for the return at `slot` that no inspection or repair ticket has taken
    in yet (the latest report wins), or None. Newest first, so the search stops at once."""
    marks = ", ".join("?" * len(_REPORT_SCOPE))
    rows = store.rows(
        f"SELECT {EVENT_COLUMNS} FROM events WHERE slot = ? AND type IN ({marks}) ORDER BY id DESC LIMIT 1",
        (slot, *_REPORT_SCOPE),
    )
    found = event_from_row(rows[0]) if rows else None
    return found if found is not None and found.type == "problem_reported" else None


def last_at_slot(store: Store, slot: int, event_type: str) -> StoredEvent | None:
    """The latest event of a type at a slot, newest first so that the search stops at it."""
    rows = store.rows(
        f"SELECT {EVENT_COLUMNS} FROM events WHERE slot = ? AND type = ? ORDER BY id DESC LIMIT 1", (slot, event_type)
    )
    return event_from_row(rows[0]) if rows else None


def critical_devices(store: Store) -> dict[str, str]:
    """Devices under a critical problem report that no technician has cleared, with the reason: the
    fold of the reports, the repair tickets that carried a report (a report made before the device was
    known names it there) and the technicians' `clear_report` actions."""
    rows = store.rows(
        "SELECT type, device, json_extract(payload, '$.reason'), json_extract(payload, '$.critical'), "
        "json_extract(payload, '$.evidence.report.reason'), json_extract(payload, '$.evidence.report.critical'), "
        "json_extract(payload, '$.args.serial') FROM events "
        "WHERE type IN ('problem_reported', 'repair_ticket_opened') "
        "OR (type = 'technician_action' AND json_extract(payload, '$.action') = 'clear_report') ORDER BY id"
    )
    critical: dict[str, str] = {}
    for kind, device, reason, is_critical, ticket_reason, ticket_critical, cleared in rows:
        if kind == "problem_reported" and device and is_critical:
            critical[str(device)] = str(reason)
        elif kind == "repair_ticket_opened" and device and ticket_critical:
            critical[str(device)] = str(ticket_reason)
        elif kind == "technician_action" and cleared:
            critical.pop(str(cleared), None)
    return critical
