"""Checking the ledger against itself: the hash chain, and the projections against the events."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from cabinetd.ledger.errors import LedgerError
from cabinetd.ledger.events import StoredEvent
from cabinetd.ledger.projections import apply_changes, project
from cabinetd.ledger.queries import EVENT_COLUMNS, SqlView, event_from_row
from cabinetd.ledger.schema import PROJECTION_TABLES
from cabinetd.ledger.store import Store
from cabinetproto.chain import GENESIS_HASH, event_hash
from cabinetproto.events import PayloadError, payload_model


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of walking the hash chain: ok, or the first broken link and why."""

    ok: bool
    events: int
    epoch: str | None = None
    seq: int | None = None
    reason: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"hash chain intact ({self.events} events)"
        return f"hash chain broken at epoch {self.epoch} seq {self.seq}: {self.reason}"


@dataclass(frozen=True)
class RebuildResult:
    events: int
    # Rows that differed between the stored projection and the one rebuilt, per table.
    differences: dict[str, int] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return not any(self.differences.values())


def _events(store: Store) -> Iterator[StoredEvent]:
    for row in store.scan(f"SELECT {EVENT_COLUMNS} FROM events ORDER BY id"):
        yield event_from_row(row)


def verify_chain(store: Store) -> VerifyResult:
    """Walk every event in file order: seqs gapless within each epoch, each prev_hash the hash of the
    event before, each hash the hash of the event's content, each epoch starting where the chain
    stood. Reports the first broken link."""
    epochs = store.rows("SELECT epoch, start_hash FROM epochs ORDER BY ordinal")
    names = [epoch for epoch, _ in epochs]
    prev_hash = GENESIS_HASH
    count = 0

    def enter(first: int, last: int, seq: int) -> VerifyResult | None:
        """Epochs first..last (empty ones included) must each start from the current hash."""
        for epoch, start_hash in epochs[first : last + 1]:
            if start_hash != prev_hash:
                return VerifyResult(
                    False, count, epoch, seq, "the epoch does not start from the hash of the event before it"
                )
        return None

    if not epochs:
        if store.rows("SELECT 1 FROM events LIMIT 1"):
            return VerifyResult(False, 0, None, None, "events but no epoch")
        return VerifyResult(True, 0)
    position = 0
    expect_seq = 1
    if (problem := enter(0, 0, 1)) is not None:
        return problem
    for event in _events(store):
        if event.epoch != names[position]:
            if event.epoch not in names[position + 1 :]:
                return VerifyResult(False, count, event.epoch, event.seq, "the event's epoch is out of order")
            later = names.index(event.epoch, position + 1)
            if (problem := enter(position + 1, later, event.seq)) is not None:
                return problem
            position, expect_seq = later, 1
        if event.seq != expect_seq:
            reason = f"seq {event.seq} where seq {expect_seq} was expected"
            return VerifyResult(False, count, event.epoch, event.seq, reason)
        if event.prev_hash != prev_hash:
            reason = "prev_hash is not the hash of the event before it"
            return VerifyResult(False, count, event.epoch, event.seq, reason)
        if event_hash(event.prev_hash, event.to_wire()) != event.hash:
            reason = "hash does not match the event's content"
            return VerifyResult(False, count, event.epoch, event.seq, reason)
        prev_hash = event.hash
        expect_seq += 1
        count += 1
    if (problem := enter(position + 1, len(epochs) - 1, 0)) is not None:
        return problem
    return VerifyResult(True, count)


def refold(store: Store) -> int:
    """Empty every projection table and fold all events into it again, inside the caller's
    transaction, as a replay (see projections.py); returns how many events were folded. An event
    the replay refuses raises LedgerError naming its epoch and seq."""
    view = SqlView(store, replaying=True)
    for table in PROJECTION_TABLES:
        store.run(f"DELETE FROM {table}")
    count = 0
    for event in _events(store):
        try:
            payload = payload_model(event.type).model_validate(event.payload)
            changes = project(event, payload, view)
        except (LedgerError, PayloadError) as exc:
            raise LedgerError(f"epoch {event.epoch} seq {event.seq}: {exc}") from None
        apply_changes(store, changes)
        count += 1
    return count


def rebuild_projections(store: Store) -> RebuildResult:
    """Fold all events into the projections again, in one transaction; report how many rows differ
    from what was stored before."""
    differences: dict[str, int] = {}
    with store.atomic():
        for table in PROJECTION_TABLES:
            store.run(f"CREATE TEMP TABLE stored_{table} AS SELECT * FROM {table}")
        count = refold(store)
        for table in PROJECTION_TABLES:
            stored = f"temp.stored_{table}"
            rows = store.rows(
                f"SELECT (SELECT count(*) FROM (SELECT * FROM {table} EXCEPT SELECT * FROM {stored})) + "
                f"(SELECT count(*) FROM (SELECT * FROM {stored} EXCEPT SELECT * FROM {table}))"
            )
            differences[table] = rows[0][0]
            store.run(f"DROP TABLE {stored}")
    return RebuildResult(count, differences)
