"""Opening the ledger at start-up, and what happens when the file is damaged.

A file that fails `PRAGMA integrity_check` (or that SQLite cannot read as a database) is never
repaired in place and never deleted: the database and its -wal, -shm and -journal files are moved
aside together under a timestamped name (so SQLite can still open the copy with its log), a fresh
ledger is started, and its first event is a `ledger_incident` naming the copy. Until a technician
clears the incident the cabinet refuses rentals; returns are still accepted and recorded.

The check looks through a read-only connection, so that looking cannot change what it finds: a
writer that closes a damaged file checkpoints the log into it and removes the log. Only after a crash
that left a rollback journal does a writer open the file first (SQLite rolls the journal back) and
then check it.

Errors that are not damage (a missing directory, a permission, a full disk) are raised as
LedgerError: moving a sound file aside because of them would lose the record for nothing.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Final

from cabinetd.ledger.append import Clock
from cabinetd.ledger.errors import LedgerError
from cabinetd.ledger.ledger import Ledger
from cabinetd.ledger.schema import configure, integrity_problems, migrate
from cabinetd.ledger.store import SqliteStore
from cabinetproto.chain import utc_now

logger = logging.getLogger(__name__)

LEDGER_FILE: Final = "ledger.sqlite3"
# The -wal first: a log left beside a fresh database would be replayed into it.
COMPANION_SUFFIXES: Final = ("-wal", "-journal", "-shm", "")
# SQLite's primary result codes for a damaged file.
SQLITE_READONLY: Final = 8
SQLITE_CORRUPT: Final = 11
SQLITE_NOTADB: Final = 26


def _code(exc: sqlite3.Error) -> int | None:
    code: int | None = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _is_damage(exc: sqlite3.Error) -> bool:
    return _code(exc) in (SQLITE_CORRUPT, SQLITE_NOTADB)


def _looked_at_read_only(path: Path) -> list[str] | None:
    """What `PRAGMA integrity_check` finds, through a read-only connection; None when only a writer
    can open the file (a crash left a rollback journal for SQLite to roll back first)."""
    if not path.exists() or path.stat().st_size == 0:
        return []  # a ledger yet to be created
    store: SqliteStore | None = None
    try:
        store = SqliteStore(path, read_only=True)
        store.run("PRAGMA synchronous=FULL")  # every connection, even one that never writes
        return integrity_problems(store)
    except sqlite3.Error as exc:
        if _is_damage(exc):
            return [str(exc)]
        if _code(exc) == SQLITE_READONLY:
            return None
        raise LedgerError(f"cannot open ledger {path}: {exc}") from exc
    finally:
        if store is not None:
            store.close()


def _open(path: Path) -> tuple[SqliteStore | None, list[str]]:
    """The file opened for writing, or no store and the damage SQLite reported while opening it."""
    store: SqliteStore | None = None
    try:
        store = SqliteStore(path)
        configure(store)
        return store, []
    except sqlite3.Error as exc:
        if store is not None:
            store.close()
        if _is_damage(exc):
            return None, [str(exc)]
        raise LedgerError(f"cannot open ledger {path}: {exc}") from exc


def keep_damaged(path: Path, now: datetime) -> Path:
    """Move the damaged database and its companion files aside; returns the new database path."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    for attempt in range(1000):
        extra = f"-{attempt}" if attempt else ""
        target = path.with_name(f"{path.stem}.damaged-{stamp}{extra}{path.suffix}")
        if not any(Path(f"{target}{suffix}").exists() for suffix in COMPANION_SUFFIXES):
            break
    else:
        raise LedgerError(f"cannot find a free name to keep the damaged ledger {path}")
    try:
        for suffix in COMPANION_SUFFIXES:
            source = Path(f"{path}{suffix}")
            if source.exists():
                os.rename(source, f"{target}{suffix}")
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the renames must survive a power cut before a fresh file appears
        finally:
            os.close(directory)
    except OSError as exc:
        raise LedgerError(f"cannot move the damaged ledger {path} aside to {target}: {exc}") from exc
    return target


def open_ledger(state_dir: Path, cabinet_id: str, *, clock: Clock = utc_now, boot_id: str | None = None) -> Ledger:
    """Open (or create) the ledger in `state_dir`, checked, migrated and ready to append."""
    path = Path(state_dir) / LEDGER_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LedgerError(f"cannot create the state directory {path.parent}: {exc}") from exc
    problems = _looked_at_read_only(path)
    store: SqliteStore | None = None
    if problems is None:
        # SQLite rolls the journal back as the writer opens the file; look at what that left.
        store, problems = _open(path)
        if store is not None:
            try:
                problems = integrity_problems(store)
            except sqlite3.Error as exc:
                if not _is_damage(exc):
                    store.close()
                    raise LedgerError(f"cannot open ledger {path}: {exc}") from exc
                problems = [str(exc)]
            if problems:
                store.close()
                store = None
    if problems:
        copy = keep_damaged(path, clock())
        logger.critical(
            "LEDGER DAMAGED: %s failed its integrity check (%s). The damaged files are kept at %s; a fresh "
            "ledger was started; renting is blocked until a technician clears the incident",
            path,
            "; ".join(problems[:5]),
            copy,
        )
    if store is None:
        store, again = _open(path)
        if store is None:
            raise LedgerError(f"cannot open ledger {path}: {'; '.join(again)}")
    try:
        migrate(store)
        ledger = Ledger(store, cabinet_id, clock=clock, boot_id=boot_id)
        if problems:
            detail = "; ".join(problems)
            ledger.append(
                "ledger_incident",
                {
                    "kind": "integrity_check_failed",
                    "detail": detail if len(detail) <= 500 else detail[:497] + "...",
                    "copy_path": str(copy),
                },
            )
    except BaseException:
        store.close()
        raise
    return ledger
