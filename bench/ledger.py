"""Durable ledger appends per second, one at a time and in batches.

    python -m bench ledger [--json] [--events N] [--batch-size N] [--dir PATH]

The events are the rent and return cycles the controller writes (dispense_started, slot state
changes, device_rented, return_started, device_returned, device_status), each with its projection
changes, on a ledger file in a temporary directory (or --dir: measure the disk the cabinet uses).
Every single append is one durable commit (synchronous=FULL). `fsync_floor_per_s` is what the disk
does with nothing but a 4 KiB write and an fsync in a loop: no single-commit figure can beat it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cabinetd.ledger import Ledger, NewEvent, open_ledger


class RentReturnScript:
    """Rent and return cycles over a cabinet of `slots` slots holding `devices` devices."""

    def __init__(self, slots: int = 12, devices: int = 10) -> None:
        self.slots = slots
        self.devices = devices
        self.ready: deque[tuple[int, str]] = deque()
        self.empty: deque[int] = deque(range(devices + 1, slots + 1))
        self.out: deque[tuple[str, str, str]] = deque()
        self.rentals = 0

    def setup(self) -> list[NewEvent]:
        events = []
        for number in range(1, self.devices + 1):
            device = f"PDA-{number:03d}"
            status = {"serial": device, "model": "TC21", "battery": 90, "health": "good", "charging": False}
            events.append(NewEvent("device_status", status, slot=number))
            change = {"from": "empty", "to": "ready", "reason": "device found at start-up"}
            events.append(NewEvent("slot_state_changed", change, slot=number))
            self.ready.append((number, device))
        return events

    def _rent(self) -> list[NewEvent]:
        slot, device = self.ready.popleft()
        self.rentals += 1
        rental_id, staff = f"R{self.rentals:07d}", f"S{self.rentals % 40:03d}"
        due = datetime.now(UTC) + timedelta(hours=8)
        self.out.append((rental_id, device, staff))
        self.empty.append(slot)
        return [
            NewEvent("dispense_started", {"work_type": "picking"}, slot=slot, device=device, staff=staff),
            NewEvent("slot_state_changed", {"from": "ready", "to": "dispensing", "reason": "rent"}, slot=slot),
            NewEvent("device_rented", {"rental_id": rental_id, "due_at": due}, slot=slot, device=device, staff=staff),
            NewEvent("slot_state_changed", {"from": "dispensing", "to": "empty", "reason": "taken"}, slot=slot),
        ]

    def _return(self) -> list[NewEvent]:
        rental_id, device, staff = self.out.popleft()
        slot = self.empty.popleft()
        self.ready.append((slot, device))
        returned = {
            "rental_id": rental_id,
            "usage": {"scans": 812, "screen_on_minutes": 245, "apps": {"picking": 230}},
            "selftest": {"battery": "pass", "scanner": "pass", "touchscreen": "pass", "wifi": "pass"},
            "unexpected": False,
        }
        status = {"serial": device, "model": "TC21", "battery": 41, "health": "good", "charging": True}
        return [
            NewEvent("return_started", {"expected": device}, slot=slot, staff=staff),
            NewEvent("slot_state_changed", {"from": "empty", "to": "receiving", "reason": "return"}, slot=slot),
            NewEvent("device_returned", returned, slot=slot, device=device, staff=staff),
            NewEvent(
                "slot_state_changed", {"from": "receiving", "to": "ready", "reason": "self-test passed"}, slot=slot
            ),
            NewEvent("device_status", status, slot=slot),
        ]

    def events(self) -> Iterator[NewEvent]:
        while True:
            renting = self.ready and (len(self.out) < self.devices // 2 or not self.empty)
            yield from self._rent() if renting else self._return()


def fsync_floor(directory: Path, count: int = 1000) -> float:
    path = directory / "fsync-floor"
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    block = b"\0" * 4096
    try:
        started = time.perf_counter()
        for _ in range(count):
            os.write(fd, block)
            os.fsync(fd)
        elapsed = time.perf_counter() - started
    finally:
        os.close(fd)
        path.unlink()
    return count / elapsed


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def measure(directory: Path, events: int, batch_size: int) -> dict[str, Any]:
    single_dir, batch_dir = directory / "single", directory / "batch"
    ledger: Ledger = open_ledger(single_dir, "bench-cabinet")
    try:
        script = RentReturnScript()
        ledger.append_many(script.setup())
        stream = script.events()
        latencies: list[float] = []
        started = time.perf_counter()
        for _ in range(events):
            new = next(stream)
            before = time.perf_counter()
            ledger.append(new.event_type, new.payload, slot=new.slot, device=new.device, staff=new.staff)
            latencies.append(time.perf_counter() - before)
        single_elapsed = time.perf_counter() - started
        verify_started = time.perf_counter()
        verified = ledger.verify()
        verify_elapsed = time.perf_counter() - verify_started
        rebuild_started = time.perf_counter()
        rebuilt = ledger.rebuild()
        rebuild_elapsed = time.perf_counter() - rebuild_started
    finally:
        ledger.close()

    ledger = open_ledger(batch_dir, "bench-cabinet")
    try:
        script = RentReturnScript()
        ledger.append_many(script.setup())
        stream = script.events()
        batches = max(1, events // batch_size)
        started = time.perf_counter()
        for _ in range(batches):
            ledger.append_many([next(stream) for _ in range(batch_size)])
        batch_elapsed = time.perf_counter() - started
    finally:
        ledger.close()

    latencies.sort()
    return {
        "single_appends_per_s": round(events / single_elapsed, 1),
        "batch_appends_per_s": round(batches * batch_size / batch_elapsed, 1),
        "append_latency_p50_ms": _ms(statistics.median(latencies)),
        "append_latency_p99_ms": _ms(latencies[int(len(latencies) * 0.99) - 1]),
        "append_latency_max_ms": _ms(latencies[-1]),
        "single_events": events,
        "batch_size": batch_size,
        "fsync_floor_per_s": round(fsync_floor(directory), 1),
        "verify_events_per_s": round(verified.events / verify_elapsed, 1),
        "rebuild_events_per_s": round(rebuilt.events / rebuild_elapsed, 1),
        "verify_ok": verified.ok,
        "rebuild_identical": rebuilt.identical,
        "budget_single_appends_per_s": 3000,
    }


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench ledger")
    parser.add_argument("--events", type=int, default=5000, help="single appends to time (default 5000)")
    parser.add_argument("--batch-size", type=int, default=100, help="events per append_many (default 100)")
    parser.add_argument("--dir", type=Path, default=None, help="measure on this directory's disk")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-ledger-", dir=options.dir) as directory:
        return measure(Path(directory), options.events, options.batch_size)
