"""The process-crash soak: a child process runs rents and returns the way the controller writes them,
printing every event after `append` returned, and is killed with SIGKILL at random moments; after
every kill the ledger is reopened and checked.

Used by tests/ledger/test_process_crash.py and by `python -m bench ledger_crash` (more kills).

The child is forked from the process that checks it, so a kill costs milliseconds rather than an
interpreter start. Nothing of the ledger is open across the fork: the checker closes its connection
before every fork, as SQLite requires.
"""

from __future__ import annotations

import os
import random
import select
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cabinetd.ledger import Ledger, NewEvent, RentalRow, SlotRow, StoredEvent, open_ledger
from cabinetd.ledger.schema import PROJECTION_TABLES
from cabinetproto.enums import SlotState

CABINET: Final = "cab-crash-1"
SLOTS: Final = 12
DEVICES: Final = 9
STAFF: Final = 7


def _emit(fd: int, events: list[StoredEvent]) -> None:
    os.write(fd, "".join(f"{e.epoch} {e.seq} {e.event_id}\n" for e in events).encode())


def _counts(ledger: Ledger) -> tuple[int, int]:
    rented, returned = ledger.store.rows("SELECT count(*), coalesce(sum(status = 'closed'), 0) FROM rentals")[0]
    return int(rented), int(returned)


def run_workload(ledger: Ledger, fd: int, target: int) -> None:
    """Rent and return until `target` rentals and returns are recorded, resuming from whatever state
    the ledger holds (the last run may have been killed anywhere)."""
    workload = _Workload(ledger, fd)
    if not ledger.slot_states():
        workload.stock()
    workload.append(NewEvent("cabinet_started", {"software_version": "crash-test"}))
    workload.recover()
    while True:
        rented, returned = _counts(ledger)
        if rented >= target and returned >= target:
            return
        slots = ledger.slot_states()
        ready = [s for s in slots if s.state is SlotState.READY and s.device is not None]
        empty = [s for s in slots if s.state is SlotState.EMPTY and s.device is None]
        out = ledger.open_rentals()
        if ready and rented < target and (len(out) < 4 or not empty):
            workload.rent(ready[rented % len(ready)], rented)
        else:
            workload.take_back(out[0], empty[returned % len(empty)].slot, returned)


