"""An event before it is written: its payload validated against its declared model and its
envelope (slot, device, staff) checked, all before the transaction opens; and the boot id every
event carries."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cabinetd.ledger.errors import LedgerError
from cabinetd.ledger.events import NewEvent
from cabinetproto.chain import canonical_json, uuid7
from cabinetproto.events import Payload, PayloadError, validate_payload

logger = logging.getLogger(__name__)

BOOT_ID_FILE: Final = Path("/proc/sys/kernel/random/boot_id")


def read_boot_id(path: Path = BOOT_ID_FILE) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        # Without a boot id, mono_ns of events from different boots cannot be told apart; a fresh
        # random one per process is the honest fallback (it never matches an earlier boot).
        fallback = str(uuid7())
        logger.warning("cannot read the boot id from %s (%s); using %s", path, exc, fallback)
        return fallback


@dataclass(frozen=True, slots=True)
class Draft:
    event_type: str
    model: Payload
    payload: dict[str, Any]
    payload_json: str
    slot: int | None
    device: str | None
    staff: str | None


def checked(new: NewEvent) -> Draft:
    """Everything about an event that can be checked before the transaction opens."""
    try:
        model = validate_payload(new.event_type, new.payload)
    except PayloadError as exc:
        raise LedgerError(str(exc)) from None
    kind = new.event_type
    slot, device, staff = new.slot, new.device, new.staff
    if slot is not None and (isinstance(slot, bool) or not isinstance(slot, int) or slot < 1):
        raise LedgerError(f"event type {kind!r}: slot must be a number from 1, got {slot!r}")
    for name, value in (("device", device), ("staff", staff)):
        if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= 64):
            raise LedgerError(f"event type {kind!r}: {name} must be text of 1 to 64 characters, got {value!r}")
    if model.device_field is not None:
        named = getattr(model, model.device_field)
        if device is None:
            device = named
        elif device != named:
            raise LedgerError(
                f"event type {kind!r}: device {device!r} does not match field {model.device_field!r} ({named!r})"
            )
    given = {"slot": slot, "device": device, "staff": staff}
    for name in ("slot", "device", "staff"):
        if name in model.needs and given[name] is None:
            raise LedgerError(f"event type {kind!r} needs a {name}")
    payload = model.model_dump(mode="json", by_alias=True)
    return Draft(kind, model, payload, canonical_json(payload), slot, device, staff)
