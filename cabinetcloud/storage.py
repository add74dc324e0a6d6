"""The cloud's database: SQLite (the default, a file) or PostgreSQL (psycopg 3), one schema, migrations.

Writers take the database's write lock at the start of their transaction on SQLite (BEGIN
IMMEDIATE), so a transaction that read first never fails to upgrade to writing; on PostgreSQL the
rows that order things (an epoch, a counter) are locked explicitly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from cabinetcloud import schema
from cabinetproto.badges import BadgeError, parse_old
from cabinetproto.wire import Entity

log = logging.getLogger(__name__)


class StorageError(Exception):
    """The database cannot be used: wrong URL, newer schema, unreachable server."""


def _private_files(database: str) -> None:
    """Create the database file 0600 (owner only) before SQLite opens it, and take group and others'
    access away from one an older cabinet-cloud created 0644: it holds the PIN hashes of every
    privileged badge. SQLite creates -wal and -shm with the database file's own mode."""
    path = Path(database)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for file in (path, *(path.with_name(path.name + tail) for tail in ("-wal", "-shm", "-journal"))):
        with contextlib.suppress(FileNotFoundError):
            mode = stat.S_IMODE(file.stat().st_mode)
            if mode & 0o077:
                log.warning("%s was mode %04o: made %04o (it holds the fleet's PIN hashes)", file, mode, mode & 0o700)
                file.chmod(mode & 0o700)


def _sqlite_engine(url: sa.URL, immediate: bool) -> Engine:
    if url.database in (None, "", ":memory:"):
        raise StorageError(f"database {url.render_as_string()}: SQLite needs a file, not memory")
    try:
        _private_files(url.database)
    except OSError as exc:
        raise StorageError(f"database {url.render_as_string()}: {exc.strerror}: {exc.filename}") from None
    engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (below); the driver's own transaction handling would get in the way.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # An acknowledged event is gone from the cabinet's outbox: it must survive a power cut here.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql(begin)

    return engine


class Storage:
    def __init__(self, url: str) -> None:
        try:
            parsed = sa.make_url(url)
        except sa.exc.ArgumentError as exc:
            raise StorageError(f"database URL {url!r}: {exc}") from None
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            self._writer = _sqlite_engine(parsed, immediate=True)
            self._reader = _sqlite_engine(parsed, immediate=False)
        elif self.dialect == "postgresql":
            if parsed.get_driver_name() != "psycopg":
                raise StorageError(f"database URL {parsed.render_as_string()}: use postgresql+psycopg:// (psycopg 3)")
            self._writer = sa.create_engine(parsed, pool_size=10, max_overflow=30, pool_pre_ping=True)
            self._reader = self._writer
        else:
            raise StorageError(
                f"database URL {parsed.render_as_string()}: only sqlite:/// and postgresql+psycopg:// work"
            )
        self.url = parsed.render_as_string(hide_password=True)

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """One transaction that will write; committed when the block ends without an error."""
        with self._writer.begin() as conn:
            yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """One transaction that sees one consistent state of the database."""
        engine = self._reader
        if self.dialect == "postgresql":
            engine = engine.execution_options(isolation_level="REPEATABLE READ")
        with engine.begin() as conn:
            yield conn

    def insert_ignoring_duplicates(self, table: sa.Table) -> Any:
        """INSERT ... ON CONFLICT DO NOTHING in this database's dialect."""
        if self.dialect == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        return sqlite.insert(table).on_conflict_do_nothing()

    def lock_for_update(self, query: sa.Select[Any]) -> sa.Select[Any]:
        # SQLite has no row locks; its writer already holds the database lock (BEGIN IMMEDIATE).
        return query.with_for_update() if self.dialect == "postgresql" else query

    def claim(self, query: sa.Select[Any]) -> sa.Select[Any]:
        """The rows of `query` that no other worker holds, locked until commit (FOR UPDATE SKIP LOCKED).

        Work that must happen once (projecting a cabinet's events, an outbound delivery) is claimed
        this way on PostgreSQL, so that several `cabinet-cloud serve` processes share it with nothing
        done twice. SQLite has one writer at a time (BEGIN IMMEDIATE): the query is enough there.
        """
        return query.with_for_update(skip_locked=True) if self.dialect == "postgresql" else query

    def dispose(self) -> None:
        self._writer.dispose()
        if self._reader is not self._writer:
            self._reader.dispose()

    # --- migrations ----------------------------------------------------------------------------

    def migrate(self) -> int:
        """Bring the schema to the newest version (forward only); returns the version reached."""
        with self.writing() as conn:
            if self.dialect == "postgresql":
                # One migrating process at a time, however many servers start together.
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727001)")
            version = current_version(conn)
            if version > len(MIGRATIONS):
                raise StorageError(
                    f"database {self.url} has schema version {version}; this cabinet-cloud knows "
                    f"up to {len(MIGRATIONS)}: upgrade cabinet-cloud"
                )
            for number in range(version + 1, len(MIGRATIONS) + 1):
                log.info("migrating %s to schema version %d", self.url, number)
                MIGRATIONS[number - 1](conn)
                conn.execute(sa.delete(schema.schema_version))
                conn.execute(sa.insert(schema.schema_version).values(version=number))
            return len(MIGRATIONS)


