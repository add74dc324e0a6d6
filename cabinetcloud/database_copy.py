"""`cabinet-cloud copy`: a whole fleet database into an empty one, e.g. from SQLite to PostgreSQL.

Both databases are first brought to the newest schema, so they have the same tables. The source is
read in one transaction (one consistent state, even if a server still writes to it); the target is
written in one transaction, table by table in the order of their foreign keys, with every row as it
is: ids, counters (change numbers, command numbers) and the settings stay what they were, so the
cabinets' cursors and acknowledged seqs still hold. PostgreSQL's id sequences are moved past the
copied ids. The row counts of every table are compared before the commit; a difference rolls the
whole copy back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.apppackages import tables as app_packages
from cabinetcloud.outbox import tables as outbox_tables
from cabinetcloud.projections import tables as projected
from cabinetcloud.releases import tables as releases
from cabinetcloud.storage import Storage, current_version

# The outbox's and the projections' tables are defined beside their code: imported so that the copy,
# which goes by the one metadata, takes them too.
REGISTERED: Final = (
    outbox_tables.OUTBOX_TABLES,
    projected.PROJECTION_TABLES,
    projected.UPDATE_TABLES,
    releases.RELEASE_TABLES,
    app_packages.APP_PACKAGE_TABLES,
)

# Rows the schema's steps (and a server's job loop) write into a new database: replaced by the
# source's, and not what makes a target "not empty".
BOOKKEEPING: Final = frozenset({"counters", "settings", "background_jobs"})

CHUNK_ROWS: Final = 5000
# A release's package is kept in chunks of a megabyte: a few at a time, not 5000 megabytes.
CHUNK_ROWS_OF: Final = {releases.release_chunks.name: 8}


class CopyError(Exception):
    """The copy cannot be made: a target that holds a fleet already, a table this version does not know."""


@dataclass(frozen=True)
class CopyReport:
    source: str
    target: str
    source_version: int
    version: int
    rows: dict[str, int]

    def lines(self) -> list[str]:
        moved = "" if self.source_version == self.version else f" (migrated from {self.source_version})"
        head = f"copied {self.source} to {self.target} at schema version {self.version}{moved}"
        return [head, *(f"  {name}: {count} rows" for name, count in self.rows.items())]


def _tables() -> list[sa.Table]:
    # Both sides are at the same version: its row stays the target's own.
    tables = [table for table in schema.metadata.sorted_tables if table.name != "schema_version"]
    assert {table.name for group in REGISTERED for table in group} <= {table.name for table in tables}
    return tables


def _count(conn: Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _refuse_unknown_tables(conn: Connection, where: str) -> None:
    known = {table.name for table in schema.metadata.sorted_tables}
    unknown = sorted(set(sa.inspect(conn).get_table_names()) - known)
    if unknown:
        raise CopyError(
            f"{where}: table {unknown[0]!r} is not one of this cabinet-cloud's: copy with the version that made it"
        )


def _refuse_filled(conn: Connection, target: str) -> None:
    for table in _tables():
        if table.name not in BOOKKEEPING:
            count = _count(conn, table)
            if count:
                raise CopyError(
                    f"{target}: not empty: table {table.name!r} holds {count} rows; copy into an empty database"
                )


def _copy_rows(src: Connection, dst: Connection, table: sa.Table) -> None:
    if table.name in BOOKKEEPING:
        dst.execute(sa.delete(table))
    chunk_rows = CHUNK_ROWS_OF.get(table.name, CHUNK_ROWS)
    rows = src.execution_options(yield_per=chunk_rows).execute(sa.select(table).order_by(*table.primary_key.columns))
    for chunk in rows.partitions():
        dst.execute(sa.insert(table), [dict(row._mapping) for row in chunk])


def _move_sequences(dst: Connection, target: Storage) -> None:
    """A serial id on PostgreSQL comes from a sequence that the copied rows did not advance."""
    if target.dialect != "postgresql":
        return  # SQLite's next rowid is past the largest one already
    for table in _tables():
        column = table.autoincrement_column
        if column is None:
            continue
        dst.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                f"COALESCE(MAX({column.name}), 0) + 1, false) FROM {table.name}"
            )
        )


def _refuse_missing_file(source_url: str) -> None:
    # Opening a SQLite URL creates the file: a mistyped path would copy an empty fleet.
    try:
        url = sa.make_url(source_url)
    except sa.exc.ArgumentError:
        return  # Storage says what is wrong with it
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_file():
        raise CopyError(f"{url.render_as_string()}: no such database file")


def copy_database(source_url: str, target_url: str) -> CopyReport:
    _refuse_missing_file(source_url)
    source = Storage(source_url)
    try:
        target = Storage(target_url)
        try:
            return _copy(source, target)
        finally:
            target.dispose()
    finally:
        source.dispose()


def _copy(source: Storage, target: Storage) -> CopyReport:
    with source.reading() as conn:
        source_version = current_version(conn)
    version = source.migrate()
    target.migrate()
    rows: dict[str, int] = {}
    with source.reading() as src, target.writing() as dst:
        _refuse_unknown_tables(src, source.url)
        _refuse_unknown_tables(dst, target.url)
        _refuse_filled(dst, target.url)
        for table in _tables():
            _copy_rows(src, dst, table)
        _move_sequences(dst, target)
        for table in _tables():
            rows[table.name] = _count(src, table)
            copied = _count(dst, table)
            if copied != rows[table.name]:
                raise CopyError(f"table {table.name!r}: {rows[table.name]} rows in the source, {copied} copied")
    return CopyReport(source.url, target.url, source_version, version, rows)
