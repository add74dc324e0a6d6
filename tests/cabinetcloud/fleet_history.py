"""Several real cabinets' ledgers on one clock, writing the events a cabinet writes for rents,
returns, faults and reports, sealed by the ledger and uploaded through the cloud's ingest."""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cabinetcloud.auth import Caller, EnrolmentError
from cabinetcloud.ingest import history, ingest_batch, open_session
from cabinetcloud.storage import Storage
from cabinetd.ledger import Ledger, NewEvent, open_ledger
from cabinetproto.wire import BatchReply, EventBatch, SessionRequest
from testbed import cloudharness

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
PASSED = {"battery": {"passed": True, "evidence": "ok"}, "scanner": {"passed": True, "evidence": "ok"}}
FAILED = {"battery": {"passed": True, "evidence": "ok"}, "scanner": {"passed": False, "evidence": "no beam"}}


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Cabinet:
    """One cabinet's ledger and its place in the cloud; `sent` is how far its current epoch is uploaded."""

    cabinet_id: str
    store: str
    ledger: Ledger
    sent: dict[str, int] = field(default_factory=dict)

    def write(self, *events: NewEvent) -> None:
        self.ledger.append_many(list(events))

    def status(self, slot: int, serial: str, battery: int, model: str = "pda-s1") -> None:
        payload = {"serial": serial, "model": model, "battery": battery, "health": "good", "charging": False}
        self.write(NewEvent("device_status", payload, slot=slot, device=serial))

    def rent(self, slot: int, serial: str, staff: str, rental_id: str, work_type: str, hours: float = 4) -> None:
        due = self.ledger._now() + timedelta(hours=hours)
        self.write(
            NewEvent("dispense_started", {"work_type": work_type}, slot=slot, device=serial, staff=staff),
            NewEvent(
                "device_rented",
                {"rental_id": rental_id, "due_at": due.isoformat()},
                slot=slot,
                device=serial,
                staff=staff,
            ),
            NewEvent("slot_state_changed", {"from": "dispensing", "to": "empty", "reason": "rented"}, slot=slot),
        )

    def give_back(
        self, slot: int, serial: str, rental_id: str | None, battery: int, *, passed: bool = True, ticket: str = ""
    ) -> None:
        status = {"serial": serial, "model": "pda-s1", "battery": battery, "health": "good", "charging": True}
        selftest = PASSED if passed else FAILED
        returned = {"rental_id": rental_id, "usage": {}, "selftest": selftest, "unexpected": False}
        events = [
            NewEvent("device_status", status, slot=slot, device=serial),
            NewEvent("device_returned", returned, slot=slot, device=serial),
            NewEvent(
                "slot_state_changed",
                {"from": "inspecting", "to": "charging" if passed else "faulty", "reason": "inspected"},
                slot=slot,
            ),
        ]
        if not passed:
            evidence = {**selftest, **({"report": self.reported} if self.reported else {})}
            events.append(
                NewEvent("repair_ticket_opened", {"ticket_id": ticket, "evidence": evidence}, slot=slot, device=serial)
            )
        self.reported = {}
        self.write(*events)

    reported: dict[str, Any] = field(default_factory=dict)

    def report(self, slot: int, serial: str, staff: str, reason: str, *, critical: bool, rental_id: str | None) -> None:
        payload = {"reason": reason, "note": f"{reason} broke", "rental_id": rental_id, "critical": critical}
        self.reported = payload
        self.write(NewEvent("problem_reported", payload, slot=slot, device=serial, staff=staff))

    def clear(self, serial: str) -> None:
        args = {"serial": serial}
        self.write(NewEvent("technician_action", {"action": "clear_report", "args": args, "technician": "demo-tech"}))


@dataclass
class Fleet:
    storage: Storage
    clock: Clock
    root: Path
    cabinets: dict[str, Cabinet] = field(default_factory=dict)
    # Every batch as it was uploaded, in order: what an interleaving test replays elsewhere.
    log: list[tuple[Caller, EventBatch]] = field(default_factory=list)

    def cabinet(self, cabinet_id: str, store: str) -> Cabinet:
        with contextlib.suppress(EnrolmentError):  # enrolled already (the operators' rig enrols sim-1)
            cloudharness.enroll(self.storage, cabinet_id, store)
        ledger = open_ledger(self.root / cabinet_id, cabinet_id, clock=self.clock, boot_id="boot-" + cabinet_id)
        found = self.cabinets[cabinet_id] = Cabinet(cabinet_id, store, ledger)
        return found

    def batches(self, cabinet: Cabinet, size: int = 7) -> list[EventBatch]:
        """What the cabinet has not uploaded yet of its current epoch, in batches of `size` events."""
        state = cabinet.ledger.sync_state()
        after = cabinet.sent.get(state.epoch, 0)
        events = [e.to_wire() for e in cabinet.ledger.events_after(after, 100_000, 1 << 30, epoch=state.epoch)]
        cabinet.sent[state.epoch] = after + len(events)
        return [
            EventBatch.model_validate({"epoch": state.epoch, "from_seq": chunk[0]["seq"], "events": chunk})
            for chunk in (events[i : i + size] for i in range(0, len(events), size))
        ]

    def upload(self, cabinet: Cabinet, batch: EventBatch) -> None:
        caller = Caller(cabinet.cabinet_id, cabinet.store)
        reply = ingest_batch(self.storage, caller, batch, self.clock.now)
        assert isinstance(reply, BatchReply), reply
        assert not reply.rejected, reply
        self.log.append((caller, batch))

    def contact(self, cabinet: Cabinet) -> None:
        """A sync session: the cloud notes the cabinet's contact (a device in its slots is seen)."""
        state = cabinet.ledger.sync_state()
        request = SessionRequest(
            epoch=state.epoch,
            last_seq=state.last_seq,
            last_hash=state.last_hash,
            software_version="t",
            schema_version=5,
        )
        open_session(self.storage, Caller(cabinet.cabinet_id, cabinet.store), request, self.clock.now)

    def sync(self, cabinet: Cabinet) -> None:
        for batch in self.batches(cabinet):
            self.upload(cabinet, batch)

    def restore(self, cabinet: Cabinet, copy: Path) -> Cabinet:
        """The cabinet starts again from an old copy of its ledger, then adopts the cloud's history
        the way its sync client does after a fork (the cloud holds more of the epoch than it)."""
        cabinet.ledger.close()
        ledger = open_ledger(copy, cabinet.cabinet_id, clock=self.clock, boot_id="boot-2-" + cabinet.cabinet_id)
        restored = Cabinet(cabinet.cabinet_id, cabinet.store, ledger)
        self.cabinets[cabinet.cabinet_id] = restored
        return restored

    def adopt(self, cabinet: Cabinet, epoch: str, agreed: int) -> None:
        held = history(self.storage, cabinet.cabinet_id, epoch, agreed, 10_000)["events"]
        cabinet.ledger.adopt_fork(held, agreed, "fork: restored from an old copy")
        cabinet.sent = {epoch: agreed + len(held)}

    def close(self) -> None:
        for cabinet in self.cabinets.values():
            cabinet.ledger.close()


def copy_ledger(cabinet: Cabinet, target: Path) -> Path:
    """A backup of the cabinet's ledger as it is now (SQLite's online backup)."""
    target.mkdir(parents=True)
    source = sqlite3.connect(cabinet.ledger.path)
    dest = sqlite3.connect(target / Path(cabinet.ledger.path).name)
    with dest:
        source.backup(dest)
    source.close()
    dest.close()
    return target
