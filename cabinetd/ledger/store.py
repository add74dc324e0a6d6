"""The SQL connection the ledger runs on, behind the few calls it makes.

Production opens the file with the standard library's sqlite3 wrapped by sqlite-utils, whose
`atomic()` is the only way the ledger writes. The power-loss tests run the very same ledger code over
another SQLite binding (through a VFS that can pull the plug), which is why the ledger talks to this
small protocol rather than to a connection directly.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import sqlite_utils

Params = Sequence[Any] | Mapping[str, Any]
Row = tuple[Any, ...]


class Store(Protocol):
    # What the binding raises when the database refuses or fails; the ledger turns it into LedgerError.
    database_errors: tuple[type[Exception], ...]

    @property
    def path(self) -> str:
        """The database file, for messages."""
        ...

    def run(self, sql: str, params: Params = ()) -> None:
        """Execute one statement that returns no rows."""
        ...

    def rows(self, sql: str, params: Params = ()) -> list[Row]:
        """Execute one query and fetch every row."""
        ...

    def scan(self, sql: str, params: Params = ()) -> Iterator[Row]:
        """Execute one query and yield its rows as they are read (for walks over every event)."""
        ...

    def atomic(self) -> AbstractContextManager[object]:
        """A transaction: committed when the block ends, rolled back when it raises."""
        ...

    def close(self) -> None: ...


class SqliteStore:
    """The production store: sqlite3 in autocommit mode (no implicit transactions: every write is
    inside `atomic()`), wrapped by sqlite-utils."""

    database_errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self._path = str(path)
        if read_only:
            # A read-only connection never checkpoints the log into the file or removes the log when
            # it closes, so looking at a damaged ledger leaves it exactly as it was found.
            conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, isolation_level=None)
        else:
            conn = sqlite3.connect(self._path, isolation_level=None, cached_statements=256)
        self.db = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
        self._execute = conn.execute

    @property
    def path(self) -> str:
        return self._path

    def run(self, sql: str, params: Params = ()) -> None:
        self._execute(sql, params)

    def rows(self, sql: str, params: Params = ()) -> list[Row]:
        rows: list[Row] = self._execute(sql, params).fetchall()
        return rows

    def scan(self, sql: str, params: Params = ()) -> Iterator[Row]:
        yield from self.db.conn.cursor().execute(sql, params)

    def atomic(self) -> AbstractContextManager[object]:
        return self.db.atomic()

    def close(self) -> None:
        self.db.close()
