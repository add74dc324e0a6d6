"""rebuild() folds the events into exactly the tables append() kept, for any history the ledger takes
(hypothesis drives random rents, returns, status reports, alarms, commands, incidents, epochs and
batches, refused ones included)."""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from cabinetd.ledger import Ledger, LedgerError, NewEvent, open_ledger
from cabinetproto.enums import Alarm, SlotState
from tests.ledger.helpers import CABINET, T0, StepClock, snapshot

SLOTS = st.integers(min_value=1, max_value=4)
DEVICES = st.sampled_from(["PDA-001", "PDA-002", "PDA-003", "PDA-004", "PDA-005"])
STAFF = st.sampled_from(["S-1", "S-2", "S-3"])
RENTAL_IDS = st.sampled_from(["R-1", "R-2", "R-3", "R-4", "R-5", "R-6"])
USAGE = st.dictionaries(st.sampled_from(["scans", "drops", "minutes"]), st.integers(0, 500), max_size=3)


DUE = st.integers(0, 600).map(lambda minutes: (T0 + timedelta(minutes=minutes)).isoformat())


def events() -> st.SearchStrategy[NewEvent]:
    return st.one_of(*_slot_events(), *_device_events(), *_rental_events(), *_command_and_incident_events())


def _slot_events() -> list[st.SearchStrategy[NewEvent]]:
    return [
        st.builds(
            lambda slot, to: NewEvent("slot_state_changed", {"from": "empty", "to": to, "reason": "test"}, slot=slot),
            SLOTS,
            st.sampled_from([state.value for state in SlotState]),
        ),
        st.builds(
            lambda slot, alarm, up: NewEvent("alarm_raised" if up else "alarm_cleared", {"alarm": alarm}, slot=slot),
            SLOTS,
            st.sampled_from([alarm.value for alarm in Alarm]),
            st.booleans(),
        ),
    ]


def _device_events() -> list[st.SearchStrategy[NewEvent]]:
    return [
        st.builds(
            lambda serial, slot, battery, charging: NewEvent(
                "device_status",
                {"serial": serial, "model": "TC21", "battery": battery, "health": "good", "charging": charging},
                slot=slot,
            ),
            DEVICES,
            st.none() | SLOTS,
            st.integers(0, 100),
            st.booleans(),
        ),
        st.builds(
            lambda serial, work_type: NewEvent(
                "device_provisioned", {"work_type": work_type, "apps": []}, device=serial
            ),
            DEVICES,
            st.sampled_from(["picking", "price-tags"]),
        ),
    ]


def _rental_events() -> list[st.SearchStrategy[NewEvent]]:
    return [
        st.builds(
            lambda serial, slot, staff, rental_id, due_at: NewEvent(
                "device_rented", {"rental_id": rental_id, "due_at": due_at}, slot=slot, device=serial, staff=staff
            ),
            DEVICES,
            SLOTS,
            STAFF,
            RENTAL_IDS,
            DUE,
        ),
        st.builds(
            lambda serial, slot, rental_id, usage, unexpected: NewEvent(
                "device_returned",
                {"rental_id": rental_id, "usage": usage, "selftest": {"battery": "pass"}, "unexpected": unexpected},
                slot=slot,
                device=serial,
            ),
            DEVICES,
            SLOTS,
            st.none() | RENTAL_IDS,
            USAGE,
            st.booleans(),
        ),
        st.builds(
            lambda kind, rental_id, due_at: NewEvent(kind, {"rental_id": rental_id, "due_at": due_at}),
            st.sampled_from(["rental_due_soon", "rental_overdue"]),
            RENTAL_IDS,
            DUE,
        ),
    ]


def _command_and_incident_events() -> list[st.SearchStrategy[NewEvent]]:
    return [
        st.builds(
            lambda command_id, ok: NewEvent(
                "command_result", {"command_id": command_id, "kind": "unlock_slot", "ok": ok}, slot=1
            ),
            st.sampled_from(["C-1", "C-2", "C-3"]),
            st.booleans(),
        ),
        st.builds(
            lambda command_id: NewEvent("command_started", {"command_id": command_id, "kind": "unlock_slot"}),
            st.sampled_from(["C-1", "C-2", "C-3"]),
        ),
        st.just(NewEvent("ledger_incident", {"kind": "test", "detail": "x", "copy_path": None})),
        st.just(NewEvent("incident_cleared", {"technician": "T-1"})),
    ]


class LedgerHistory(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="ledger-rebuild-"))
        self.ledger: Ledger = open_ledger(self.directory, CABINET, clock=StepClock(), boot_id="boot-1")
        self.appended = 0

    def teardown(self) -> None:
        self.ledger.close()
        shutil.rmtree(self.directory)

    def _append(self, batch: list[NewEvent]) -> None:
        before = (snapshot(self.ledger), self.ledger.sync_state())
        try:
            self.ledger.append_many(batch)
        except LedgerError:
            # A refused event, or a batch holding one, leaves no trace.
            assert (snapshot(self.ledger), self.ledger.sync_state()) == before
        else:
            self.appended += len(batch)

    @rule(event=events())
    def append(self, event: NewEvent) -> None:
        self._append([event])

    @rule(batch=st.lists(events(), min_size=2, max_size=4))
    def append_batch(self, batch: list[NewEvent]) -> None:
        self._append(batch)

    @rule()
    def fork(self) -> None:
        self.ledger.new_epoch("test fork")

    @rule()
    def restart(self) -> None:
        self.ledger.close()
        self.ledger = open_ledger(self.directory, CABINET, clock=StepClock(), boot_id="boot-2")

    @invariant()
    def rebuild_gives_identical_tables(self) -> None:
        before = snapshot(self.ledger)
        result = self.ledger.rebuild()
        assert result.identical, result.differences
        assert snapshot(self.ledger) == before

    @invariant()
    def chain_verifies(self) -> None:
        assert self.ledger.verify().ok

    @invariant()
    def no_device_in_two_open_rentals_or_two_slots(self) -> None:
        rows: list[Any] = self.ledger.store.rows(
            "SELECT device FROM rentals WHERE status = 'open' GROUP BY device HAVING count(*) > 1"
        )
        assert rows == []
        in_slots = {s.slot: s.device for s in self.ledger.slot_states() if s.device is not None}
        assert len(set(in_slots.values())) == len(in_slots)
        placed = {d.slot: d.serial for d in self.ledger.devices() if d.slot is not None}
        assert placed == in_slots


LedgerHistory.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# Forty histories of up to 25 steps, each rebuilt and verified after every step: about ten seconds.
TestLedgerHistory = pytest.mark.slow(LedgerHistory.TestCase)
