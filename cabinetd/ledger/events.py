"""Events as the ledger takes and holds them: the envelope around a payload declared in
cabinetproto.events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from cabinetproto.chain import parse_utc


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append (for `Ledger.append_many`)."""

    event_type: str
    payload: Mapping[str, Any] | BaseModel
    slot: int | None = None
    device: str | None = None
    staff: str | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as committed: the envelope the ledger assigned, the payload as JSON data."""

    epoch: str
    seq: int
    event_id: str
    type: str
    schema_version: int
    occurred_at: str
    mono_ns: int
    boot_id: str
    cabinet_id: str
    slot: int | None
    device: str | None
    staff: str | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def to_wire(self) -> dict[str, Any]:
        """The event as it travels to the cloud (the fields of cabinetproto.wire.WireEvent)."""
        return {
            "epoch": self.epoch,
            "seq": self.seq,
            "event_id": self.event_id,
            "type": self.type,
            "schema_version": self.schema_version,
            "occurred_at": self.occurred_at,
            "mono_ns": self.mono_ns,
            "boot_id": self.boot_id,
            "cabinet_id": self.cabinet_id,
            "slot": self.slot,
            "device": self.device,
            "staff": self.staff,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    def occurred(self) -> datetime:
        return parse_utc(self.occurred_at)
