"""Writing the rows the chain is made of: an event, an epoch. Appending and fork adoption share them,
so that an event goes into the file the same way whichever path wrote it."""

from __future__ import annotations

from typing import Final

from cabinetd.ledger.events import StoredEvent
from cabinetd.ledger.store import Store

INSERT_EVENT: Final = (
    "INSERT INTO events (epoch, seq, event_id, type, schema_version, occurred_at, mono_ns, boot_id, "
    "cabinet_id, slot, device, staff, payload, prev_hash, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def insert_event(store: Store, event: StoredEvent, payload_json: str) -> None:
    """One event; `payload_json` is its payload as JSON text (any form that reads back as
    `event.payload`: the hash covers the object, not the text)."""
    store.run(
        INSERT_EVENT,
        (
            event.epoch,
            event.seq,
            event.event_id,
            event.type,
            event.schema_version,
            event.occurred_at,
            event.mono_ns,
            event.boot_id,
            event.cabinet_id,
            event.slot,
            event.device,
            event.staff,
            payload_json,
            event.prev_hash,
            event.hash,
        ),
    )


def insert_epoch(store: Store, epoch: str, started_at: str, reason: str, start_hash: str) -> None:
    """An epoch after every one the file holds; its first event must chain to `start_hash`."""
    store.run(
        "INSERT INTO epochs (epoch, ordinal, started_at, reason, start_hash) "
        "VALUES (?, (SELECT coalesce(max(ordinal), 0) + 1 FROM epochs), ?, ?, ?)",
        (epoch, started_at, reason, start_hash),
    )


def acknowledge(store: Store, epoch: str, acked_seq: int) -> None:
    """The cloud holds `epoch` up to `acked_seq` (never moves the acknowledged seq backwards)."""
    store.run("UPDATE epochs SET acked_seq = max(acked_seq, ?) WHERE epoch = ?", (acked_seq, epoch))