def current_version(conn: Connection) -> int:
    if not sa.inspect(conn).has_table("schema_version"):
        return 0
    value = conn.execute(sa.select(schema.schema_version.c.version)).scalar()
    return int(value or 0)


def _v1_initial(conn: Connection) -> None:
    # The tables of version 1 only: a later step creates its own, so that it finds them missing.
    from cabinetcloud.apppackages import tables as app_packages
    from cabinetcloud.outbox import tables as outbox_tables
    from cabinetcloud.projections import tables as projected
    from cabinetcloud.releases import tables as releases

    later = {
        table.name
        for table in (
            *schema.OPERATOR_TABLES,
            *projected.PROJECTION_TABLES,
            *schema.FLEET_ADMIN_TABLES,
            *outbox_tables.OUTBOX_TABLES,
            *schema.JOB_TABLES,
            *releases.RELEASE_TABLES,
            *projected.UPDATE_TABLES,
            *app_packages.APP_PACKAGE_TABLES,
        )
    }
    tables = [table for table in schema.metadata.sorted_tables if table.name not in {"schema_version", *later}]
    schema.metadata.create_all(conn, tables=[schema.schema_version, *tables])
    conn.execute(
        sa.insert(schema.counters),
        [{"name": name, "value": 0} for name in ("changes", "commands", "epochs")],
    )
    conn.execute(sa.insert(schema.settings).values(name="compacted_through", value="0"))


def _v2_roster_badges(conn: Connection) -> None:
    """Staff badges from the old reader's hex to the roster form, each rewrite a change in the feed so
    that every cabinet's replica follows (a change recorded before this step still carries the old
    hex, and says so by lacking `badge_format`)."""
    # The fleet data's writes live in fleet.py, which needs this module's counters: imported here.
    from cabinetcloud import fleet

    for staff_id in sorted(fleet.ids(conn, Entity.STAFF)):
        row = fleet.current(conn, Entity.STAFF, staff_id)
        assert row is not None
        try:
            badge = parse_old(row["badge"])
        except BadgeError as exc:
            log.warning("staff %s keeps badge %r, which matches no card: %s", staff_id, row["badge"], exc)
            continue
        fleet.upsert(conn, Entity.STAFF, {**row, "badge": badge.roster_text()})


def _v3_names(conn: Connection) -> None:
    """Work types and device models gain `names` (language → name). A database made by this version's
    first step already has the columns (it creates the tables as schema.py has them now)."""
    for table in ("work_types", "device_models"):
        columns = {column["name"] for column in sa.inspect(conn).get_columns(table)}
        if "names" not in columns:
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN names TEXT NOT NULL DEFAULT '{{}}'")


def _v4_operators(conn: Connection) -> None:
    """Operators, their stores, API tokens, browser sessions and the audit log (docs/fleet.md)."""
    schema.metadata.create_all(conn, tables=list(schema.OPERATOR_TABLES))


