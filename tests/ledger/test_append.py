from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cabinetd.ledger import Ledger, LedgerError, NewEvent, open_ledger
from cabinetproto.chain import GENESIS_HASH, event_hash, iso_utc
from cabinetproto.events import SlotStateChanged
from tests.ledger.helpers import CABINET, EXAMPLES, StepClock, snapshot, stock

RENT = {"rental_id": "R-1", "due_at": "2025-03-01T16:00:00Z"}
RETURN = {"rental_id": "R-1", "usage": {"scans": 12}, "selftest": {"battery": "pass"}, "unexpected": False}


def test_ok__append_assigns_the_envelope(ledger: Ledger, clock: StepClock) -> None:
    event = ledger.append("cabinet_started", {"software_version": "0.1.0"})
    epoch = ledger.sync_state().epoch
    assert (event.epoch, event.seq, event.type, event.schema_version) == (epoch, 1, "cabinet_started", 1)
    assert event.occurred_at == iso_utc(clock.now)
    assert (event.boot_id, event.cabinet_id) == ("boot-1", CABINET)
    assert event.mono_ns > 0
    assert event.prev_hash == GENESIS_HASH
    assert event.hash == event_hash(GENESIS_HASH, event.to_wire())
    assert event.payload == {"software_version": "0.1.0"}


def test_ok__seqs_are_gapless_and_chained(ledger: Ledger) -> None:
    events = [ledger.append("cabinet_started", {"software_version": str(n)}) for n in range(5)]
    events += ledger.append_many([NewEvent("cabinet_started", {"software_version": "x"})] * 3)
    assert [e.seq for e in events] == list(range(1, 9))
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert [e.event_id for e in events] == sorted(e.event_id for e in events)
    assert ledger.tail(8) == events


def test_ok__an_appended_event_is_committed_when_append_returns(ledger: Ledger, state_dir: Path) -> None:
    event = ledger.append("cabinet_started", {"software_version": "0.1.0"})
    other = sqlite3.connect(state_dir / "ledger.sqlite3")
    try:
        assert other.execute("SELECT seq, hash FROM events").fetchall() == [(1, event.hash)]
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        other.close()
    assert ledger.store.rows("PRAGMA synchronous") == [(2,)]  # FULL


def test_ok__append_takes_a_model(ledger: Ledger) -> None:
    change = SlotStateChanged.model_validate({"from": "empty", "to": "disabled", "reason": "technician"})
    event = ledger.append("slot_state_changed", change, slot=4)
    assert event.payload == {"from": "empty", "to": "disabled", "reason": "technician"}
    assert [(s.slot, s.state.value) for s in ledger.slot_states()] == [(4, "disabled")]


def test_ok__every_example_can_be_appended_in_a_story(ledger: Ledger) -> None:
    # In an order the projections accept: the device exists before it is rented, the rental before
    # its reminders, the incident before it is cleared.
    order = list(EXAMPLES)
    for event_type in order:
        payload, envelope = EXAMPLES[event_type]
        ledger.append(event_type, payload, **envelope)
    assert ledger.verify().ok
    assert ledger.rebuild().identical


def test_fail__a_bad_event_in_a_batch_writes_nothing(ledger: Ledger) -> None:
    stock(ledger, 1)
    before = (snapshot(ledger), ledger.sync_state())
    batch = [
        NewEvent("dispense_started", {"work_type": "picking"}, slot=1, device="PDA-001", staff="S-1"),
        NewEvent("slot_state_changed", {"from": "ready", "to": "nowhere", "reason": "x"}, slot=1),
    ]
    with pytest.raises(LedgerError):
        ledger.append_many(batch)
    assert (snapshot(ledger), ledger.sync_state()) == before


def test_fail__a_projection_refusal_in_a_batch_writes_nothing(ledger: Ledger) -> None:
    stock(ledger, 1)
    ledger.append("device_rented", RENT, slot=1, device="PDA-001", staff="S-1")
    before = (snapshot(ledger), ledger.sync_state())
    batch = [
        NewEvent("slot_state_changed", {"from": "empty", "to": "ready", "reason": "x"}, slot=1),
        NewEvent("device_rented", {**RENT, "rental_id": "R-2"}, slot=1, device="PDA-001", staff="S-2"),
    ]
    with pytest.raises(LedgerError) as caught:
        ledger.append_many(batch)
    assert str(caught.value) == "event type 'device_rented': device 'PDA-001' is already in open rental 'R-1'"
    assert (snapshot(ledger), ledger.sync_state()) == before
    assert ledger.append("cabinet_started", {"software_version": "1"}).seq == before[1].last_seq + 1


