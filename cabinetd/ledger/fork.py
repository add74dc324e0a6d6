"""Adopting a fork: the ledger takes in the history the cloud holds and moves its own events written
since the two diverged into a new epoch (DESIGN.md §8; docs/ledger.md, "Forks").

A cabinet restored from an old copy of its ledger writes events at seqs where the cloud already
holds other events of the same epoch. Neither history may be lost: the cloud's events were
acknowledged, so the cloud's copy of them is the truth, and the cabinet's own are real rents and
returns. `adopt` joins them, inside the caller's transaction:

1. the current epoch's events after the divergence are taken out of the chain;
2. the cloud's events after the divergence (of the current epoch, then of each later epoch the
   cloud holds) go in as they are, same ids, epochs, seqs and hashes, each checked to chain to the
   one before it, and are marked acknowledged;
3. a new epoch starts from the last hash and the events taken out are sealed into it again: same
   event ids, envelopes and payloads, new seqs and hashes. One whose id the cloud holds is not: it
   is the same event, already in;
4. the projections are folded again from every event, as a replay (projections.py says how a replay
   settles what the two histories disagree on).

Any refusal raises LedgerError naming the event; the caller's transaction then leaves the file as
it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from cabinetd.ledger.audit import refold
from cabinetd.ledger.envelope import checked
from cabinetd.ledger.errors import LedgerError
from cabinetd.ledger.events import NewEvent, StoredEvent
from cabinetd.ledger.queries import EVENT_COLUMNS, event_from_row
from cabinetd.ledger.rows import acknowledge, insert_epoch, insert_event
from cabinetd.ledger.store import Store
from cabinetproto.chain import canonical_json, event_hash, uuid7

# The fields of an event on the wire, with the types the ledger stores them as.
WIRE_FIELDS: Final[dict[str, tuple[type, ...]]] = {
    "epoch": (str,),
    "seq": (int,),
    "event_id": (str,),
    "type": (str,),
    "schema_version": (int,),
    "occurred_at": (str,),
    "mono_ns": (int,),
    "boot_id": (str,),
    "cabinet_id": (str,),
    "slot": (int, type(None)),
    "device": (str, type(None)),
    "staff": (str, type(None)),
    "payload": (dict,),
    "prev_hash": (str,),
    "hash": (str,),
}


@dataclass(frozen=True, slots=True)
class Adoption:
    """What an adoption did: the new epoch, and how many events went out, in, and were sealed again."""

    epoch: str
    taken_out: int
    taken_in: int
    resealed: int


def _wire_event(item: Mapping[str, Any], index: int) -> StoredEvent:
    where = f"the cloud's event at epoch {item.get('epoch')} seq {item.get('seq')}"
    for name, kinds in WIRE_FIELDS.items():
        if name not in item:
            raise LedgerError(f"{where} (number {index + 1} of those held): field {name!r} is missing")
        value = item[name]
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise LedgerError(f"{where}: field {name!r} is {type(value).__name__}, not {kinds[0].__name__}")
    return StoredEvent(**{name: item[name] for name in WIRE_FIELDS})


def _check_content(event: StoredEvent, cabinet_id: str, where: str) -> None:
    """The payload and envelope the ledger would have required of the event when it was appended."""
    if event.cabinet_id != cabinet_id:
        raise LedgerError(f"{where} belongs to cabinet {event.cabinet_id!r}, not {cabinet_id!r}")
    try:
        checked(NewEvent(event.type, event.payload, event.slot, event.device, event.staff))
    except LedgerError as exc:
        raise LedgerError(f"{where}: {exc}") from None


def _current_epoch(store: Store) -> tuple[str, str, int, int]:
    """The last epoch: its name, start hash, acknowledged seq and last seq."""
    rows = store.rows(
        "SELECT e.epoch, e.start_hash, e.acked_seq, "
        "(SELECT coalesce(max(seq), 0) FROM events WHERE events.epoch = e.epoch) "
        "FROM epochs e ORDER BY e.ordinal DESC LIMIT 1"
    )
    if not rows:
        raise LedgerError("the ledger has no epoch")
    epoch, start_hash, acked, last = rows[0]
    return epoch, start_hash, acked, last


def adopt(
    store: Store,
    cabinet_id: str,
    held: Sequence[Mapping[str, Any]],
    diverged_after: int,
    reason: str,
    now: str,
) -> Adoption:
    """Join the cloud's history (`held`: its events after seq `diverged_after` of the current epoch,
    then those of each later epoch it holds, in order) and the ledger's own; see the module."""
    epoch, chain_hash, acked, last = _current_epoch(store)
    if diverged_after > last:
        raise LedgerError(f"seq {diverged_after} is beyond the last event of epoch {epoch} (seq {last})")
    if diverged_after < acked:
        raise LedgerError(
            f"the divergence after seq {diverged_after} of epoch {epoch} is before what the cloud "
            f"acknowledged of it (seq {acked})"
        )
    if diverged_after > 0:
        chain_hash = store.rows("SELECT hash FROM events WHERE epoch = ? AND seq = ?", (epoch, diverged_after))[0][0]
    ours = _take_out(store, epoch, diverged_after)
    end = _take_in(store, cabinet_id, held, _End(epoch, diverged_after, chain_hash), reason)
    new_epoch = str(uuid7())
    insert_epoch(store, new_epoch, now, reason, end.hash)
    resealed = _reseal(store, [old for old in ours if old.event_id not in end.theirs], new_epoch, end.hash)
    refold(store)
    return Adoption(new_epoch, len(ours), len(held), resealed)