class _Workload:
    """The controller's writes, each event printed once its append returned."""

    def __init__(self, ledger: Ledger, fd: int) -> None:
        self.ledger = ledger
        self.fd = fd

    def append(self, event: NewEvent) -> None:
        stored = self.ledger.append(
            event.event_type, event.payload, slot=event.slot, device=event.device, staff=event.staff
        )
        _emit(self.fd, [stored])

    def append_many(self, events: list[NewEvent]) -> None:
        _emit(self.fd, self.ledger.append_many(events))

    def stock(self) -> None:
        stock = []
        for number in range(1, DEVICES + 1):
            serial = f"PDA-{number:03d}"
            status = {"serial": serial, "model": "TC21", "battery": 95, "health": "good", "charging": False}
            stock.append(NewEvent("device_status", status, slot=number))
            stock.append(
                NewEvent("slot_state_changed", {"from": "empty", "to": "ready", "reason": "stocked"}, slot=number)
            )
        for number in range(DEVICES + 1, SLOTS + 1):
            stock.append(
                NewEvent("slot_state_changed", {"from": "empty", "to": "empty", "reason": "stocked"}, slot=number)
            )
        self.append_many(stock)

    def recover(self) -> None:
        """What the controller does after a restart: finish or undo a door left half-way."""
        for row in self.ledger.slot_states():
            if row.state is SlotState.DISPENSING and row.device is None:
                self.append(
                    NewEvent(
                        "slot_state_changed",
                        {"from": "dispensing", "to": "empty", "reason": "recovered"},
                        slot=row.slot,
                    )
                )
            elif row.state is SlotState.DISPENSING:
                self.append_many(
                    [
                        NewEvent("dispense_cancelled", {"reason": "restart during dispense"}, slot=row.slot),
                        NewEvent(
                            "slot_state_changed",
                            {"from": "dispensing", "to": "ready", "reason": "recovered"},
                            slot=row.slot,
                        ),
                    ]
                )
            elif row.state is SlotState.RECEIVING:
                to = "ready" if row.device is not None else "empty"
                self.append(
                    NewEvent(
                        "slot_state_changed", {"from": "receiving", "to": to, "reason": "recovered"}, slot=row.slot
                    )
                )

    def rent(self, ready: SlotRow, rented: int) -> None:
        slot, device = ready.slot, ready.device
        assert device is not None
        staff = f"S-{rented % STAFF}"
        rental_id = f"R-{rented + 1:05d}"
        due = datetime.now(UTC) + timedelta(hours=8)
        self.append_many(
            [
                NewEvent("dispense_started", {"work_type": "picking"}, slot=slot, device=device, staff=staff),
                NewEvent("slot_state_changed", {"from": "ready", "to": "dispensing", "reason": "rent"}, slot=slot),
            ]
        )
        self.append(
            NewEvent("device_rented", {"rental_id": rental_id, "due_at": due}, slot=slot, device=device, staff=staff)
        )
        self.append(NewEvent("slot_state_changed", {"from": "dispensing", "to": "empty", "reason": "taken"}, slot=slot))
        if rented % 10 == 0:
            command = {"command_id": f"C-{rented}", "kind": "enable_slot", "ok": True}
            self.append(NewEvent("command_result", command, slot=slot))

    def take_back(self, rental: RentalRow, slot: int, returned: int) -> None:
        usage = {"scans": returned, "screen_on_minutes": 200}
        returned_event = {
            "rental_id": rental.rental_id,
            "usage": usage,
            "selftest": {"battery": "pass"},
            "unexpected": False,
        }
        self.append_many(
            [
                NewEvent("return_started", {"expected": rental.device}, slot=slot, staff=rental.staff),
                NewEvent("slot_state_changed", {"from": "empty", "to": "receiving", "reason": "return"}, slot=slot),
            ]
        )
        self.append(NewEvent("device_returned", returned_event, slot=slot, device=rental.device, staff=rental.staff))
        self.append(
            NewEvent(
                "slot_state_changed", {"from": "receiving", "to": "ready", "reason": "self-test passed"}, slot=slot
            )
        )
        status = {"serial": rental.device, "model": "TC21", "battery": 50, "health": "good", "charging": True}
        self.append(NewEvent("device_status", status, slot=slot))


@dataclass
class SoakResult:
    kills: int = 0
    kills_before_first_event: int = 0
    children: int = 0
    printed: int = 0
    rentals: int = 0
    returns: int = 0
    events: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def _child(state_dir: Path, fd: int, target: int) -> None:
    code = 0
    try:
        ledger = open_ledger(state_dir, CABINET)
        os.write(fd, b"open\n")
        run_workload(ledger, fd, target)
        os.write(fd, b"done\n")
        ledger.close()
    except BaseException:
        traceback.print_exc(file=sys.stderr)
        code = 1
    finally:
        os._exit(code)


@dataclass(frozen=True)
class Kill:
    """When to SIGKILL a child: `delay_s` after the fork, or after it printed `after_events` events."""

    delay_s: float
    after_events: int | None = None


