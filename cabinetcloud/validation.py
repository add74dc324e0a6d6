"""The checks one uploaded event must pass to be kept; an event that fails is dead-lettered.

The payload models and the chain hash are the ones the cabinet's ledger writes with (cabinetproto), so
the cloud refuses exactly what the cabinet would not have written. Wall times are never checked: a board without a
clock writes 1970 and its events are still good.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from cabinetcloud.text import find, place_text, printable, storable_text, text_flaw
from cabinetproto.chain import event_hash
from cabinetproto.events import EVENT_TYPES, PayloadError, validate_payload
from cabinetproto.wire import WireEvent

INT32: Final = 2**31 - 1
INT64: Final = 2**63 - 1

# Longest text each column holds; longer is an event the cabinet could not have made.
_TEXT_LIMITS: Final = {"type": 64, "boot_id": 64, "device": 128, "staff": 128, "occurred_at": 64}


@dataclass(frozen=True)
class Problem:
    code: str
    detail: str

    def __post_init__(self) -> None:
        # A reason may quote what the cabinet sent (a payload key): keep it fit for a column and a reply.
        object.__setattr__(self, "detail", printable(self.detail))


def wire_fields(event: WireEvent) -> dict[str, Any]:
    """The event's fields as plain values, the payload as it came. Not `model_dump`: its serialiser
    stops at 255 levels of nesting and mangles lone surrogates."""
    return {name: getattr(event, name) for name in WireEvent.model_fields}


def _check_fields(event: WireEvent, cabinet_id: str) -> Problem | None:
    if event.cabinet_id != cabinet_id:
        return Problem("wrong_cabinet", f"event names cabinet {event.cabinet_id!r}, uploaded by {cabinet_id!r}")
    for name, limit in _TEXT_LIMITS.items():
        value = getattr(event, name)
        if value is None:
            continue
        if len(value) > limit or not storable_text(value):
            return Problem("bad_field", f"field {name!r}: not text of at most {limit} characters")
    if event.slot is not None and not 0 <= event.slot <= INT32:
        return Problem("bad_field", f"field 'slot': {event.slot} is not a slot number")
    if not 0 <= event.mono_ns <= INT64:
        return Problem("bad_field", f"field 'mono_ns': {event.mono_ns} is out of range")
    if not 0 <= event.schema_version <= INT32:
        return Problem("bad_field", f"field 'schema_version': {event.schema_version} is out of range")
    return None


def _check_payload_text(event: WireEvent) -> Problem | None:
    found = find(event.payload, text_flaw, keys=True)
    if found is None:
        return None
    place, problem = found
    return Problem("bad_payload", f"{place_text('payload', place)}: {problem}")


def _check_type(event: WireEvent) -> Problem | None:
    model = EVENT_TYPES.get(event.type)
    if model is None:
        return Problem("unknown_type", f"event type {event.type!r} is not known to this cloud")
    if event.schema_version > model.schema_version:
        return Problem(
            "unknown_schema_version",
            f"event type {event.type!r} schema version {event.schema_version}: "
            f"this cloud reads up to {model.schema_version}",
        )
    for name in sorted(model.needs):
        if getattr(event, name) is None:
            return Problem("bad_envelope", f"event type {event.type!r} needs {name!r}")
    try:
        validate_payload(event.type, event.payload)
    except PayloadError as exc:
        return Problem("bad_payload", str(exc))
    return None


def check_event(event: WireEvent, cabinet_id: str, prev_hash: str) -> Problem | None:
    """None when the event may be kept; else why not. `prev_hash` is the hash it must chain to."""
    problem = _check_fields(event, cabinet_id) or _check_payload_text(event) or _check_type(event)
    if problem is not None:
        return problem
    if event.prev_hash != prev_hash:
        return Problem("chain_broken", f"prev_hash does not match the hash of seq {event.seq - 1}")
    if event_hash(event.prev_hash, wire_fields(event)) != event.hash:
        return Problem("bad_hash", "hash does not match the event's content")
    return None
