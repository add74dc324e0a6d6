"""The write path: events sealed onto the end of the hash chain and committed with their projection
changes, and new epochs minted where the chain goes on.

The chain's end (the tail) is kept between appends, so that an append reads nothing back but what
its projections need; whatever moves the chain by another path (a new epoch, a fork adopted, a
failed commit) forgets it, and the next append reads it from the file again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cabinetd.ledger.envelope import Draft, checked
from cabinetd.ledger.errors import LedgerError
from cabinetd.ledger.events import NewEvent, StoredEvent
from cabinetd.ledger.projections import apply_changes, project
from cabinetd.ledger.queries import SqlView
from cabinetd.ledger.rows import insert_epoch, insert_event
from cabinetd.ledger.store import Store
from cabinetproto.chain import event_hash, iso_utc, uuid7

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Tail:
    """The chain's last link: the current epoch, its last seq and the hash the next event chains to."""

    epoch: str
    seq: int
    hash: str


def load_tail(store: Store) -> Tail:
    rows = store.rows("SELECT epoch, start_hash FROM epochs ORDER BY ordinal DESC LIMIT 1")
    if not rows:
        raise LedgerError(f"ledger {store.path} has no epoch")
    epoch, start_hash = rows[0]
    last = store.rows("SELECT seq, hash FROM events WHERE epoch = ? ORDER BY seq DESC LIMIT 1", (epoch,))
    return Tail(epoch, last[0][0], last[0][1]) if last else Tail(epoch, 0, start_hash)


class Appender:
    """Seals and commits the events of one cabinet onto the chain of one store."""

    def __init__(
        self, store: Store, cabinet_id: str, *, clock: Clock, boot_id: str, monotonic_ns: Callable[[], int]
    ) -> None:
        self._store = store
        self._cabinet_id = cabinet_id
        self._clock = clock
        self._boot_id = boot_id
        self._monotonic_ns = monotonic_ns
        self._view = SqlView(store)
        self._tail: Tail | None = None

    def tail(self) -> Tail:
        if self._tail is None:
            self._tail = load_tail(self._store)
        return self._tail

    def forget_tail(self) -> None:
        """The chain moved by another path: read its end from the file before the next append."""
        self._tail = None

    def append_many(self, events: Sequence[NewEvent]) -> list[StoredEvent]:
        """Append events in one transaction: all of them are committed, or none."""
        drafts = [checked(new) for new in events]
        if not drafts:
            return []
        tail = self.tail()
        first = tail.seq + 1
        sealed: list[StoredEvent] = []
        store = self._store
        try:
            with store.atomic():
                for draft in drafts:
                    event = self._seal(draft, tail)
                    changes = project(event, draft.model, self._view)
                    insert_event(store, event, draft.payload_json)
                    apply_changes(store, changes)
                    tail = Tail(event.epoch, event.seq, event.hash)
                    sealed.append(event)
        except LedgerError:
            self._tail = None
            raise
        except store.database_errors as exc:
            # Whatever the file holds now, read it again rather than trust what was counted here.
            self._tail = None
            raise self._not_committed(drafts, first, sealed, exc) from exc
        self._tail = tail
        return sealed

    def _not_committed(self, drafts: list[Draft], first: int, sealed: list[StoredEvent], exc: Exception) -> LedgerError:
        what = drafts[0].event_type if len(drafts) == 1 else f"{len(drafts)} events"
        seqs = f"seq {first}" if len(drafts) == 1 else f"seq {first}-{first + len(drafts) - 1}"
        unsure = ""
        if len(sealed) == len(drafts) and self._holds(sealed[-1]):
            # The commit reached the log and the failure came after it (the log's sync, or a
            # checkpoint run by the commit): SQLite shows the events, but the commit did not
            # succeed. The caller treats them as not done; the chain goes on from them.
            unsure = "; the events are in the ledger all the same, their durability unconfirmed"
        return LedgerError(f"ledger {self._store.path}: could not commit {what} ({seqs}): {exc}{unsure}")

    def _holds(self, event: StoredEvent) -> bool:
        try:
            tail = load_tail(self._store)
        except LedgerError:
            return False
        except self._store.database_errors:
            return False
        return (tail.epoch, tail.seq, tail.hash) == (event.epoch, event.seq, event.hash)

    def _seal(self, draft: Draft, tail: Tail) -> StoredEvent:
        now = self._clock()
        fields: dict[str, Any] = {
            "epoch": tail.epoch,
            "seq": tail.seq + 1,
            "event_id": str(uuid7(int(now.timestamp() * 1000))),
            "type": draft.event_type,
            "schema_version": draft.model.schema_version,
            "occurred_at": iso_utc(now),
            "mono_ns": self._monotonic_ns(),
            "boot_id": self._boot_id,
            "cabinet_id": self._cabinet_id,
            "slot": draft.slot,
            "device": draft.device,
            "staff": draft.staff,
            "payload": draft.payload,
        }
        return StoredEvent(**fields, prev_hash=tail.hash, hash=event_hash(tail.hash, fields))

    def mint_epoch(self, reason: str, start_hash: str) -> str:
        """An epoch after every one the file holds, inside the caller's transaction."""
        epoch = str(uuid7())
        insert_epoch(self._store, epoch, iso_utc(self._clock()), reason, start_hash)
        return epoch
