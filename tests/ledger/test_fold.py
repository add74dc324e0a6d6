"""Folding the write-ahead log into the file at quiet moments, rather than inside a commit."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from cabinetd.ledger import LEDGER_FILE, Ledger, LedgerError, LedgerService
from cabinetd.ledger import service as service_module
from cabinetd.ledger.schema import AUTOCHECKPOINT_PAGES
from tests.ledger.helpers import CABINET


def log_size(state_dir: Path) -> int:
    return (state_dir / f"{LEDGER_FILE}-wal").stat().st_size


def some_events(ledger: Ledger, count: int) -> None:
    for n in range(count):
        ledger.append("cabinet_started", {"software_version": f"0.{n}"})


def test_ok__after_a_fold_the_log_starts_over(ledger: Ledger, state_dir: Path) -> None:
    some_events(ledger, 40)
    grown = log_size(state_dir)
    assert ledger.fold_log() >= 40  # every commit wrote at least one page
    some_events(ledger, 1)
    assert log_size(state_dir) == grown, "the next commit should write from the start of the log"
    assert [e.payload["software_version"] for e in ledger.tail(2)] == ["0.39", "0.0"]


def test_ok__without_a_fold_the_log_grows(ledger: Ledger, state_dir: Path) -> None:
    some_events(ledger, 40)
    grown = log_size(state_dir)
    some_events(ledger, 1)
    assert log_size(state_dir) > grown


def test_ok__sqlites_own_checkpoint_is_only_the_backstop(ledger: Ledger) -> None:
    assert ledger.store.rows("PRAGMA wal_autocheckpoint") == [(AUTOCHECKPOINT_PAGES,)]


def test_fail__a_fold_that_cannot_run_names_the_ledger(ledger: Ledger) -> None:
    ledger.close()
    with pytest.raises(LedgerError, match=r"ledger .*ledger\.sqlite3: could not fold the log into the file: "):
        ledger.fold_log()


async def test_ok__the_service_folds_every_few_seconds_and_survives_a_failed_fold(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(service_module, "FOLD_EVERY_S", 0.01)
    service = LedgerService(state_dir, CABINET)
    await service.prepare()
    folds: list[str] = []
    four_folds = asyncio.Event()
    real_fold = service.ledger.fold_log

    def fold() -> int:
        folds.append("fold")
        if len(folds) == 4:
            four_folds.set()
        if len(folds) == 2:
            raise LedgerError("ledger x: could not fold the log into the file: disk I/O error")
        return real_fold()

    monkeypatch.setattr(service.ledger, "fold_log", fold)
    caplog.set_level(logging.WARNING, logger="cabinetd.ledger.service")
    runner = asyncio.create_task(service.run())
    try:
        await asyncio.wait_for(four_folds.wait(), 5)
        assert not runner.done()
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await service.cleanup()
    assert "could not fold the log into the file: disk I/O error" in caplog.text
