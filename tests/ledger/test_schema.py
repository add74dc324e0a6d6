from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cabinetd.ledger import SCHEMA_VERSION, LedgerError, open_ledger
from cabinetd.ledger.schema import MIGRATIONS, configure, migrate, schema_version
from cabinetd.ledger.store import SqliteStore
from tests.ledger.helpers import CABINET, T0, StepClock, snapshot, stock


def objects(path: Path) -> set[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return set(conn.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))
    finally:
        conn.close()


def columns(store: SqliteStore, table: str) -> list[tuple[object, ...]]:
    return store.rows(f"PRAGMA table_info({table})")


@pytest.mark.parametrize("migration", MIGRATIONS, ids=lambda m: f"v{m.version}")
def test_ok__each_migration_applies_to_the_version_before_it(tmp_path: Path, migration: object) -> None:
    version = migration.version  # type: ignore[attr-defined]
    path = tmp_path / "ledger.sqlite3"
    store = SqliteStore(path)
    try:
        configure(store)
        assert migrate(store, target=version - 1) == version - 1
        before = objects(path)
        assert migrate(store, target=version) == version
        assert schema_version(store) == version
        assert objects(path) > before or version > 1
    finally:
        store.close()


def test_ok__version_2_backfills_reminders_recorded_under_version_1(state_dir: Path) -> None:
    ledger = open_ledger(state_dir, CABINET, clock=StepClock())
    stock(ledger, 2)
    ledger.append("device_rented", {"rental_id": "R-1", "due_at": T0}, slot=1, device="PDA-001", staff="S-1")
    ledger.append("device_rented", {"rental_id": "R-2", "due_at": T0}, slot=2, device="PDA-002", staff="S-1")
    for kind in ("rental_due_soon", "rental_due_soon", "rental_overdue"):
        ledger.append(kind, {"rental_id": "R-1", "due_at": T0})
    expected = snapshot(ledger)
    # Take the file back to what version 1 wrote: the same tables without the reminder columns.
    store = ledger.store
    store.run("ALTER TABLE work_types DROP COLUMN names")
    store.run("ALTER TABLE device_models DROP COLUMN link")
    store.run("ALTER TABLE device_models DROP COLUMN names")
    store.run("DROP INDEX staff_store")
    store.run("DROP INDEX staff_badge_key")
    store.run("ALTER TABLE staff DROP COLUMN badge_key")
    store.run("CREATE INDEX staff_badge ON staff (badge)")
    store.run("DROP INDEX events_command_started")
    store.run("DROP INDEX rentals_open_due")
    store.run("ALTER TABLE rentals DROP COLUMN due_soon_at")
    store.run("ALTER TABLE rentals DROP COLUMN overdue_at")
    store.run("PRAGMA user_version = 1")
    ledger.close()
    fresh = SqliteStore(state_dir / "v1.sqlite3")
    migrate(fresh, target=1)
    downgraded = SqliteStore(state_dir / "ledger.sqlite3")
    assert columns(downgraded, "rentals") == columns(fresh, "rentals")
    fresh.close()
    downgraded.close()

    reopened = open_ledger(state_dir, CABINET, clock=StepClock())
    try:
        assert schema_version(reopened.store) == SCHEMA_VERSION == 6
        assert snapshot(reopened) == expected
        assert reopened.rebuild().identical
    finally:
        reopened.close()


def test_ok__version_3_finds_a_command_start_without_scanning_the_events(state_dir: Path) -> None:
    ledger = open_ledger(state_dir, CABINET, clock=StepClock())
    try:
        ledger.append("command_started", {"command_id": "C-1", "kind": "unlock_slot"})
        assert (ledger.command_started("C-1"), ledger.command_started("C-2")) == (True, False)
        plan = ledger.store.rows(
            "EXPLAIN QUERY PLAN SELECT 1 FROM events WHERE type = 'command_started' "
            "AND json_extract(payload, '$.command_id') = ? LIMIT 1",
            ("C-1",),
        )
        assert [row[3] for row in plan] == ["SEARCH events USING INDEX events_command_started (<expr>=?)"]
    finally:
        ledger.close()


