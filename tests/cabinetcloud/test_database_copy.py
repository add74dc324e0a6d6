"""`cabinet-cloud copy` and `migrate`: a SQLite fleet moved whole into an empty database (PostgreSQL
above all), ids and counters kept, the cabinets carrying on where they were; a target that holds a
fleet refused; and `serve --workers` refused on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from cabinetcloud import operators, schema
from cabinetcloud.__main__ import main
from cabinetcloud.app import create_app
from cabinetcloud.database_copy import BOOKKEEPING
from cabinetcloud.operators import Role
from cabinetcloud.storage import MIGRATIONS, Storage
from cabinetd.ledger import Ledger
from testbed import cloudharness
from tests.cabinetcloud.releases_rig import put_release
from tests.cabinetcloud.test_ingest import session, upload


def _tables(storage: Storage) -> dict[str, list[tuple[Any, ...]]]:
    with storage.reading() as conn:
        return {
            table.name: [tuple(row) for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns))]
            for table in schema.metadata.sorted_tables
        }


def _uploaded(storage: Storage, ledger: Ledger, token: str, after: int = 0) -> dict[str, Any]:
    with TestClient(create_app(storage)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        opened = session(client, ledger)
        events = cloudharness.wire_events(ledger, after)
        if events:
            assert upload(client, events).status_code == 200
        return opened


@dataclass
class OldFleet:
    storage: Storage
    token: str  # sim-1's, which the copy keeps working


@pytest.fixture
def old_fleet(tmp_path: Path, ledger: Ledger) -> Iterator[OldFleet]:
    """A SQLite fleet in use: seeded, a cabinet that uploaded 300 events, an operator, a command, a
    release rolled out."""
    source = cloudharness.seeded(cloudharness.migrated(f"sqlite:///{tmp_path / 'old.db'}"))
    token = cloudharness.enroll(source)
    cloudharness.fill_ledger(ledger, 300)
    _uploaded(source, ledger, token)
    db = ["--db", source.url]
    assert main(["user", "add", "ada", "--role", "admin", "--no-password", *db]) == 0
    assert main(["user", "token", "ada", *db]) == 0
    assert main(["command", "--cabinet", "sim-1", "disable_slot", "slot=4", "reason=door jammed", *db]) == 0
    # A release (its bytes in chunks) rolled out to sim-1: the copy carries the package along.
    put_release(source, tmp_path, ["sim-1"], datetime.now(UTC))
    yield OldFleet(source, token)
    source.dispose()


def test_ok__a_fleet_is_copied_whole_and_carries_on_where_it_was(
    old_fleet: OldFleet, storage: Storage, ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["copy", "--from", old_fleet.storage.url, "--to", storage.url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"copied {old_fleet.storage.url} to {storage.url} at schema version {len(MIGRATIONS)}"
    assert "  events: 300 rows" in lines
    assert ("  releases: 1 rows" in lines, "  rollout_cabinets: 1 rows" in lines) == (True, True)
    before, after = _tables(old_fleet.storage), _tables(storage)
    assert {name: len(rows) for name, rows in after.items()} == {name: len(rows) for name, rows in before.items()}
    assert after == before
    # The ids go on from the copied ones (PostgreSQL's sequences were moved past them).
    with storage.writing() as conn:
        assert operators.add(conn, "otto", Role.OPERATOR).id == 2
    # The cabinet's next session finds its seq, and its next events follow on.
    cloudharness.fill_ledger(ledger, 20, start=300)
    assert _uploaded(storage, ledger, old_fleet.token, after=300)["acked_seq"] == 300
    with storage.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.events)).scalar() == 320


def test_fail__a_target_that_holds_a_fleet_is_refused_and_left_as_it_was(
    old_fleet: OldFleet, storage: Storage, capsys: pytest.CaptureFixture[str]
) -> None:
    with storage.writing() as conn:
        conn.execute(sa.insert(schema.stores), [{"id": "east", "name": "East"}, {"id": "west", "name": "West"}])
    before = _tables(storage)
    capsys.readouterr()
    assert main(["copy", "--from", old_fleet.storage.url, "--to", storage.url]) == 1
    assert capsys.readouterr().err == (
        f"cabinet-cloud: {storage.url}: not empty: table 'stores' holds 2 rows; copy into an empty database\n"
    )
    assert _tables(storage) == before


def test_fail__a_source_file_that_is_not_there_is_not_made(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "typo.db"
    assert main(["copy", "--from", f"sqlite:///{missing}", "--to", f"sqlite:///{tmp_path / 'new.db'}"]) == 1
    assert capsys.readouterr().err == f"cabinet-cloud: sqlite:///{missing}: no such database file\n"
    assert not missing.exists()


def test_ok__bookkeeping_rows_are_the_only_ones_a_new_database_holds(tmp_path: Path) -> None:
    fresh = _tables(cloudharness.migrated(f"sqlite:///{tmp_path / 'new.db'}"))
    assert {name for name, rows in fresh.items() if rows} == {"schema_version", *BOOKKEEPING} - {"background_jobs"}


def test_ok__migrate_says_from_which_version_to_which(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    assert main(["migrate", "--db", url]) == 0
    assert main(["migrate", "--db", url]) == 0
    newest = len(MIGRATIONS)
    assert capsys.readouterr().out == (
        f"{url}: from schema version 0 to {newest}\n{url}: already at schema version {newest}\n"
    )


@pytest.mark.parametrize("workers", ["2", "0"])
def test_fail__several_workers_on_sqlite_are_refused(
    workers: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    assert main(["serve", "--db", url, "--workers", workers]) == 2
    expected = {
        "2": "cabinet-cloud: --workers 2: a SQLite database is served by one process; several need PostgreSQL "
        "(docs/fleet.md, PostgreSQL and several processes)\n",
        "0": "cabinet-cloud: --workers 0: at least 1\n",
    }
    assert capsys.readouterr().err == expected[workers]
