"""The ledger as the sync client sees it: where the outbox stands and what the cloud acknowledged.
The events themselves are read by queries.events_after."""

from __future__ import annotations

from cabinetd.ledger.append import Tail
from cabinetd.ledger.errors import LedgerError
from cabinetd.ledger.queries import SyncState
from cabinetd.ledger.schema import schema_version
from cabinetd.ledger.store import Store


def sync_state(store: Store, cabinet_id: str, tail: Tail) -> SyncState:
    acked = store.rows("SELECT acked_seq FROM epochs WHERE epoch = ?", (tail.epoch,))[0][0]
    cursor = store.rows("SELECT downlink_cursor FROM sync WHERE id = 1")[0][0]
    return SyncState(
        cabinet_id=cabinet_id,
        epoch=tail.epoch,
        last_seq=tail.seq,
        last_hash=tail.hash,
        acked_seq=acked,
        pending=tail.seq - acked,
        downlink_cursor=cursor,
        schema_version=schema_version(store),
    )


def record_ack(store: Store, epoch: str, acked_seq: int) -> int:
    """The cloud holds `epoch` up to `acked_seq`. Never moves backwards; returns the acked seq."""
    try:
        with store.atomic():
            rows = store.rows(
                "SELECT acked_seq, (SELECT coalesce(max(seq), 0) FROM events WHERE epoch = ?) "
                "FROM epochs WHERE epoch = ?",
                (epoch, epoch),
            )
            if not rows:
                raise LedgerError(f"ledger {store.path}: unknown epoch {epoch!r}")
            held, last = rows[0]
            if acked_seq > last:
                raise LedgerError(
                    f"ledger {store.path}: ack for seq {acked_seq} of epoch {epoch!r} is beyond "
                    f"its last event (seq {last})"
                )
            if acked_seq > held:
                store.run("UPDATE epochs SET acked_seq = ? WHERE epoch = ?", (acked_seq, epoch))
                held = acked_seq
    except store.database_errors as exc:
        raise LedgerError(f"ledger {store.path}: could not record the ack: {exc}") from exc
    result: int = held
    return result
