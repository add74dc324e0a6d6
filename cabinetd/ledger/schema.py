"""The ledger's tables, the pragmas every connection gets, and the forward-only migrations.

`PRAGMA user_version` holds the schema version. A migration is a list of statements applied in one
transaction together with the new version number, so a crash leaves the file at the old version or
the new one, never between. Migrations are never edited once released: a change is a new one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from cabinetd.ledger.errors import LedgerError
from cabinetd.ledger.store import Store
from cabinetproto.badges import BadgeError, parse_old

logger = logging.getLogger(__name__)

Synchronous = Literal["FULL", "NORMAL"]


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]
    # What SQL cannot say, run after the statements in the same transaction.
    convert: Callable[[Store], None] | None = None


def _roster_badges(store: Store) -> None:
    """The staff replica's badges, held as the old reader reported them (hex, no leading zeros), in
    the roster form with their key. A value that is not even old hex is kept and matches no card."""
    for staff_id, old in store.rows("SELECT staff_id, badge FROM staff"):
        try:
            badge = parse_old(old)
        except BadgeError as exc:
            logger.warning("ledger %s: staff %s keeps badge %r, matching no card: %s", store.path, staff_id, old, exc)
            continue
        store.run(
            "UPDATE staff SET badge = ?, badge_key = ? WHERE staff_id = ?", (badge.roster_text(), badge.key, staff_id)
        )


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "events, epochs, projections, replicas and sync state",
        (
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            # An epoch is one unbroken run of seqs; a new one starts at first start and after a fork.
            # start_hash is the hash the epoch's first event chains to.
            """CREATE TABLE epochs (
                epoch TEXT PRIMARY KEY,
                ordinal INTEGER NOT NULL UNIQUE,
                started_at TEXT NOT NULL,
                reason TEXT NOT NULL,
                start_hash TEXT NOT NULL,
                acked_seq INTEGER NOT NULL DEFAULT 0
            )""",
            # id is the local order of the whole file (across epochs); it is not part of the hash.
            """CREATE TABLE events (
                id INTEGER PRIMARY KEY,
                epoch TEXT NOT NULL,
                seq INTEGER NOT NULL,
                event_id TEXT NOT NULL UNIQUE,
                type TEXT NOT NULL,
                schema_version INTEGER NOT NULL,
                occurred_at TEXT NOT NULL,
                mono_ns INTEGER NOT NULL,
                boot_id TEXT NOT NULL,
                cabinet_id TEXT NOT NULL,
                slot INTEGER,
                device TEXT,
                staff TEXT,
                payload TEXT NOT NULL,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL,
                UNIQUE (epoch, seq)
            )""",
            "CREATE TABLE sync (id INTEGER PRIMARY KEY CHECK (id = 1), downlink_cursor TEXT)",
            "INSERT INTO sync (id, downlink_cursor) VALUES (1, NULL)",
            # --- projections: derived from events, rebuilt by Ledger.rebuild() ---
            """CREATE TABLE slots (
                slot INTEGER PRIMARY KEY,
                state TEXT NOT NULL DEFAULT 'empty',
                device TEXT,
                alarms TEXT NOT NULL DEFAULT '[]',
                updated_seq INTEGER NOT NULL
            )""",
            """CREATE TABLE devices (
                serial TEXT PRIMARY KEY,
                model TEXT,
                slot INTEGER,
                battery INTEGER,
                health TEXT,
                charging INTEGER,
                provisioned_work_type TEXT,
                last_rented_at TEXT
            )""",
            """CREATE TABLE rentals (
                rental_id TEXT PRIMARY KEY,
                staff TEXT NOT NULL,
                device TEXT NOT NULL,
                cabinet_id TEXT NOT NULL,
                slot INTEGER NOT NULL,
                started_at TEXT NOT NULL,
                due_at TEXT NOT NULL,
                returned_at TEXT,
                returned_to_slot INTEGER,
                usage TEXT,
                selftest TEXT,
                status TEXT NOT NULL CHECK (status IN ('open', 'closed'))
            )""",
            # The file itself refuses a device in two open rentals, whatever the code above it does.
            "CREATE UNIQUE INDEX rentals_open_device ON rentals (device) WHERE status = 'open'",
            "CREATE INDEX rentals_open_staff ON rentals (staff) WHERE status = 'open'",
            """CREATE TABLE executed_commands (
                command_id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                ok INTEGER NOT NULL,
                executed_at TEXT NOT NULL
            )""",
            """CREATE TABLE incidents (
                incident_id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                detail TEXT NOT NULL,
                copy_path TEXT,
                raised_at TEXT NOT NULL,
                cleared_at TEXT,
                cleared_by TEXT
            )""",
            # --- replicas of the cloud's fleet data: not derived from events ---
            """CREATE TABLE staff (
                staff_id TEXT PRIMARY KEY,
                badge TEXT NOT NULL,
                name TEXT NOT NULL,
                store TEXT NOT NULL,
                work_type TEXT NOT NULL,
                role TEXT NOT NULL,
                active INTEGER NOT NULL,
                pin_hash TEXT,
                version INTEGER NOT NULL
            )""",
            "CREATE INDEX staff_badge ON staff (badge)",
            """CREATE TABLE work_types (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                rental_limit_minutes INTEGER NOT NULL,
                battery_threshold INTEGER NOT NULL,
                device_models TEXT NOT NULL,
                apps TEXT NOT NULL,
                home_app TEXT,
                max_devices_per_staff INTEGER NOT NULL,
                version INTEGER NOT NULL
            )""",
            """CREATE TABLE device_models (
                model TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                slot_types TEXT NOT NULL,
                version INTEGER NOT NULL
            )""",
            """CREATE TABLE fleet_devices (
                serial TEXT PRIMARY KEY,
                model TEXT NOT NULL,
                active INTEGER NOT NULL,
                version INTEGER NOT NULL
            )""",
        ),
    ),
    Migration(
        2,
        "rentals remember when their due-soon and overdue reminders were recorded",
        (
            "ALTER TABLE rentals ADD COLUMN due_soon_at TEXT",
            "ALTER TABLE rentals ADD COLUMN overdue_at TEXT",
            "CREATE INDEX rentals_open_due ON rentals (due_at) WHERE status = 'open'",
            # Rentals that already had reminders before this version get them from the events, the
            # same way the projection sets them: the first one recorded wins.
            """UPDATE rentals SET
                due_soon_at = (SELECT e.occurred_at FROM events e WHERE e.type = 'rental_due_soon'
                               AND json_extract(e.payload, '$.rental_id') = rentals.rental_id
                               ORDER BY e.id LIMIT 1),
                overdue_at = (SELECT e.occurred_at FROM events e WHERE e.type = 'rental_overdue'
                              AND json_extract(e.payload, '$.rental_id') = rentals.rental_id
                              ORDER BY e.id LIMIT 1)""",
        ),
    ),
    Migration(
        3,
        "command_started events are found by command id",
        (
            # The write-ahead record of a remote command is an event; the runner asks for it by id
            # before each new command, which must not scan every event.
            "CREATE INDEX events_command_started ON events (json_extract(payload, '$.command_id')) "
            "WHERE type = 'command_started'",
        ),
    ),
    Migration(
        4,
        "staff badges in the roster form, found by the bits every form of a card shares",
        (
            "ALTER TABLE staff ADD COLUMN badge_key INTEGER NOT NULL DEFAULT -1",
            "DROP INDEX staff_badge",
            "CREATE INDEX staff_badge_key ON staff (badge_key)",
        ),
        _roster_badges,
    ),
    Migration(
        5,
        "work types and device models keep their names in every language the roster gives; staff found by store",
        (
            # Language tag → name as JSON; {} until the cloud sends names (an older cloud never does).
            "ALTER TABLE work_types ADD COLUMN names TEXT NOT NULL DEFAULT '{}'",
            "ALTER TABLE device_models ADD COLUMN names TEXT NOT NULL DEFAULT '{}'",
            # A rent weighs what the store's other staff may still need (docs/flows.md, "Device
            # choice"): their rows are found by store, not by reading every store's roster.
            "CREATE INDEX staff_store ON staff (store)",
        ),
    ),
    Migration(
        6,
        "device models say how the cabinet talks to their handhelds (aoa-agent, adb, mdm:<adapter>+...)",
        # A model replicated before the cloud sent the field had the agent link, the only one there was.
        ("ALTER TABLE device_models ADD COLUMN link TEXT NOT NULL DEFAULT 'aoa-agent'",),
    ),
)

SCHEMA_VERSION: Final = MIGRATIONS[-1].version

# Tables derived from events (rebuild() recomputes them) and their keys, in a fixed order.
PROJECTION_TABLES: Final[dict[str, tuple[str, ...]]] = {
    "slots": ("slot",),
    "devices": ("serial",),
    "rentals": ("rental_id",),
    "executed_commands": ("command_id",),
    "incidents": ("incident_id",),
}


AUTOCHECKPOINT_PAGES: Final = 4000  # 16 MB of log at 4 KB pages


def configure(store: Store, *, synchronous: Synchronous = "FULL") -> None:
    """Pragmas every connection gets before it touches a table.

    synchronous is a per-connection setting, so it is set here on every open rather than once. FULL
    syncs the write-ahead log at every commit: a commit that returned survives a power cut. NORMAL
    exists only so that the power-loss test can show the difference.
    """
    mode = store.rows("PRAGMA journal_mode=WAL")[0][0]
    if str(mode).lower() != "wal":
        raise LedgerError(f"ledger {store.path}: cannot use write-ahead logging (journal mode {mode!r})")
    store.run(f"PRAGMA synchronous={synchronous}")
    store.run("PRAGMA busy_timeout=5000")
    # The ledger's subsystem folds the log into the file every few seconds (Ledger.fold_log); SQLite's
    # own checkpoint, run inside whichever commit crosses the mark, is only the backstop for a burst.
    store.run(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")


def integrity_problems(store: Store) -> list[str]:
    """What `PRAGMA integrity_check` finds; empty when the file is sound."""
    found = [str(row[0]) for row in store.rows("PRAGMA integrity_check")]
    return [] if found == ["ok"] else found


def schema_version(store: Store) -> int:
    version: int = store.rows("PRAGMA user_version")[0][0]
    return version


def migrate(store: Store, *, target: int = SCHEMA_VERSION) -> int:
    """Bring the file up to `target`, one migration per transaction; returns the version reached."""
    current = schema_version(store)
    if current > SCHEMA_VERSION:
        raise LedgerError(
            f"ledger {store.path} has schema version {current}, newer than this software knows "
            f"({SCHEMA_VERSION}); refusing to open it"
        )
    for migration in MIGRATIONS:
        if current < migration.version <= target:
            with store.atomic():
                for statement in migration.statements:
                    store.run(statement)
                if migration.convert is not None:
                    migration.convert(store)
                store.run(f"PRAGMA user_version = {migration.version}")
            logger.info(
                "ledger %s migrated to schema version %d: %s",
                store.path,
                migration.version,
                migration.description,
            )
            current = migration.version
    return current
