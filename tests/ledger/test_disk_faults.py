"""A full disk or an I/O error at the N-th write or sync, for every N of a run: the append raises,
nothing that raised is reported committed, the same ledger goes on once the disk does, and the file
opens cleanly afterwards."""

from __future__ import annotations

import shutil
from pathlib import Path

import apsw
import pytest

from cabinetd.ledger import open_ledger
from cabinetd.ledger.queries import EVENT_COLUMNS, event_from_row
from tests.ledger.powercut import CABINET, Fault, PowerCutVFS, run_workload

TRANSACTIONS = 20

# A run for every write and sync the workload makes: about ten seconds a fault kind.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    """A ledger that already holds events and was closed cleanly, and the ids of those events."""
    directory = tmp_path_factory.mktemp("template")
    run = run_workload(directory, "FULL", 10)
    assert run.errors == []
    return directory, {event.event_id for event in run.acked}


def writes_and_syncs(template: Path, tmp_path: Path) -> int:
    """How many writes and syncs the run makes when nothing fails."""
    shutil.copytree(template, tmp_path / "dry")
    return run_workload(tmp_path / "dry", "FULL", TRANSACTIONS).vfs.writes_and_syncs


@pytest.mark.parametrize(
    ("error", "sticky"), [(apsw.FullError, True), (apsw.IOError, False)], ids=["disk-full", "io-error"]
)
def test_fail__a_fault_at_every_write_and_sync(
    template: tuple[Path, set[str]], tmp_path: Path, error: type[apsw.Error], sticky: bool
) -> None:
    source, before = template
    total = writes_and_syncs(source, tmp_path)
    assert total > 2 * TRANSACTIONS
    ghosts = said = 0
    for at in range(1, total + 1):
        directory = tmp_path / f"fault-{at}"
        shutil.copytree(source, directory)
        vfs = PowerCutVFS()
        vfs.fault = Fault(at, error, sticky)
        run = run_workload(directory, "FULL", TRANSACTIONS, vfs, heal=True)
        assert vfs.fault is None
        # The write or sync that failed belonged to an append, or to a checkpoint after a commit
        # that had already returned (SQLite does not fail the commit for it).
        assert run.failed or run.errors == [], run.errors
        assert all(" could not commit " in text and ": injected at " in text for text in run.errors), run.errors

        ledger = open_ledger(directory, CABINET)
        try:
            assert ledger.renting_blocked is None
            assert ledger.verify().ok
            assert ledger.rebuild().identical
            stored = [event_from_row(row) for row in ledger.store.rows(f"SELECT {EVENT_COLUMNS} FROM events")]
        finally:
            ledger.close()
        shutil.rmtree(directory)
        stored_ids = {event.event_id: event for event in stored}
        # Every append that returned is there, unchanged.
        assert all(stored_ids.get(event.event_id) == event for event in run.acked), at
        assert before <= stored_ids.keys()
        # Anything else is an append that raised: its commit reached the log before the sync failed,
        # so SQLite holds it. Its append raised, so it was never reported done; it is whole or absent.
        acked_ids = before | {event.event_id for event in run.acked}
        extra = [event for event in stored if event.event_id not in acked_ids]
        failed = [[(new.event_type, new.slot) for new in batch] for batch in run.failed]
        assert not extra or [(event.type, event.slot) for event in extra] in failed, at
        # An append whose events SQLite showed after the failed sync says so in its error.
        unconfirmed = [
            text
            for text in run.errors
            if text.endswith("the events are in the ledger all the same, their durability unconfirmed")
        ]
        assert len(unconfirmed) <= 1
        assert bool(unconfirmed) == bool(extra), at
        ghosts += bool(extra)
        said += bool(unconfirmed)
    print(f"{error.__name__}: {total} fault points; {ghosts} left an append that raised in the file, {said} said so")