def test_fail__a_file_from_newer_software_is_refused_and_left_alone(state_dir: Path) -> None:
    open_ledger(state_dir, CABINET).close()
    path = state_dir / "ledger.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    with pytest.raises(LedgerError) as caught:
        open_ledger(state_dir, CABINET)
    assert str(caught.value) == (
        f"ledger {path} has schema version 7, newer than this software knows ({SCHEMA_VERSION}); refusing to open it"
    )
    assert sorted(p.name for p in state_dir.iterdir()) == ["ledger.sqlite3"]


def test_ok__every_connection_is_wal_and_synchronous_full(state_dir: Path) -> None:
    for _ in range(2):
        ledger = open_ledger(state_dir, CABINET)
        try:
            assert ledger.store.rows("PRAGMA journal_mode") == [("wal",)]
            assert ledger.store.rows("PRAGMA synchronous") == [(2,)]
        finally:
            ledger.close()


def test_ok__version_4_puts_the_old_hex_badges_in_the_roster_form(state_dir: Path) -> None:
    ledger = open_ledger(state_dir, CABINET, clock=StepClock())
    stock(ledger, 1)
    ledger.append("dispense_started", {"work_type": "picking"}, slot=1, device="PDA-001", staff="S-1")
    events = ledger.store.rows("SELECT seq, staff, payload, hash FROM events ORDER BY id")
    # Take the staff replica back to what version 3 held: what the reader reported, in hex.
    store = ledger.store
    store.run("ALTER TABLE work_types DROP COLUMN names")
    store.run("ALTER TABLE device_models DROP COLUMN link")
    store.run("ALTER TABLE device_models DROP COLUMN names")
    store.run("DROP INDEX staff_store")
    store.run("DROP INDEX staff_badge_key")
    store.run("ALTER TABLE staff DROP COLUMN badge_key")
    store.run("CREATE INDEX staff_badge ON staff (badge)")
    old = [("S-1", "5900B47B4F"), ("S-2", "12D687"), ("S-3", "not-hex")]
    for staff_id, badge in old:
        store.run(
            "INSERT INTO staff (staff_id, badge, name, store, work_type, role, active, pin_hash, version) "
            "VALUES (?, ?, 'x', 'store-7', 'picking', 'staff', 1, NULL, 1)",
            (staff_id, badge),
        )
    store.run("PRAGMA user_version = 3")
    ledger.close()

    reopened = open_ledger(state_dir, CABINET, clock=StepClock())
    try:
        assert schema_version(reopened.store) == SCHEMA_VERSION
        assert reopened.store.rows("SELECT staff_id, badge, badge_key FROM staff ORDER BY staff_id") == [
            ("S-1", "0x5900B47B4F", 0xB47B4F),
            ("S-2", "0001234567", 0x12D687),
            ("S-3", "not-hex", -1),  # kept as it was: it names no card, so nobody's badge matches it
        ]
        # Read in the forms printed on the cards, and in the one the old reader reported.
        found = {
            text: None if (member := reopened.staff_by_badge(text, form)) is None else member.staff_id
            for text, form in [
                ("0011828047", "decimal"),
                ("180,31567", "wiegand26"),
                ("5900B47B4F", "hex10"),
                ("5800B47B4F", "hex10"),  # another version byte: another card
                ("0001234567", "decimal"),
                ("000012D687", "hex10"),
            ]
        }
        assert found == {
            "0011828047": "S-1",
            "180,31567": "S-1",
            "5900B47B4F": "S-1",
            "5800B47B4F": None,
            "0001234567": "S-2",
            "000012D687": "S-2",
        }
        # The events are the ledger's history: never rewritten, and they name staff, not badges.
        assert reopened.store.rows("SELECT seq, staff, payload, hash FROM events ORDER BY id") == events
        assert reopened.verify().ok
    finally:
        reopened.close()
