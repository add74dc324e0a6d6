"""A power-cut model for SQLite files, and the ledger run over it.

`PowerCutVFS` is an SQLite VFS (through apsw) whose files live on disk, so SQLite's locks and shared
memory work as usual, but which also keeps, for every file, the bytes it held at its last xSync: what
a disk with a volatile write cache guarantees after the power goes. Before every I/O operation
(read, write, sync, truncate, delete) it records a crash point: the synced image of every file at
that moment and how many events the workload had been told were committed. Recovering a crash point
means writing those images into an empty directory and opening them as the cabinet would at its next
boot, with the production `open_ledger`.

The same VFS injects faults: a full disk or an I/O error at the N-th write or sync.

The workload runs the production Ledger (the same schema, migrations, append SQL and projections)
over `ApswStore`, because the standard library's sqlite3 cannot load a VFS written in Python.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import apsw

from cabinetd.ledger import LEDGER_FILE, Ledger, LedgerError, NewEvent, StoredEvent, open_ledger
from cabinetd.ledger.schema import Synchronous, configure, integrity_problems, migrate
from cabinetd.ledger.store import Params, Row

CABINET: Final = "cab-power-1"
TRACKED: Final = apsw.SQLITE_OPEN_MAIN_DB | apsw.SQLITE_OPEN_MAIN_JOURNAL | apsw.SQLITE_OPEN_WAL
_names = itertools.count()


class ApswStore:
    """The ledger's Store over an apsw connection (any VFS)."""

    database_errors: tuple[type[Exception], ...] = (apsw.Error,)

    def __init__(self, path: Path, vfs: str | None = None) -> None:
        self._path = str(path)
        self.conn = apsw.Connection(self._path, vfs=vfs) if vfs else apsw.Connection(self._path)

    @property
    def path(self) -> str:
        return self._path

    def run(self, sql: str, params: Params = ()) -> None:
        for _ in self.conn.execute(sql, params):
            pass

    def rows(self, sql: str, params: Params = ()) -> list[Row]:
        return [tuple(row) for row in self.conn.execute(sql, params)]

    def scan(self, sql: str, params: Params = ()) -> Iterator[Row]:
        for row in self.conn.execute(sql, params):
            yield tuple(row)

    @contextmanager
    def atomic(self) -> Iterator[ApswStore]:
        # What sqlite-utils' atomic() does: BEGIN, then COMMIT, or ROLLBACK on any exception.
        self.conn.execute("BEGIN")
        try:
            yield self
        except BaseException:
            self._rollback()
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            # The failure that got us here may already have ended the transaction.
            with contextlib.suppress(apsw.Error):
                self.conn.execute("ROLLBACK")

    def close(self) -> None:
        self.conn.close()


@dataclass(frozen=True)
class CrashPoint:
    op: int  # the I/O operation the power is cut before (0 = the first of the run)
    kind: str
    file: str
    image: int  # index into PowerCutVFS.images
    acked: int  # events whose append had returned


@dataclass
class Fault:
    """Fail the `at`-th write or sync (1-based) with `error`; a full disk stays full until healed."""

    at: int
    error: type[apsw.Error]
    sticky: bool
    fired: bool = False


class PowerCutVFS(apsw.VFS):
    def __init__(self) -> None:
        self.name = f"powercut-{next(_names)}"
        super().__init__(self.name, base="")
        self.contents: dict[str, bytearray] = {}
        # Every durable state the files went through; a crash point names one by index.
        self.images: list[dict[str, bytes]] = [{}]
        self.points: list[CrashPoint] = []
        self.acked = 0
        self.writes_and_syncs = 0
        self.fault: Fault | None = None

    def xOpen(self, name: Any, flags: list[int]) -> apsw.VFSFile:
        path = name.filename() if isinstance(name, apsw.URIFilename) else name
        if path is None or not flags[0] & TRACKED:
            return apsw.VFSFile("", name, flags)
        return TrackedFile(self, path, name, flags)

    def xDelete(self, filename: str, syncdir: bool) -> None:
        self.io("delete", filename)
        super().xDelete(filename, syncdir)
        self.contents.pop(filename, None)
        image = dict(self.images[-1])
        image.pop(filename, None)
        self.images.append(image)

    def io(self, kind: str, path: str) -> None:
        self.points.append(CrashPoint(len(self.points), kind, path, len(self.images) - 1, self.acked))
        if kind not in ("write", "sync"):
            return
        self.writes_and_syncs += 1
        fault = self.fault
        if fault is not None and (self.writes_and_syncs == fault.at or (fault.sticky and fault.fired)):
            fault.fired = True
            raise fault.error(f"injected at {kind} #{self.writes_and_syncs} of {Path(path).name}")

    def synced(self, path: str) -> None:
        image = dict(self.images[-1])
        image[path] = bytes(self.contents[path])
        self.images.append(image)


