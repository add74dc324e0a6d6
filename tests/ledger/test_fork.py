"""adopt_fork(): a ledger restored from an old copy takes in the history the cloud holds and moves its
own events written since then into a new epoch, in one transaction.

Each test runs the story for real: `ledger` is the cabinet's ledger as it was synced to the cloud
(its events after the copy are what the cloud holds), `restored` is a copy of it taken earlier,
which the cabinet was restored from and which goes on writing events of its own."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cabinetd.ledger import LEDGER_FILE, Ledger, LedgerError, NewEvent, StoredEvent, open_ledger
from cabinetproto.chain import GENESIS_HASH, event_hash
from tests.ledger.helpers import CABINET, EXAMPLES, StepClock, snapshot, stock

RENT = {"due_at": "2025-03-01T16:00:00Z"}
RETURN = {"usage": {"scans": 1}, "selftest": {"battery": "pass"}, "unexpected": False}
REASON = "fork: the cloud holds seq 7 of the epoch; the cabinet's ledger ends at 5"


Restore = Callable[[Ledger], Ledger]


@pytest.fixture
def restore(tmp_path: Path) -> Iterator[Restore]:
    """Restores a copy of a ledger as it stands now, as a cabinet restored from a backup would."""
    opened: list[Ledger] = []

    def copy_of(ledger: Ledger) -> Ledger:
        where = tmp_path / f"restored-{len(opened)}"
        where.mkdir()
        source, copy = sqlite3.connect(ledger.path), sqlite3.connect(where / LEDGER_FILE)
        try:
            source.backup(copy)
        finally:
            source.close()
            copy.close()
        opened.append(open_ledger(where, CABINET, clock=StepClock(), boot_id="boot-2"))
        return opened[-1]

    yield copy_of
    for ledger in opened:
        ledger.close()


def note(ledger: Ledger, count: int, tag: str) -> list[StoredEvent]:
    return ledger.append_many(
        [NewEvent("technician_action", {"action": tag, "args": {"n": n}, "technician": "T-1"}) for n in range(count)]
    )


def held_after(original: Ledger, seq: int, epoch: str | None = None) -> list[dict[str, Any]]:
    return [event.to_wire() for event in original.events_after(seq, 10_000, 1 << 30, epoch=epoch)]


def events(ledger: Ledger) -> list[StoredEvent]:
    return [event for epoch in ledger.epochs() for event in ledger.events_after(0, 10_000, 1 << 30, epoch=epoch.epoch)]


def sound(ledger: Ledger) -> None:
    assert ledger.verify().ok, ledger.verify()
    assert ledger.rebuild().identical
    devices = [rental.device for rental in ledger.open_rentals()]
    assert len(devices) == len(set(devices))


def test_ok__nothing_of_ours_after_the_divergence(ledger: Ledger, restore: Restore) -> None:
    note(ledger, 3, "prefix")
    restored = restore(ledger)
    theirs = note(ledger, 4, "cloud")
    epoch = ledger.sync_state().epoch

    new_epoch = restored.adopt_fork(held_after(ledger, 3), 3, REASON)

    assert [event.to_wire() for event in events(restored)] == [event.to_wire() for event in events(ledger)]
    assert [(e.epoch, e.reason, e.start_hash, e.acked_seq, e.last_seq) for e in restored.epochs()[1:]] == [
        (new_epoch, REASON, theirs[-1].hash, 0, 0)
    ]
    assert restored.epochs()[0].acked_seq == 7
    state = restored.sync_state()
    assert (state.epoch, state.last_seq, state.last_hash, state.pending) == (new_epoch, 0, theirs[-1].hash, 0)
    assert epoch != new_epoch
    sound(restored)
    # The chain goes on from the cloud's last event.
    assert restored.append("cabinet_started", {"software_version": "1"}).prev_hash == theirs[-1].hash


def test_ok__our_events_move_into_a_new_epoch_with_their_ids(ledger: Ledger, restore: Restore) -> None:
    restored = restore(ledger)
    theirs = note(ledger, 4, "cloud")
    ours = note(restored, 2, "ours")

    new_epoch = restored.adopt_fork(held_after(ledger, 0), 0, REASON)

    first, second = restored.epochs()
    assert (first.acked_seq, first.last_seq, second.epoch, second.start_hash) == (4, 4, new_epoch, theirs[-1].hash)
    moved = restored.events_after(0, epoch=new_epoch)
    assert [(e.seq, e.event_id, e.type, e.payload, e.occurred_at, e.mono_ns, e.boot_id) for e in moved] == [
        (n, e.event_id, e.type, e.payload, e.occurred_at, e.mono_ns, e.boot_id) for n, e in enumerate(ours, start=1)
    ]
    assert moved[0].prev_hash == theirs[-1].hash
    assert [e.hash for e in moved] != [e.hash for e in ours]
    assert restored.sync_state().pending == 2
    assert [e.event_id for e in events(restored)] == [e.event_id for e in theirs + ours]
    sound(restored)


def test_ok__the_cloud_holds_a_later_epoch(ledger: Ledger, restore: Restore) -> None:
    note(ledger, 2, "prefix")
    restored = restore(ledger)
    first = ledger.sync_state().epoch
    note(ledger, 2, "cloud")
    later = ledger.new_epoch("fork: an earlier one")
    in_later = note(ledger, 3, "cloud, later epoch")
    ours = note(restored, 1, "ours")

    new_epoch = restored.adopt_fork(held_after(ledger, 2, first) + held_after(ledger, 0, later), 2, REASON)

    assert [(e.epoch, e.acked_seq, e.last_seq) for e in restored.epochs()] == [
        (first, 4, 4),
        (later, 3, 3),
        (new_epoch, 0, 1),
    ]
    assert restored.epochs()[1].start_hash == ledger.epochs()[1].start_hash
    assert restored.epochs()[2].start_hash == in_later[-1].hash
    assert restored.events_after(0, epoch=new_epoch)[0].event_id == ours[0].event_id
    sound(restored)


def test_ok__an_event_on_both_sides_is_taken_in_once(ledger: Ledger, restore: Restore) -> None:
    note(ledger, 2, "prefix")
    shared = note(ledger, 1, "before the copy")  # after the last seq both are known to agree on
    restored = restore(ledger)
    theirs = note(ledger, 2, "cloud")
    ours = note(restored, 1, "ours")

    new_epoch = restored.adopt_fork(held_after(ledger, 2), 2, REASON)

    ids = [e.event_id for e in events(restored)]
    assert ids.count(shared[0].event_id) == 1
    assert ids[2:] == [shared[0].event_id, theirs[0].event_id, theirs[1].event_id, ours[0].event_id]
    assert restored.events_after(2, 1, epoch=shared[0].epoch)[0].hash == shared[0].hash
    assert [(e.seq, e.event_id) for e in restored.events_after(0, epoch=new_epoch)] == [(1, ours[0].event_id)]
    sound(restored)


def test_ok__rentals_opened_in_either_history_stay_open(ledger: Ledger, restore: Restore) -> None:
    stock(ledger, 2)
    restored = restore(ledger)
    ledger.append("device_rented", {**RENT, "rental_id": "R-cloud"}, slot=1, device="PDA-001", staff="S-1")
    restored.append("device_rented", {**RENT, "rental_id": "R-ours"}, slot=2, device="PDA-002", staff="S-2")

    restored.adopt_fork(held_after(ledger, 4), 4, REASON)

    assert sorted((r.rental_id, r.device, r.status) for r in restored.open_rentals()) == [
        ("R-cloud", "PDA-001", "open"),
        ("R-ours", "PDA-002", "open"),
    ]
    assert [(s.slot, s.device) for s in restored.slot_states()] == [(1, None), (2, None)]
    sound(restored)


def test_ok__a_device_rented_in_both_histories_is_out_on_the_later_rental(ledger: Ledger, restore: Restore) -> None:
    stock(ledger, 1)
    restored = restore(ledger)
    ledger.append("device_rented", {**RENT, "rental_id": "R-cloud"}, slot=1, device="PDA-001", staff="S-1")
    restored.append("device_rented", {**RENT, "rental_id": "R-ours"}, slot=1, device="PDA-001", staff="S-2")

    restored.adopt_fork(held_after(ledger, 2), 2, REASON)

    assert [(r.rental_id, r.staff) for r in restored.open_rentals()] == [("R-ours", "S-2")]
    older = restored.rental("R-cloud")
    assert older is not None
    assert (older.status, older.returned_at) == ("closed", None)
    sound(restored)


def test_ok__a_return_of_a_rental_the_cloud_closed_places_the_device(ledger: Ledger, restore: Restore) -> None:
    stock(ledger, 1)
    ledger.append("device_rented", {**RENT, "rental_id": "R-1"}, slot=1, device="PDA-001", staff="S-1")
    restored = restore(ledger)
    ledger.append("device_returned", {**RETURN, "rental_id": "R-1"}, slot=1, device="PDA-001")
    ledger.append("device_rented", {**RENT, "rental_id": "R-2"}, slot=1, device="PDA-001", staff="S-2")
    restored.append("device_returned", {**RETURN, "rental_id": "R-1"}, slot=2, device="PDA-001")

    restored.adopt_fork(held_after(ledger, 3), 3, REASON)

    closed = restored.rental("R-1")
    later = restored.rental("R-2")
    assert closed is not None
    assert later is not None
    assert (closed.status, closed.returned_to_slot) == ("closed", 1)
    assert (later.status, later.returned_to_slot) == ("closed", 2)
    assert restored.open_rentals() == []
    assert [(s.slot, s.device) for s in restored.slot_states()] == [(1, None), (2, "PDA-001")]
    sound(restored)


def test_ok__a_command_run_in_both_histories_keeps_the_first_result(ledger: Ledger, restore: Restore) -> None:
    restored = restore(ledger)
    started = {"command_id": "C-1", "kind": "unlock_slot"}
    for side, ok in ((ledger, True), (restored, False)):
        side.append("command_started", started)
        side.append("command_result", {**started, "ok": ok, "detail": "cloud's" if ok else "ours"})
    ledger.append("ledger_incident", EXAMPLES["ledger_incident"][0])
    ledger.append("incident_cleared", EXAMPLES["incident_cleared"][0])

    restored.adopt_fork(held_after(ledger, 0), 0, REASON)

    rows = restored.store.rows("SELECT command_id, ok FROM executed_commands")
    assert rows == [("C-1", 1)]
    assert restored.renting_blocked is None
    sound(restored)


def test_fail__a_held_event_that_does_not_chain_rolls_everything_back(ledger: Ledger, restore: Restore) -> None:
    stock(ledger, 1)
    restored = restore(ledger)
    note(ledger, 3, "cloud")
    restored.append("device_rented", {**RENT, "rental_id": "R-1"}, slot=1, device="PDA-001", staff="S-1")
    held = held_after(ledger, 2)
    held[1]["prev_hash"] = GENESIS_HASH
    before = (events(restored), restored.epochs(), snapshot(restored), restored.sync_state())

    with pytest.raises(LedgerError) as caught:
        restored.adopt_fork(held, 2, REASON)

    epoch = restored.sync_state().epoch
    assert str(caught.value) == (
        f"ledger {restored.path}: fork not adopted: the cloud's event at epoch {epoch} seq 4 "
        "does not chain to the hash before it"
    )
    assert (events(restored), restored.epochs(), snapshot(restored), restored.sync_state()) == before
    assert restored.append("cabinet_started", {"software_version": "1"}).seq == 4
    sound(restored)


def test_fail__a_held_event_whose_content_was_changed(ledger: Ledger, restore: Restore) -> None:
    restored = restore(ledger)
    note(ledger, 2, "cloud")
    held = held_after(ledger, 0)
    held[1]["payload"] = {**held[1]["payload"], "technician": "T-9"}
    with pytest.raises(LedgerError) as caught:
        restored.adopt_fork(held, 0, REASON)
    assert str(caught.value) == (
        f"ledger {restored.path}: fork not adopted: the cloud's event at epoch {held[1]['epoch']} seq 2: "
        "its hash does not match its content"
    )


def test_fail__a_refusal_while_folding_rolls_everything_back(ledger: Ledger, restore: Restore) -> None:
    stock(ledger, 2)
    restored = restore(ledger)
    ledger.append("device_rented", {**RENT, "rental_id": "R-1"}, slot=1, device="PDA-001", staff="S-1")
    # The same rental id for another device: no history of one cabinet can produce it.
    restored.append("device_rented", {**RENT, "rental_id": "R-1"}, slot=2, device="PDA-002", staff="S-2")
    before = (events(restored), restored.epochs(), snapshot(restored))

    with pytest.raises(LedgerError) as caught:
        restored.adopt_fork(held_after(ledger, 4), 4, REASON)

    prefix = re.escape(f"ledger {restored.path}: fork not adopted: epoch ")
    assert re.fullmatch(
        prefix + r"[0-9a-f-]{36} seq 1: event type 'device_rented': rental 'R-1' already exists", str(caught.value)
    )
    assert (events(restored), restored.epochs(), snapshot(restored)) == before


@pytest.mark.parametrize(
    ("diverged_after", "acked", "message"),
    [
        (3, 0, "seq 3 is beyond the last event of epoch {epoch} (seq 2)"),
        (1, 2, "the divergence after seq 1 of epoch {epoch} is before what the cloud acknowledged of it (seq 2)"),
    ],
)
def test_fail__a_divergence_the_ledger_cannot_have(
    ledger: Ledger, diverged_after: int, acked: int, message: str
) -> None:
    note(ledger, 2, "ours")
    epoch = ledger.sync_state().epoch
    ledger.record_ack(epoch, acked)
    with pytest.raises(LedgerError) as caught:
        ledger.adopt_fork([], diverged_after, REASON)
    assert str(caught.value) == f"ledger {ledger.path}: fork not adopted: " + message.format(epoch=epoch)


def test_fail__a_held_event_of_a_type_the_ledger_does_not_know(ledger: Ledger, restore: Restore) -> None:
    restored = restore(ledger)
    note(ledger, 1, "cloud")
    held = held_after(ledger, 0)
    held[0]["type"] = "teleported"
    held[0]["hash"] = event_hash(held[0]["prev_hash"], held[0])
    with pytest.raises(LedgerError) as caught:
        restored.adopt_fork(held, 0, REASON)
    assert str(caught.value) == (
        f"ledger {restored.path}: fork not adopted: the cloud's event at epoch {held[0]['epoch']} seq 1: "
        "unknown event type 'teleported'"
    )
