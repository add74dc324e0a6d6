"""The ledger as the sync client sees it: the outbox, acknowledgements and epochs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cabinetd.ledger import Ledger, LedgerError, NewEvent
from tests.ledger.helpers import T0, stock


def fill(ledger: Ledger, count: int) -> None:
    ledger.append_many([NewEvent("cabinet_started", {"software_version": f"v{n}"}) for n in range(count)])


def test_ok__events_after_reads_the_outbox_in_order(ledger: Ledger) -> None:
    fill(ledger, 10)
    assert [e.seq for e in ledger.events_after(0)] == list(range(1, 11))
    assert [e.seq for e in ledger.events_after(4, limit=3)] == [5, 6, 7]
    assert ledger.events_after(10) == []


def test_ok__events_after_keeps_under_max_bytes_but_returns_at_least_one(ledger: Ledger) -> None:
    ledger.append("technician_action", {"action": "note", "args": {"text": "x" * 2000}, "technician": "T-1"})
    fill(ledger, 5)
    assert [e.seq for e in ledger.events_after(0, max_bytes=100)] == [1]
    assert [e.seq for e in ledger.events_after(1, max_bytes=1000)] == [2, 3]


def test_ok__acks_advance_and_never_go_back(ledger: Ledger) -> None:
    fill(ledger, 10)
    epoch = ledger.sync_state().epoch
    assert ledger.pending_count() == 10
    assert ledger.record_ack(epoch, 6) == 6
    assert ledger.record_ack(epoch, 3) == 6
    state = ledger.sync_state()
    assert (state.acked_seq, state.last_seq, state.pending) == (6, 10, 4)


@pytest.mark.parametrize(
    ("epoch", "seq", "message"),
    [
        ("nope", 1, "unknown epoch 'nope'"),
        (None, 11, "ack for seq 11 of epoch '{epoch}' is beyond its last event (seq 10)"),
    ],
)
def test_fail__acks_for_what_the_ledger_does_not_hold(
    ledger: Ledger, epoch: str | None, seq: int, message: str
) -> None:
    fill(ledger, 10)
    current = ledger.sync_state().epoch
    with pytest.raises(LedgerError) as caught:
        ledger.record_ack(epoch or current, seq)
    assert str(caught.value) == f"ledger {ledger.path}: " + message.format(epoch=current)
    assert ledger.sync_state().acked_seq == 0


def test_ok__a_new_epoch_restarts_seq_and_continues_the_chain(ledger: Ledger) -> None:
    fill(ledger, 3)
    old = ledger.sync_state()
    ledger.record_ack(old.epoch, 2)
    epoch = ledger.new_epoch("fork: the cloud holds seq 5 of the old epoch")
    state = ledger.sync_state()
    assert (state.epoch, state.last_seq, state.last_hash, state.acked_seq) == (epoch, 0, old.last_hash, 0)
    event = ledger.append("cabinet_started", {"software_version": "after fork"})
    assert (event.epoch, event.seq, event.prev_hash) == (epoch, 1, old.last_hash)
    assert [e.seq for e in ledger.events_after(0)] == [1]
    assert [e.seq for e in ledger.events_after(0, epoch=old.epoch)] == [1, 2, 3]
    assert [(e.epoch, e.acked_seq, e.last_seq) for e in ledger.epochs()] == [(old.epoch, 2, 3), (epoch, 0, 1)]
    assert ledger.verify().ok


def test_ok__a_new_epoch_without_events_still_verifies(ledger: Ledger) -> None:
    fill(ledger, 2)
    ledger.new_epoch("fork")
    ledger.new_epoch("fork again")
    assert ledger.verify().ok
    ledger.append("cabinet_started", {"software_version": "x"})
    assert str(ledger.verify()) == "hash chain intact (3 events)"


def test_ok__tail_spans_epochs(ledger: Ledger) -> None:
    fill(ledger, 2)
    ledger.new_epoch("fork")
    fill(ledger, 2)
    assert [e.seq for e in ledger.tail(3)] == [2, 1, 2]


def test_ok__overdue_and_due_soon(ledger: Ledger) -> None:
    stock(ledger, 3)
    for n, hours in ((1, 1), (2, 2), (3, 4)):
        due = T0 + timedelta(hours=hours)
        rental = {"rental_id": f"R-{n}", "due_at": due}
        ledger.append("device_rented", rental, slot=n, device=f"PDA-00{n}", staff="S-1")
    now = T0 + timedelta(hours=1, minutes=50)
    assert [r.rental_id for r in ledger.overdue(now)] == ["R-1"]
    assert [r.rental_id for r in ledger.due_soon(now, timedelta(minutes=15))] == ["R-2"]
    assert [r.rental_id for r in ledger.due_soon(now, timedelta(hours=3))] == ["R-2", "R-3"]
    assert [r.rental_id for r in ledger.held_by("S-1")] == ["R-1", "R-2", "R-3"]
    assert [r.rental_id for r in ledger.open_rentals()] == ["R-1", "R-2", "R-3"]
    assert ledger.held_by("S-2") == []