class TrackedFile(apsw.VFSFile):
    def __init__(self, vfs: PowerCutVFS, path: str, name: Any, flags: list[int]) -> None:
        super().__init__("", name, flags)
        self.vfs = vfs
        self.path = path
        if path not in vfs.contents:
            on_disk = Path(path).read_bytes() if Path(path).exists() else b""
            vfs.contents[path] = bytearray(on_disk)
            if path not in vfs.images[-1]:
                vfs.images[-1][path] = on_disk  # what was on disk before the run counts as synced

    def xRead(self, amount: int, offset: int) -> bytes:
        self.vfs.io("read", self.path)
        data: bytes = super().xRead(amount, offset)
        return data

    def xWrite(self, data: Any, offset: int) -> None:
        self.vfs.io("write", self.path)
        super().xWrite(data, offset)
        buffer = self.vfs.contents[self.path]
        chunk = bytes(data)
        end = offset + len(chunk)
        if len(buffer) < end:
            buffer.extend(bytes(end - len(buffer)))
        buffer[offset:end] = chunk

    def xTruncate(self, newsize: int) -> None:
        self.vfs.io("truncate", self.path)
        super().xTruncate(newsize)
        buffer = self.vfs.contents[self.path]
        if len(buffer) > newsize:
            del buffer[newsize:]
        else:
            buffer.extend(bytes(newsize - len(buffer)))

    def xSync(self, flags: int) -> None:
        # No real fsync: what survives is decided by this model, not by the test machine's disk.
        self.vfs.io("sync", self.path)
        self.vfs.synced(self.path)


def open_over(vfs: PowerCutVFS, directory: Path, synchronous: Synchronous) -> Ledger:
    """The production start-up sequence (pragmas, migrations, Ledger) over the VFS."""
    directory.mkdir(parents=True, exist_ok=True)
    store = ApswStore(directory / LEDGER_FILE, vfs.name)
    configure(store, synchronous=synchronous)
    # Checkpoints every few transactions, so that crash points fall inside checkpoints too.
    store.run("PRAGMA wal_autocheckpoint = 20")
    migrate(store)
    return Ledger(store, CABINET, boot_id="boot-power")


def transactions(count: int) -> Iterator[list[NewEvent]]:
    """`count` transactions of rents, returns and status reports over four slots, some batched."""
    for n in range(count):
        slot, device = n % 4 + 1, f"PDA-{n % 4 + 1:03d}"
        status = {"serial": device, "model": "TC21", "battery": n % 101, "health": "good", "charging": n % 2 == 0}
        note = {"action": "note", "args": {"n": n, "text": "x" * 400}, "technician": "T-1"}
        if n % 5 == 4:
            yield [
                NewEvent("slot_state_changed", {"from": "ready", "to": "dispensing", "reason": "rent"}, slot=slot),
                NewEvent("device_status", status, slot=slot),
                NewEvent("technician_action", note, slot=slot),
            ]
        elif n % 2:
            yield [NewEvent("device_status", status, slot=slot)]
        else:
            yield [NewEvent("technician_action", note, slot=slot)]


@dataclass
class Run:
    vfs: PowerCutVFS
    acked: list[StoredEvent] = field(default_factory=list)
    failed: list[list[NewEvent]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run_workload(
    directory: Path, synchronous: Synchronous, count: int, vfs: PowerCutVFS | None = None, *, heal: bool = False
) -> Run:
    """Open a ledger over the VFS, append `count` transactions, close it. Appends that raise are
    recorded and the run goes on (as the controller would, with the next badge). With `heal`, the
    fault is lifted after the run and one more transaction must go through on the same ledger."""
    run = Run(vfs or PowerCutVFS())
    ledger = open_over(run.vfs, directory, synchronous)
    for batch in transactions(count):
        try:
            run.acked += ledger.append_many(batch)
        except LedgerError as exc:
            run.failed.append(batch)
            run.errors.append(str(exc))
        run.vfs.acked = len(run.acked)
    if heal:
        run.vfs.fault = None
        run.acked += ledger.append_many([NewEvent("cabinet_started", {"software_version": "after the fault"})])
    try:
        ledger.close()
    except apsw.Error as exc:
        run.errors.append(f"close: {exc}")
    return run


@dataclass
class Recovery:
    lost: int  # acknowledged events missing
    problems: list[str]


def recover(image: dict[str, bytes], directory: Path, acked: list[StoredEvent]) -> Recovery:
    """Boot the cabinet on a crash image: the production open_ledger, then the checks."""
    directory.mkdir(parents=True)
    for path, data in image.items():
        (directory / Path(path).name).write_bytes(data)
    problems: list[str] = []
    ledger = open_ledger(directory, CABINET)
    try:
        if ledger.renting_blocked is not None:
            problems.append(ledger.renting_blocked)
        found = integrity_problems(ledger.store)
        if found:
            problems.append(f"integrity_check: {found[:3]}")
        stored = {row[0]: row[1] for row in ledger.store.rows("SELECT event_id, hash FROM events")}
        lost = sum(1 for event in acked if stored.get(event.event_id) != event.hash)
        verified = ledger.verify()
        if not verified.ok:
            problems.append(str(verified))
        if not ledger.rebuild().identical:
            problems.append("rebuilt projections differ")
        return Recovery(lost, problems)
    finally:
        ledger.close()