@pytest.mark.parametrize(
    ("event_type", "payload", "envelope", "message"),
    [
        ("device_rented", RENT, {"slot": 1, "device": "PDA-001"}, "event type 'device_rented' needs a staff"),
        ("slot_state_changed", EXAMPLES["slot_state_changed"][0], {}, "event type 'slot_state_changed' needs a slot"),
        (
            "slot_state_changed",
            EXAMPLES["slot_state_changed"][0],
            {"slot": 0},
            "event type 'slot_state_changed': slot must be a number from 1, got 0",
        ),
        (
            "cabinet_started",
            {"software_version": "1"},
            {"staff": ""},
            "event type 'cabinet_started': staff must be text of 1 to 64 characters, got ''",
        ),
        (
            "device_status",
            EXAMPLES["device_status"][0],
            {"device": "PDA-002"},
            "event type 'device_status': device 'PDA-002' does not match field 'serial' ('PDA-001')",
        ),
    ],
)
def test_fail__envelope_problems_are_refused_before_writing(
    ledger: Ledger, event_type: str, payload: dict[str, object], envelope: dict[str, object], message: str
) -> None:
    with pytest.raises(LedgerError) as caught:
        ledger.append(event_type, payload, **envelope)  # type: ignore[arg-type]
    assert str(caught.value) == message
    assert ledger.sync_state().last_seq == 0


def test_ok__device_status_takes_the_device_from_its_serial(ledger: Ledger) -> None:
    event = ledger.append("device_status", EXAMPLES["device_status"][0])
    assert event.device == "PDA-001"
    assert [(d.serial, d.slot, d.battery, d.charging) for d in ledger.devices()] == [("PDA-001", None, 87, True)]


def test_ok__rent_and_return_move_the_device_and_the_rental(ledger: Ledger) -> None:
    stock(ledger, 2)
    ledger.append("device_provisioned", EXAMPLES["device_provisioned"][0], device="PDA-001")
    rented = ledger.append("device_rented", RENT, slot=1, device="PDA-001", staff="S-1")
    assert [(s.slot, s.device) for s in ledger.slot_states()] == [(1, None), (2, "PDA-002")]
    device = ledger.devices()[0]
    assert (device.slot, device.provisioned_work_type, device.last_rented_at) == (
        None,
        "picking",
        rented.occurred_at,
    )
    rental = ledger.held_by("S-1")[0]
    assert ledger.open_rental_of("PDA-001") == "R-1"
    assert ledger.open_rental_of("PDA-002") is None
    assert (rental.rental_id, rental.device, rental.slot, rental.status, rental.cabinet_id) == (
        "R-1",
        "PDA-001",
        1,
        "open",
        CABINET,
    )
    assert (rental.started_at, rental.due_at) == (rented.occurred_at, "2025-03-01T16:00:00.000000Z")

    ledger.append("device_returned", RETURN, slot=3, device="PDA-001", staff="S-1")
    assert ledger.held_by("S-1") == []
    closed = ledger.rental("R-1")
    assert closed is not None
    assert (closed.status, closed.returned_to_slot, closed.usage, closed.selftest) == (
        "closed",
        3,
        {"scans": 12},
        {"battery": "pass"},
    )
    assert [(s.slot, s.device) for s in ledger.slot_states()] == [(1, None), (2, "PDA-002"), (3, "PDA-001")]
    assert ledger.devices()[0].slot == 3


def test_ok__a_return_without_rental_id_closes_the_devices_open_rental(ledger: Ledger) -> None:
    stock(ledger, 1)
    ledger.append("device_rented", RENT, slot=1, device="PDA-001", staff="S-1")
    ledger.append("device_returned", {**RETURN, "rental_id": None, "unexpected": True}, slot=1, device="PDA-001")
    rental = ledger.rental("R-1")
    assert rental is not None
    assert rental.status == "closed"


def test_ok__an_unknown_device_returned_is_placed_in_its_slot(ledger: Ledger) -> None:
    ledger.append("device_returned", {**RETURN, "rental_id": None, "unexpected": True}, slot=5, device="PDA-X")
    assert [(s.slot, s.device) for s in ledger.slot_states()] == [(5, "PDA-X")]
    assert [(d.serial, d.slot, d.model) for d in ledger.devices()] == [("PDA-X", 5, None)]


@pytest.mark.parametrize(
    ("rental_id", "device", "message"),
    [
        ("R-9", "PDA-001", "event type 'device_returned': rental 'R-9' does not exist"),
        ("R-1", "PDA-002", "event type 'device_returned': rental 'R-1' is for device 'PDA-001', not 'PDA-002'"),
    ],
)
def test_fail__a_return_naming_the_wrong_rental_is_refused(
    ledger: Ledger, rental_id: str, device: str, message: str
) -> None:
    stock(ledger, 2)
    ledger.append("device_rented", RENT, slot=1, device="PDA-001", staff="S-1")
    with pytest.raises(LedgerError) as caught:
        ledger.append("device_returned", {**RETURN, "rental_id": rental_id}, slot=3, device=device)
    assert str(caught.value) == message


def test_fail__a_closed_rental_cannot_be_returned_twice(ledger: Ledger) -> None:
    stock(ledger, 1)
    ledger.append("device_rented", RENT, slot=1, device="PDA-001", staff="S-1")
    ledger.append("device_returned", RETURN, slot=1, device="PDA-001")
    with pytest.raises(LedgerError) as caught:
        ledger.append("device_returned", RETURN, slot=1, device="PDA-001")
    assert str(caught.value) == "event type 'device_returned': rental 'R-1' is already closed"


