"""Every event type a cabinet records and the cloud reads, with the model its payload must validate
against.

This is the one place event types are declared. Adding one is a payload model here, decorated with
`@declare`, and (when it changes a projection) one function in cabinetd/ledger/projections.py. A payload model
whose meaning changes gets a new `schema_version`; events already written keep the version they
were written with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Final, Literal, TypeVar, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, PlainSerializer, ValidationError

from cabinetproto.chain import iso_utc
from cabinetproto.enums import Alarm, DeviceHealth, SlotState

# Times in payloads are stored as fixed-width UTC text (see chain.iso_utc) so that the projections
# can compare them as text.
UtcTime = Annotated[AwareDatetime, PlainSerializer(iso_utc, return_type=str)]
Ident = Annotated[str, Field(min_length=1, max_length=64)]
Text = Annotated[str, Field(max_length=500)]
Percent = Annotated[int, Field(ge=0, le=100)]
JsonObject = dict[str, JsonValue]
# What a person can report at the screen about the device they return; the critical ones keep the
# device out of service until a technician clears it.
ProblemReason = Literal["screen", "battery", "scanner", "wont_charge", "damaged", "other"]
PROBLEM_REASONS: Final = get_args(ProblemReason)
CRITICAL_REASONS: Final = frozenset({"damaged", "battery"})

ENVELOPE_FIELDS: Final = ("slot", "device", "staff")


class PayloadError(ValueError):
    """A payload that does not fit its event type; the message names the type and the first bad field."""


class Payload(BaseModel):
    """The payload of one event type; `@declare` fills in the class variables."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    event_type: ClassVar[str]
    schema_version: ClassVar[int]
    # Envelope fields (slot, device, staff) an event of this type cannot do without.
    needs: ClassVar[frozenset[str]]
    # A payload field that names the device; the envelope's device is taken from it.
    device_field: ClassVar[str | None]


EVENT_TYPES: dict[str, type[Payload]] = {}

P = TypeVar("P", bound=Payload)


def declare(
    event_type: str, *, needs: tuple[str, ...] = (), schema_version: int = 1, device_field: str | None = None
) -> Callable[[type[P]], type[P]]:
    unknown = set(needs) - set(ENVELOPE_FIELDS)
    if unknown:
        raise ValueError(f"event type {event_type!r}: needs {sorted(unknown)}, not envelope fields")

    def register(model: type[P]) -> type[P]:
        if event_type in EVENT_TYPES:
            raise ValueError(f"event type {event_type!r} is declared twice")
        model.event_type = event_type
        model.schema_version = schema_version
        model.needs = frozenset(needs)
        model.device_field = device_field
        EVENT_TYPES[event_type] = model
        return model

    return register


# --- the cabinet and its slots ------------------------------------------------------------------


@declare("cabinet_started")
class CabinetStarted(Payload):
    software_version: Ident


@declare("slot_state_changed", needs=("slot",))
class SlotStateChanged(Payload):
    from_: SlotState = Field(alias="from")
    to: SlotState
    reason: Text


@declare("alarm_raised", needs=("slot",))
class AlarmRaised(Payload):
    alarm: Alarm
    detail: Text = ""


@declare("alarm_cleared", needs=("slot",))
class AlarmCleared(Payload):
    alarm: Alarm
    detail: Text = ""


# --- devices -----------------------------------------------------------------------------------


@declare("device_status", needs=("device",), device_field="serial")
class DeviceStatus(Payload):
    serial: Ident
    model: Ident
    battery: Percent
    health: DeviceHealth
    charging: bool


class AppVersion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    package: Annotated[str, Field(min_length=1, max_length=200)]
    version: Annotated[str, Field(min_length=1, max_length=64)]


@declare("device_provisioned", needs=("device",))
class DeviceProvisioned(Payload):
    work_type: Ident
    apps: list[AppVersion]


@declare("provisioning_failed", needs=("slot", "device"))
class ProvisioningFailed(Payload):
    """A device that could not be brought to a work type's apps: it was not handed out (the next was tried)."""

    work_type: Ident
    reason: Text


@declare("repair_ticket_opened", needs=("device",))
class RepairTicketOpened(Payload):
    ticket_id: Ident
    evidence: JsonObject


@declare("problem_reported", needs=("slot",))
class ProblemReported(Payload):
    """A problem the person returning a device reported at the screen ("I have a problem with this
    device"), recorded when submitted. The device is named when the cabinet knows it (the one expected
    back, or the one in the slot). A critical report (a damaged device, a swollen or hot battery)
    keeps the device out of service until a technician clears it."""

    reason: ProblemReason
    note: Text = ""
    rental_id: Ident | None = None
    critical: bool = False