@dataclass(slots=True)
class _End:
    """Where the chain stands while the cloud's events go in, and the ids of those that went in."""

    epoch: str
    seq: int
    hash: str
    theirs: set[str] = field(default_factory=set)


def _take_out(store: Store, epoch: str, diverged_after: int) -> list[StoredEvent]:
    """Step 1: the current epoch's events after the divergence, out of the chain."""
    ours = [
        event_from_row(row)
        for row in store.rows(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE epoch = ? AND seq > ? ORDER BY seq", (epoch, diverged_after)
        )
    ]
    store.run("DELETE FROM events WHERE epoch = ? AND seq > ?", (epoch, diverged_after))
    return ours


def _take_in(store: Store, cabinet_id: str, held: Sequence[Mapping[str, Any]], end: _End, reason: str) -> _End:
    """Step 2: the cloud's events in as they are, each checked, and acknowledged."""
    for index, item in enumerate(held):
        event = _wire_event(item, index)
        where = f"the cloud's event at epoch {event.epoch} seq {event.seq}"
        if event.epoch != end.epoch:
            # A later epoch of the cloud's: new to this file, and it starts where the chain stands.
            if store.rows("SELECT 1 FROM epochs WHERE epoch = ?", (event.epoch,)):
                raise LedgerError(f"{where}: epoch {event.epoch} is already in the ledger, before it")
            acknowledge(store, end.epoch, end.seq)
            insert_epoch(store, event.epoch, event.occurred_at, f"held by the cloud ({reason})", end.hash)
            end.epoch, end.seq = event.epoch, 0
        _check_link(store, event, end, cabinet_id, where)
        insert_event(store, event, canonical_json(event.payload))
        end.theirs.add(event.event_id)
        end.hash, end.seq = event.hash, event.seq
    acknowledge(store, end.epoch, end.seq)
    return end


def _check_link(store: Store, event: StoredEvent, end: _End, cabinet_id: str, where: str) -> None:
    """One of the cloud's events goes on where the chain stands, and is not in the file already."""
    if event.seq != end.seq + 1:
        raise LedgerError(f"{where}: seq {event.seq} where seq {end.seq + 1} was expected")
    if event.prev_hash != end.hash:
        raise LedgerError(f"{where} does not chain to the hash before it")
    if event_hash(end.hash, event.to_wire()) != event.hash:
        raise LedgerError(f"{where}: its hash does not match its content")
    _check_content(event, cabinet_id, where)
    same = store.rows("SELECT epoch, seq FROM events WHERE event_id = ?", (event.event_id,))
    if same:
        raise LedgerError(
            f"{where}: event id {event.event_id} is already in the ledger at epoch {same[0][0]} seq {same[0][1]}"
        )


def _reseal(store: Store, ours: list[StoredEvent], epoch: str, chain_hash: str) -> int:
    """Step 3: the ledger's own events sealed again into the new epoch; returns how many."""
    for seq, old in enumerate(ours, start=1):
        fields = {**old.to_wire(), "epoch": epoch, "seq": seq}
        del fields["prev_hash"], fields["hash"]
        event = StoredEvent(**fields, prev_hash=chain_hash, hash=event_hash(chain_hash, fields))
        insert_event(store, event, canonical_json(event.payload))
        chain_hash = event.hash
    return len(ours)