def test_fail__a_rental_id_is_used_once(ledger: Ledger) -> None:
    stock(ledger, 2)
    ledger.append("device_rented", RENT, slot=1, device="PDA-001", staff="S-1")
    with pytest.raises(LedgerError) as caught:
        ledger.append("device_rented", RENT, slot=2, device="PDA-002", staff="S-2")
    assert str(caught.value) == "event type 'device_rented': rental 'R-1' already exists"


def test_ok__device_status_in_another_slot_moves_the_device(ledger: Ledger) -> None:
    stock(ledger, 2)
    ledger.append("device_status", {**EXAMPLES["device_status"][0], "serial": "PDA-001"}, slot=2)
    assert [(s.slot, s.device) for s in ledger.slot_states()] == [(1, None), (2, "PDA-001")]
    assert [(d.serial, d.slot) for d in ledger.devices()] == [("PDA-001", 2), ("PDA-002", None)]


def test_ok__alarms_are_flags_beside_the_state(ledger: Ledger) -> None:
    ledger.append("alarm_raised", {"alarm": "door_left_open"}, slot=2)
    ledger.append("alarm_raised", {"alarm": "door_forced"}, slot=2)
    ledger.append("alarm_raised", {"alarm": "door_forced"}, slot=2)
    assert ledger.slot_states()[0].alarms == ("door_forced", "door_left_open")
    ledger.append("alarm_cleared", {"alarm": "door_forced"}, slot=2)
    slot = ledger.slot_states()[0]
    assert (slot.state.value, slot.alarms, slot.updated_seq) == ("empty", ("door_left_open",), 4)


def test_ok__a_command_is_recorded_once(ledger: Ledger) -> None:
    result = {"command_id": "C-1", "kind": "unlock_slot", "ok": True}
    assert not ledger.command_executed("C-1")
    ledger.append("command_result", result, slot=3)
    assert ledger.command_executed("C-1")
    with pytest.raises(LedgerError) as caught:
        ledger.append("command_result", result, slot=3)
    assert str(caught.value) == "event type 'command_result': command 'C-1' was already executed"


def test_fail__a_command_is_started_once_and_never_after_its_result(ledger: Ledger) -> None:
    started = {"command_id": "C-1", "kind": "unlock_slot"}
    ledger.append("command_started", started)
    assert (ledger.command_started("C-1"), ledger.command_executed("C-1")) == (True, False)
    with pytest.raises(LedgerError) as caught:
        ledger.append("command_started", started)
    assert str(caught.value) == "event type 'command_started': command 'C-1' was already started"
    ledger.append("command_result", {"command_id": "C-2", "kind": "unlock_slot", "ok": False, "detail": "expired"})
    with pytest.raises(LedgerError) as caught:
        ledger.append("command_started", {"command_id": "C-2", "kind": "unlock_slot"})
    assert str(caught.value) == "event type 'command_started': command 'C-2' was already executed"


def test_ok__the_first_reminder_of_each_kind_counts(ledger: Ledger) -> None:
    stock(ledger, 1)
    ledger.append("device_rented", RENT, slot=1, device="PDA-001", staff="S-1")
    reminder = {"rental_id": "R-1", "due_at": "2025-03-01T16:00:00Z"}
    first = ledger.append("rental_due_soon", reminder, staff="S-1")
    ledger.append("rental_due_soon", reminder, staff="S-1")
    late = ledger.append("rental_overdue", reminder, staff="S-1")
    rental = ledger.rental("R-1")
    assert rental is not None
    assert (rental.due_soon_at, rental.overdue_at) == (first.occurred_at, late.occurred_at)
    with pytest.raises(LedgerError) as caught:
        ledger.append("rental_overdue", {**reminder, "rental_id": "R-2"})
    assert str(caught.value) == "event type 'rental_overdue': rental 'R-2' does not exist"


def test_ok__reopening_continues_the_chain(state_dir: Path, clock: StepClock) -> None:
    first = open_ledger(state_dir, CABINET, clock=clock, boot_id="boot-1")
    last = first.append("cabinet_started", {"software_version": "1"})
    first.close()
    again = open_ledger(state_dir, CABINET, clock=clock, boot_id="boot-2")
    try:
        event = again.append("cabinet_started", {"software_version": "2"})
        assert (event.epoch, event.seq, event.prev_hash, event.boot_id) == (last.epoch, 2, last.hash, "boot-2")
        assert again.verify().ok
    finally:
        again.close()


def test_fail__another_cabinets_ledger_is_refused(state_dir: Path) -> None:
    open_ledger(state_dir, CABINET).close()
    with pytest.raises(LedgerError) as caught:
        open_ledger(state_dir, "cab-other")
    assert str(caught.value) == (
        f"ledger {state_dir / 'ledger.sqlite3'} belongs to cabinet '{CABINET}', not 'cab-other'"
    )