# --- rent and return ---------------------------------------------------------------------------


@declare("dispense_started", needs=("slot", "device", "staff"))
class DispenseStarted(Payload):
    work_type: Ident


@declare("dispense_cancelled", needs=("slot",))
class DispenseCancelled(Payload):
    reason: Text


@declare("device_rented", needs=("slot", "device", "staff"))
class DeviceRented(Payload):
    rental_id: Ident
    due_at: UtcTime


@declare("rental_cancelled", needs=("slot", "device"))
class RentalCancelled(Payload):
    """A rental that ended with its device still (or again) in the slot it was rented from: the
    device never left with the person, so the rental is closed, with no usage and no self-test."""

    rental_id: Ident
    reason: Text


@declare("return_started", needs=("slot",))
class ReturnStarted(Payload):
    expected: Ident | None


@declare("return_cancelled", needs=("slot",))
class ReturnCancelled(Payload):
    reason: Text


@declare("rent_refused")
class RentRefused(Payload):
    """A badge that got no device, and why (the screen showed the same reason)."""

    reason: Ident
    minutes: Annotated[int, Field(ge=0)] | None = None


@declare("trigger_refused", needs=("slot",))
class TriggerRefused(Payload):
    """A move the slot's state machine does not allow, asked for anyway: a bug or a race, never silent."""

    trigger: Ident
    state: SlotState


@declare("step_refused")
class StepRefused(Payload):
    """A step of a flow the ledger refused to record (an invariant it enforces): nothing of the step
    was written, the flow was ended and its slot rebuilt from the ledger, every lock commanded locked."""

    step: Text
    error: Text


@declare("slot_stuck", needs=("slot",))
class SlotStuck(Payload):
    """A slot held a transient state (dispensing, receiving, inspecting) beyond its bound: the daemon
    stops feeding the watchdog so that the service manager restarts it and recovery ends the state."""

    state: SlotState
    seconds: Annotated[int, Field(ge=0)]
    bound_s: Annotated[int, Field(ge=0)]


@declare("device_returned", needs=("slot", "device"))
class DeviceReturned(Payload):
    # None when the cabinet did not know the device as rented (a return is never refused).
    rental_id: Ident | None
    usage: JsonObject
    selftest: JsonObject
    unexpected: bool


@declare("rental_due_soon")
class RentalDueSoon(Payload):
    rental_id: Ident
    due_at: UtcTime


@declare("rental_overdue")
class RentalOverdue(Payload):
    rental_id: Ident
    due_at: UtcTime


# --- technicians, the cloud and the ledger itself ------------------------------------------------


@declare("technician_action")
class TechnicianAction(Payload):
    action: Ident
    args: JsonObject
    technician: Ident


@declare("command_started")
class CommandStarted(Payload):
    """Committed before a remote command runs: the write-ahead record that keeps it at most once. A
    start without a result is a command cut short by a restart, recorded as failed, not run again."""

    command_id: Ident
    kind: Ident


@declare("command_result")
class CommandResult(Payload):
    command_id: Ident
    kind: Ident
    ok: bool
    detail: Text = ""


@declare("reconciliation_difference")
class ReconciliationDifference(Payload):
    what: Text
    ledger_said: JsonValue
    hardware_says: JsonValue


@declare("ledger_incident")
class LedgerIncident(Payload):
    kind: Ident
    detail: Text
    copy_path: str | None


@declare("incident_cleared")
class IncidentCleared(Payload):
    technician: Ident
    note: Text = ""


def payload_model(event_type: str) -> type[Payload]:
    model = EVENT_TYPES.get(event_type)
    if model is None:
        raise PayloadError(f"unknown event type {event_type!r}")
    return model


def validate_payload(event_type: str, payload: Mapping[str, Any] | BaseModel) -> Payload:
    """The payload as its declared model; PayloadError names the type and the first bad field."""
    model = payload_model(event_type)
    if isinstance(payload, BaseModel):
        if type(payload) is not model:
            raise PayloadError(
                f"event type {event_type!r} takes a {model.__name__} payload, not {type(payload).__name__}"
            )
        return payload
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise PayloadError(f"event type {event_type!r}: {describe(exc)}") from None


def describe(exc: ValidationError) -> str:
    """The first problem of a validation error, as `field 'a.b': message`."""
    first = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or "(payload)"
    more = exc.error_count() - 1
    tail = f" (and {more} more)" if more else ""
    return f"field {field!r}: {first['msg']}{tail}"


# Declared in their own module; imported here so that knowing the events means knowing these too.
from cabinetproto import package_events as _package_events  # noqa: E402,F401
from cabinetproto import update_events as _update_events  # noqa: E402,F401
