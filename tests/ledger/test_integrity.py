"""Start-up: a damaged ledger file is kept, a fresh ledger records the incident, renting waits for a
technician while returns go on."""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from cabinetd.ledger import LEDGER_FILE, Ledger, LedgerError, LedgerService, open_ledger
from tests.ledger.helpers import CABINET, StepClock, stock

RETURN = {"rental_id": None, "usage": {}, "selftest": {"battery": "pass"}, "unexpected": True}


def make_ledger(state_dir: Path, events: int = 0) -> None:
    ledger = open_ledger(state_dir, CABINET)
    stock(ledger, 4)
    for n in range(events):
        ledger.append("technician_action", {"action": "note", "args": {"n": n, "pad": "x" * 300}, "technician": "T"})
    ledger.close()


def overwrite(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as file:
        file.seek(offset)
        file.write(data)


def damaged_files(state_dir: Path) -> list[str]:
    return sorted(p.name for p in state_dir.iterdir() if ".damaged-" in p.name)


def test_ok__a_sound_file_opens_without_incident(state_dir: Path) -> None:
    make_ledger(state_dir)
    ledger = open_ledger(state_dir, CABINET)
    try:
        assert ledger.renting_blocked is None
        assert damaged_files(state_dir) == []
    finally:
        ledger.close()


def test_fail__a_file_that_is_not_a_database(state_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    make_ledger(state_dir)
    overwrite(state_dir / LEDGER_FILE, 0, b"this is not the header SQLite wrote" * 3)
    clock = StepClock()
    with caplog.at_level(logging.CRITICAL, logger="cabinetd.ledger.integrity"):
        ledger = open_ledger(state_dir, CABINET, clock=clock)
    try:
        copy = state_dir / "ledger.damaged-20250301T080001Z.sqlite3"
        assert damaged_files(state_dir) == [copy.name]
        assert ledger.renting_blocked == (
            "ledger incident integrity_check_failed: file is not a database; "
            f"damaged files kept at {copy}; renting is blocked until a technician clears it"
        )
        [first] = ledger.tail(5)
        assert (first.seq, first.type, first.payload) == (
            1,
            "ledger_incident",
            {"kind": "integrity_check_failed", "detail": "file is not a database", "copy_path": str(copy)},
        )
        [record] = caplog.records
        assert record.levelno == logging.CRITICAL
        assert record.getMessage().startswith(f"LEDGER DAMAGED: {state_dir / LEDGER_FILE} failed its integrity check")
    finally:
        ledger.close()


def test_fail__a_damaged_page_with_its_log_kept_beside_it(tmp_path: Path, state_dir: Path) -> None:
    # A file copied while the daemon ran: the database and its write-ahead log, then a page of the
    # events table overwritten.
    make_ledger(tmp_path / "live", events=60)
    live = open_ledger(tmp_path / "live", CABINET)
    live.append("cabinet_started", {"software_version": "in the log"})
    state_dir.mkdir()
    for suffix in ("", "-wal"):
        shutil.copyfile(tmp_path / "live" / f"{LEDGER_FILE}{suffix}", state_dir / f"{LEDGER_FILE}{suffix}")
    live.close()
    size = (state_dir / LEDGER_FILE).stat().st_size
    for page_start in range(4096, size, 4096):
        overwrite(state_dir / LEDGER_FILE, page_start, b"\xff" * 8)  # every b-tree page header but the first
    wal_bytes = (state_dir / f"{LEDGER_FILE}-wal").read_bytes()

    ledger = open_ledger(state_dir, CABINET, clock=StepClock())
    try:
        blocked = ledger.renting_blocked
        assert blocked is not None
        assert blocked.startswith("ledger incident integrity_check_failed: ")
        copy = "ledger.damaged-20250301T080001Z.sqlite3"
        assert damaged_files(state_dir) == [copy, f"{copy}-shm", f"{copy}-wal"]
        assert (state_dir / f"{copy}-wal").read_bytes() == wal_bytes
    finally:
        ledger.close()


def test_ok__returns_go_on_and_a_technician_clears_the_incident(state_dir: Path) -> None:
    make_ledger(state_dir)
    overwrite(state_dir / LEDGER_FILE, 0, b"\0" * 100)
    ledger = open_ledger(state_dir, CABINET)
    ledger.append("device_returned", RETURN, slot=2, device="PDA-007")
    ledger.close()

    ledger = open_ledger(state_dir, CABINET)  # a restart does not forget the incident
    try:
        assert ledger.renting_blocked is not None
        event = ledger.clear_incident("T-7", "copy sent to support")
        assert (event.type, event.payload) == (
            "incident_cleared",
            {"technician": "T-7", "note": "copy sent to support"},
        )
        assert ledger.renting_blocked is None
        with pytest.raises(LedgerError) as caught:
            ledger.clear_incident("T-7")
        assert str(caught.value) == "event type 'incident_cleared': no ledger incident is open"
        assert [(s.slot, s.device) for s in ledger.slot_states()] == [(2, "PDA-007")]
        assert ledger.verify().ok
        assert ledger.rebuild().identical
    finally:
        ledger.close()
    ledger = open_ledger(state_dir, CABINET)
    try:
        assert ledger.renting_blocked is None
    finally:
        ledger.close()


def test_ok__a_second_damage_in_the_same_second_gets_its_own_copy(state_dir: Path) -> None:
    clock = StepClock(step=timedelta(0))
    make_ledger(state_dir)
    for _ in range(2):
        overwrite(state_dir / LEDGER_FILE, 0, b"\0" * 100)
        open_ledger(state_dir, CABINET, clock=clock).close()
    assert damaged_files(state_dir) == [
        "ledger.damaged-20250301T080000Z-1.sqlite3",
        "ledger.damaged-20250301T080000Z.sqlite3",
    ]


def test_fail__errors_that_are_not_damage_are_raised_and_nothing_moves(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the state directory should be")
    with pytest.raises(LedgerError) as caught:
        open_ledger(blocker, CABINET)
    assert str(caught.value).startswith(f"cannot create the state directory {blocker}: ")

    state_dir = tmp_path / "other"
    (state_dir / LEDGER_FILE).mkdir(parents=True)
    with pytest.raises(LedgerError) as caught:
        open_ledger(state_dir, CABINET)
    assert str(caught.value) == f"cannot open ledger {state_dir / LEDGER_FILE}: disk I/O error"
    assert [p.name for p in state_dir.iterdir()] == [LEDGER_FILE]


async def test_ok__the_ledger_as_a_subsystem(state_dir: Path) -> None:
    service = LedgerService(state_dir, CABINET)
    with pytest.raises(LedgerError) as caught:
        _ = service.ledger
    assert str(caught.value) == f"the ledger in {state_dir} is not open"
    await service.prepare()
    ledger: Ledger = service.ledger
    ledger.append("cabinet_started", {"software_version": "0.1.0"})
    await service.cleanup()
    await service.cleanup()
    reopened = open_ledger(state_dir, CABINET)
    try:
        assert [e.type for e in reopened.tail(1)] == ["cabinet_started"]
    finally:
        reopened.close()
