"""What each event does to the projections: pure functions from an event (and what the projections
hold just before it) to row changes.

The same functions run when an event is appended, in its transaction, and when rebuild() replays
every event, so the tables cannot be anything but the fold of the events. A function refuses an
event that contradicts the projections (a device in two open rentals, a command executed twice) by
raising LedgerError before anything of that event is written.

Replaying is different in one way: the file may hold two histories joined by a fork adoption (the
cloud's events, then the cabinet's own written since an old copy of the ledger was restored), and
the cabinet's events were checked against the restored state, not against the cloud's. Events in
a file are facts, so a replay never refuses a contradiction two honest histories can produce; it
settles it as the physical cabinet must have (see `settled`). What no history of one cabinet can
produce (a rental id used twice, a return naming an unknown rental) is refused in a replay too.

An event type with no function here changes no projection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

from cabinetd.ledger.errors import LedgerError
from cabinetd.ledger.events import StoredEvent
from cabinetd.ledger.schema import PROJECTION_TABLES
from cabinetd.ledger.store import Store
from cabinetproto.chain import canonical_json
from cabinetproto.enums import SlotState
from cabinetproto.events import (
    AlarmCleared,
    AlarmRaised,
    CommandResult,
    CommandStarted,
    DeviceProvisioned,
    DeviceRented,
    DeviceReturned,
    DeviceStatus,
    DispenseStarted,
    IncidentCleared,
    LedgerIncident,
    Payload,
    RentalCancelled,
    RentalDueSoon,
    RentalOverdue,
    SlotStateChanged,
)


@dataclass(frozen=True, slots=True)
class Put:
    """Insert the row with `key` (other columns take their defaults), or set `values` on it."""

    table: str
    key: dict[str, Any]
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Update:
    """Set `values` on the existing row with `key` (for rows whose other columns cannot default)."""

    table: str
    key: dict[str, Any]
    values: dict[str, Any]


Change = Put | Update


class RentalFacts(NamedTuple):
    device: str
    status: str
    due_soon_at: str | None
    overdue_at: str | None


class View(Protocol):
    """What a projection may read of the projections as they stand before the event."""

    # True while recorded events are folded again (rebuild, fork adoption), False for a new event.
    replaying: bool

    def slot_device(self, slot: int) -> str | None: ...
    def slot_alarms(self, slot: int) -> list[str]: ...
    def device_slot(self, serial: str) -> int | None: ...
    def open_rental_of(self, device: str) -> str | None: ...
    def rental(self, rental_id: str) -> RentalFacts | None: ...
    def command_executed(self, command_id: str) -> bool: ...
    def command_started(self, command_id: str) -> bool: ...
    def open_incidents(self) -> list[str]: ...


Projection = Callable[[StoredEvent, Any, View], list[Change]]
PROJECTIONS: dict[str, Projection] = {}

P = TypeVar("P", bound=Payload)


def projects(model: type[P]) -> Callable[[Callable[[StoredEvent, P, View], list[Change]]], Projection]:
    def register(function: Callable[[StoredEvent, P, View], list[Change]]) -> Projection:
        PROJECTIONS[model.event_type] = function
        return function

    return register


def project(event: StoredEvent, payload: Payload, view: View) -> list[Change]:
    function = PROJECTIONS.get(event.type)
    return [] if function is None else function(event, payload, view)


def refuse(event: StoredEvent, reason: str) -> LedgerError:
    return LedgerError(f"event type {event.type!r}: {reason}")


def settled(event: StoredEvent, view: View, reason: str) -> None:
    """A contradiction between two joined histories: refused for a new event, settled in a replay
    (the caller then does what the replay rule says)."""
    if not view.replaying:
        raise refuse(event, reason)


# --- slots -------------------------------------------------------------------------------------


def _slot(event: StoredEvent) -> int:
    assert event.slot is not None  # the event type needs a slot; append() checked it
    return event.slot


def _device(event: StoredEvent) -> str:
    assert event.device is not None
    return event.device


@projects(SlotStateChanged)
def slot_state_changed(event: StoredEvent, payload: SlotStateChanged, view: View) -> list[Change]:
    slot = _slot(event)
    changes: list[Change] = [Put("slots", {"slot": slot}, {"state": payload.to.value, "updated_seq": event.seq})]
    held = view.slot_device(slot)
    if payload.to is SlotState.EMPTY and held is not None:
        # An empty slot holds nothing, whichever way the device left (rented, taken, lost).
        changes += _take_out(event, view, held)
    return changes


def _alarms(event: StoredEvent, alarms: set[str]) -> list[Change]:
    return [Put("slots", {"slot": _slot(event)}, {"alarms": canonical_json(sorted(alarms)), "updated_seq": event.seq})]


@projects(DispenseStarted)
def dispense_started(event: StoredEvent, payload: DispenseStarted, view: View) -> list[Change]:
    # A rent's start is also its slot's move to dispensing: one event, one commit, on the path a
    # person waits on between the badge and the lock.
    return [Put("slots", {"slot": _slot(event)}, {"state": SlotState.DISPENSING.value, "updated_seq": event.seq})]


@projects(AlarmRaised)
def alarm_raised(event: StoredEvent, payload: AlarmRaised, view: View) -> list[Change]:
    return _alarms(event, {*view.slot_alarms(_slot(event)), payload.alarm.value})


@projects(AlarmCleared)
def alarm_cleared(event: StoredEvent, payload: AlarmCleared, view: View) -> list[Change]:
    return _alarms(event, set(view.slot_alarms(_slot(event))) - {payload.alarm.value})


# --- devices -----------------------------------------------------------------------------------


def _take_out(event: StoredEvent, view: View, serial: str, **device: Any) -> list[Change]:
    """The device has left the slot the projections had it in (and `device` columns are set)."""
    changes: list[Change] = [Put("devices", {"serial": serial}, {"slot": None, **device})]
    old = view.device_slot(serial)
    if old is not None and view.slot_device(old) == serial:
        changes.append(Put("slots", {"slot": old}, {"device": None, "updated_seq": event.seq}))
    return changes


def _place(event: StoredEvent, view: View, serial: str, slot: int) -> list[Change]:
    """The device is in `slot`: out of any other slot, and whatever the slot held is out of it."""
    changes: list[Change] = []
    old = view.device_slot(serial)
    if old is not None and old != slot and view.slot_device(old) == serial:
        changes.append(Put("slots", {"slot": old}, {"device": None, "updated_seq": event.seq}))
    before = view.slot_device(slot)
    if before is not None and before != serial:
        changes.append(Put("devices", {"serial": before}, {"slot": None}))
    changes.append(Put("slots", {"slot": slot}, {"device": serial, "updated_seq": event.seq}))
    changes.append(Put("devices", {"serial": serial}, {"slot": slot}))
    return changes


@projects(DeviceStatus)
def device_status(event: StoredEvent, payload: DeviceStatus, view: View) -> list[Change]:
    changes: list[Change] = [
        Put(
            "devices",
            {"serial": payload.serial},
            {
                "model": payload.model,
                "battery": payload.battery,
                "health": payload.health.value,
                "charging": int(payload.charging),
            },
        )
    ]
    if event.slot is not None:
        changes += _place(event, view, payload.serial, event.slot)
    return changes


@projects(DeviceProvisioned)
def device_provisioned(event: StoredEvent, payload: DeviceProvisioned, view: View) -> list[Change]:
    return [Put("devices", {"serial": _device(event)}, {"provisioned_work_type": payload.work_type})]


# --- rentals -----------------------------------------------------------------------------------


@projects(DeviceRented)
def device_rented(event: StoredEvent, payload: DeviceRented, view: View) -> list[Change]:
    device = _device(event)
    changes: list[Change] = []
    held = view.open_rental_of(device)
    if held is not None:
        settled(event, view, f"device {device!r} is already in open rental {held!r}")
        # The device was in the cabinet again when this rental began, so the older rental had
        # ended; its return was lost with the history that would have held it. Closed without a
        # return time: when the device came back is not known.
        changes.append(Update("rentals", {"rental_id": held}, {"status": "closed"}))
    if view.rental(payload.rental_id) is not None:
        raise refuse(event, f"rental {payload.rental_id!r} already exists")
    rental = {
        "staff": event.staff,
        "device": device,
        "cabinet_id": event.cabinet_id,
        "slot": _slot(event),
        "started_at": event.occurred_at,
        "due_at": event.payload["due_at"],
        "status": "open",
    }
    changes.append(Put("rentals", {"rental_id": payload.rental_id}, rental))
    return changes + _take_out(event, view, device, last_rented_at=event.occurred_at)


@projects(DeviceReturned)
def device_returned(event: StoredEvent, payload: DeviceReturned, view: View) -> list[Change]:
    device = _device(event)
    rental_id = payload.rental_id
    if rental_id is not None:
        facts = view.rental(rental_id)
        if facts is None:
            raise refuse(event, f"rental {rental_id!r} does not exist")
        if facts.status != "open":
            settled(event, view, f"rental {rental_id!r} is already closed")
            # The other history closed it; the device is back all the same, so whatever rental it
            # is out on now ends here, as for a return that names no rental.
            rental_id = view.open_rental_of(device)
        elif facts.device != device:
            raise refuse(event, f"rental {rental_id!r} is for device {facts.device!r}, not {device!r}")
    else:
        # The cabinet did not say which rental: if the device is out on one, it is back now.
        rental_id = view.open_rental_of(device)
    changes: list[Change] = []
    if rental_id is not None:
        closed = {
            "returned_at": event.occurred_at,
            "returned_to_slot": _slot(event),
            "usage": canonical_json(payload.usage),
            "selftest": canonical_json(payload.selftest),
            "status": "closed",
        }
        changes.append(Update("rentals", {"rental_id": rental_id}, closed))
    return changes + _place(event, view, device, _slot(event))


@projects(RentalCancelled)
def rental_cancelled(event: StoredEvent, payload: RentalCancelled, view: View) -> list[Change]:
    device = _device(event)
    facts = view.rental(payload.rental_id)
    if facts is None:
        raise refuse(event, f"rental {payload.rental_id!r} does not exist")
    if facts.device != device:
        raise refuse(event, f"rental {payload.rental_id!r} is for device {facts.device!r}, not {device!r}")
    changes: list[Change] = []
    if facts.status != "open":
        settled(event, view, f"rental {payload.rental_id!r} is already closed")
    else:
        # Back in its slot without a return: no usage was read and no self-test run for it.
        closed = {"returned_at": event.occurred_at, "returned_to_slot": _slot(event), "status": "closed"}
        changes.append(Update("rentals", {"rental_id": payload.rental_id}, closed))
    return changes + _place(event, view, device, _slot(event))


def _reminder(event: StoredEvent, view: View, rental_id: str, column: str) -> list[Change]:
    facts = view.rental(rental_id)
    if facts is None:
        raise refuse(event, f"rental {rental_id!r} does not exist")
    already = facts.due_soon_at if column == "due_soon_at" else facts.overdue_at
    if already is not None:
        return []  # the first reminder recorded is the one that counts
    return [Update("rentals", {"rental_id": rental_id}, {column: event.occurred_at})]


@projects(RentalDueSoon)
def rental_due_soon(event: StoredEvent, payload: RentalDueSoon, view: View) -> list[Change]:
    return _reminder(event, view, payload.rental_id, "due_soon_at")


@projects(RentalOverdue)
def rental_overdue(event: StoredEvent, payload: RentalOverdue, view: View) -> list[Change]:
    return _reminder(event, view, payload.rental_id, "overdue_at")


# --- commands and incidents ----------------------------------------------------------------------


@projects(CommandStarted)
def command_started(event: StoredEvent, payload: CommandStarted, view: View) -> list[Change]:
    # No table: the start is looked up in the events (an index keeps that quick). Starting a command
    # twice, or after its result, is what at-most-once forbids.
    if view.command_started(payload.command_id):
        settled(event, view, f"command {payload.command_id!r} was already started")
    elif view.command_executed(payload.command_id):
        settled(event, view, f"command {payload.command_id!r} was already executed")
    return []


@projects(CommandResult)
def command_result(event: StoredEvent, payload: CommandResult, view: View) -> list[Change]:
    if view.command_executed(payload.command_id):
        settled(event, view, f"command {payload.command_id!r} was already executed")
        return []  # the first result recorded is the one that counts
    values = {"kind": payload.kind, "ok": int(payload.ok), "executed_at": event.occurred_at}
    return [Put("executed_commands", {"command_id": payload.command_id}, values)]


@projects(LedgerIncident)
def ledger_incident(event: StoredEvent, payload: LedgerIncident, view: View) -> list[Change]:
    values = {
        "kind": payload.kind,
        "detail": payload.detail,
        "copy_path": payload.copy_path,
        "raised_at": event.occurred_at,
    }
    return [Put("incidents", {"incident_id": event.event_id}, values)]


@projects(IncidentCleared)
def incident_cleared(event: StoredEvent, payload: IncidentCleared, view: View) -> list[Change]:
    open_ids = view.open_incidents()
    if not open_ids:
        settled(event, view, "no ledger incident is open")
        return []  # the other history cleared them already
    cleared = {"cleared_at": event.occurred_at, "cleared_by": payload.technician}
    return [Update("incidents", {"incident_id": incident}, cleared) for incident in open_ids]


# --- writing the changes -------------------------------------------------------------------------

_SQL: dict[tuple[type[Change], str, tuple[str, ...], tuple[str, ...]], str] = {}


def _sql(kind: type[Change], table: str, keys: tuple[str, ...], columns: tuple[str, ...]) -> str:
    # Names come from the projection functions, never from event data; the check keeps it so.
    if PROJECTION_TABLES.get(table) != keys:
        raise LedgerError(f"table {table!r} with key {keys!r} is not a projection")
    if kind is Update:
        sets = ", ".join(f"{column} = ?" for column in columns)
        where = " AND ".join(f"{key} = ?" for key in keys)
        return f"UPDATE {table} SET {sets} WHERE {where}"
    names = ", ".join((*keys, *columns))
    marks = ", ".join("?" * (len(keys) + len(columns)))
    if columns:
        sets = ", ".join(f"{column} = excluded.{column}" for column in columns)
        action = f"DO UPDATE SET {sets}"
    else:
        action = "DO NOTHING"
    return f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT ({', '.join(keys)}) {action}"


def apply_changes(store: Store, changes: list[Change]) -> None:
    for change in changes:
        shape = (type(change), change.table, tuple(change.key), tuple(change.values))
        sql = _SQL.get(shape)
        if sql is None:
            sql = _SQL[shape] = _sql(*shape)
        if isinstance(change, Update):
            store.run(sql, (*change.values.values(), *change.key.values()))
        else:
            store.run(sql, (*change.key.values(), *change.values.values()))