def _v5_projections(conn: Connection) -> None:
    """The projections the fleet's views read (docs/fleet-views.md) and an index of events by device.
    Empty at first: the projector fills them from the events the cloud already holds."""
    # The projector needs this module's Storage: imported here, like fleet above.
    from cabinetcloud.projections import tables as projected

    schema.metadata.create_all(conn, tables=list(projected.PROJECTION_TABLES))
    projected.events_by_device.create(conn, checkfirst=True)


def _v6_fleet_admin(conn: Connection) -> None:
    """Staff's notification addresses and cabinets' slot numbers: cloud-only (docs/fleet.md, "Fleet data")."""
    schema.metadata.create_all(conn, tables=list(schema.FLEET_ADMIN_TABLES))


def _v7_outbox(conn: Connection) -> None:
    """Endpoints, deliveries and their attempts, and the cloud's own alarms (docs/webhooks.md)."""
    from cabinetcloud.outbox import tables as outbox_tables  # beside the outbox's code, like the projections'

    schema.metadata.create_all(conn, tables=list(outbox_tables.OUTBOX_TABLES))


def _v8_background_jobs(conn: Connection) -> None:
    """The background jobs' schedule and claims (cabinetcloud/jobs.py); a table of its own, so the step
    works whichever of the fleet's other steps ran before it."""
    schema.metadata.create_all(conn, tables=list(schema.JOB_TABLES))


def _v9_reported_seq(conn: Connection) -> None:
    """Cabinets keep where their ledger stood at the last session, for the pending events of sync health.
    A database made by this version's first step has the columns already."""
    columns = {column["name"] for column in sa.inspect(conn).get_columns("cabinets")}
    if "reported_seq" not in columns:
        conn.exec_driver_sql("ALTER TABLE cabinets ADD COLUMN reported_epoch VARCHAR(64)")
        conn.exec_driver_sql("ALTER TABLE cabinets ADD COLUMN reported_seq BIGINT")


def _v10_device_links(conn: Connection) -> None:
    """Device models gain `link` (cabinetproto.links); a model written before says `aoa-agent`, the only
    link there was. A database made by this version's first step already has the column."""
    columns = {column["name"] for column in sa.inspect(conn).get_columns("device_models")}
    if "link" not in columns:
        conn.exec_driver_sql("ALTER TABLE device_models ADD COLUMN link VARCHAR(64) NOT NULL DEFAULT 'aoa-agent'")


def _v11_releases(conn: Connection) -> None:
    """Signed releases with their bytes, rollouts with the cabinets they chose, and the update_* facts
    the progress of a rollout is read from (docs/releases.md)."""
    from cabinetcloud.projections import tables as projected
    from cabinetcloud.releases import tables as releases

    schema.metadata.create_all(conn, tables=[*releases.RELEASE_TABLES, *projected.UPDATE_TABLES])


def _v12_app_packages(conn: Connection) -> None:
    """The APKs operators upload for the work types' apps, with their bytes (docs/app-packages.md)."""
    from cabinetcloud.apppackages import tables as app_packages

    schema.metadata.create_all(conn, tables=list(app_packages.APP_PACKAGE_TABLES))


# Index i holds the step from version i to i + 1. Append only: a released step never changes.
MIGRATIONS: Final[list[Callable[[Connection], None]]] = [
    _v1_initial,
    _v2_roster_badges,
    _v3_names,
    _v4_operators,
    _v5_projections,
    _v6_fleet_admin,
    _v7_outbox,
    _v8_background_jobs,
    _v9_reported_seq,
    _v10_device_links,
    _v11_releases,
    _v12_app_packages,
]


def next_number(conn: Connection, counter: str, count: int = 1) -> int:
    """Reserve `count` numbers of a counter; returns the first. Holds the counter until commit."""
    row = conn.execute(
        sa.update(schema.counters)
        .where(schema.counters.c.name == counter)
        .values(value=schema.counters.c.value + count)
        .returning(schema.counters.c.value)
    ).scalar_one()
    return int(row) - count + 1


def counter_value(conn: Connection, counter: str) -> int:
    value = conn.execute(sa.select(schema.counters.c.value).where(schema.counters.c.name == counter)).scalar_one()
    return int(value)