def _run_child(state_dir: Path, target: int, kill: Kill | None) -> tuple[list[str], int]:
    """Fork a child running the workload and SIGKILL it as `kill` says (None: let it finish).
    Returns the lines the child printed and its wait status."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(state_dir, write_fd, target)
    os.close(write_fd)
    text = b""
    deadline = None
    after_events = None if kill is None else kill.after_events
    delay = 0.0 if kill is None else kill.delay_s
    if kill is not None and after_events is None:
        deadline = time.monotonic() + delay
    killed = False
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([read_fd], [], [], timeout)
        if ready:
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            text += chunk
            # Counting printed events rather than milliseconds keeps the kills inside the workload
            # however slow the disk is today.
            printed = text.count(b"\n") - text.startswith(b"open\n")
            if after_events is not None and deadline is None and not killed and printed >= after_events:
                deadline = time.monotonic() + delay
        elif not killed:
            os.kill(pid, signal.SIGKILL)
            killed, deadline = True, None
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    lines = [line for line in text.decode().splitlines() if line != "open"]
    # A line cut by the kill was never wholly printed: it does not count as reported.
    if text and not text.endswith(b"\n"):
        lines = lines[:-1]
    return lines, status


def check(state_dir: Path, printed: dict[tuple[str, int], str]) -> tuple[list[str], int, int, int]:
    """Reopen the ledger after a kill; returns (problems, rentals, returns, events)."""
    problems: list[str] = []
    ledger = open_ledger(state_dir, CABINET)
    try:
        if ledger.renting_blocked is not None:
            problems.append(f"ledger incident after a kill: {ledger.renting_blocked}")
        stored = {
            (epoch, seq): event_id
            for epoch, seq, event_id in ledger.store.rows("SELECT epoch, seq, event_id FROM events")
        }
        missing = [key for key, event_id in printed.items() if stored.get(key) != event_id]
        if missing:
            problems.append(f"{len(missing)} printed events missing, first {sorted(missing)[0]}")
        doubled = ledger.store.rows(
            "SELECT device FROM rentals WHERE status = 'open' GROUP BY device HAVING count(*) > 1"
        )
        if doubled:
            problems.append(f"devices in two open rentals: {doubled}")
        verified = ledger.verify()
        if not verified.ok:
            problems.append(str(verified))
        keys = {table: ", ".join(k) for table, k in PROJECTION_TABLES.items()}
        before = {t: ledger.store.rows(f"SELECT * FROM {t} ORDER BY {k}") for t, k in keys.items()}
        rebuilt = ledger.rebuild()
        after = {t: ledger.store.rows(f"SELECT * FROM {t} ORDER BY {k}") for t, k in keys.items()}
        if not rebuilt.identical or before != after:
            problems.append(f"rebuild differs from the stored projections: {rebuilt.differences}")
        rented, returned = _counts(ledger)
        return problems, rented, returned, len(stored)
    finally:
        ledger.close()


def soak(state_dir: Path, *, kills: int, target: int, seed: int) -> SoakResult:
    """Kill the workload `kills` times at random moments, checking after each, then let it finish.
    A quarter of the kills land 0-15 ms after the fork (most of them while the ledger opens and
    recovers), the rest a random 0-1 ms after the child printed a random 0-40 events. When the
    workload completes before enough kills, its target grows by `target` again."""
    rng = random.Random(seed)
    result = SoakResult()
    printed: dict[tuple[str, int], str] = {}
    started = time.monotonic()
    goal = target
    while result.kills < kills:
        if rng.random() < 0.25:
            kill = Kill(rng.uniform(0.0, 0.015))
        else:
            kill = Kill(rng.uniform(0.0, 0.001), rng.randint(0, 40))
        lines, status = _run_child(state_dir, goal, kill)
        result.children += 1
        events = [line.split() for line in lines if line != "done"]
        printed.update({(epoch, int(seq)): event_id for epoch, seq, event_id in events})
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            result.kills += 1
            result.kills_before_first_event += not events
        elif lines[-1:] == ["done"]:
            goal += target
        else:
            result.problems.append(f"child ended with status {status} before it was killed")
            break
        problems, result.rentals, result.returns, result.events = check(state_dir, printed)
        if problems:
            result.problems += [f"after kill {result.kills}: {p}" for p in problems]
            break
    if not result.problems:
        lines, status = _run_child(state_dir, goal, None)
        events = [line.split() for line in lines if line != "done"]
        printed.update({(epoch, int(seq)): event_id for epoch, seq, event_id in events})
        if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and lines[-1:] == ["done"]):
            result.problems.append(f"the final run ended with status {status}")
        problems, result.rentals, result.returns, result.events = check(state_dir, printed)
        result.problems += problems
    result.printed = len(printed)
    result.seconds = round(time.monotonic() - started, 2)
    return result
