"""The sync protocol between a cabinet and the cloud: the wire models both sides import.

Version 1. Fields may be added to a reply or a request within a version (readers ignore what they
do not know); a change an older reader cannot ignore bumps `PROTOCOL_VERSION`, and the session
tells a cabinet that speaks an unsupported version to upgrade.

Order is `(epoch, seq)`; wall times travel as data and never decide anything on the cloud.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from cabinetproto.chain import canonical_json

PROTOCOL_VERSION: Final = 1

# One upload batch: the cabinet packs at most this many events or bytes of JSON (before gzip).
MAX_BATCH_EVENTS: Final = 500
MAX_BATCH_BYTES: Final = 256 * 1024
# What the cloud reads of one request body, compressed or not; a larger body gets 413.
MAX_BODY_BYTES: Final = 1024 * 1024
# How deeply a request body's arrays and objects may nest (an upload's own three levels included);
# counted before the body is parsed, a deeper body gets 422 `too_deep`.
MAX_JSON_DEPTH: Final = 512
# The longest long-poll the cloud honours.
MAX_WAIT_S: Final = 60
MAX_PAGE_OPS: Final = 1000


def _not_a_number(value: Any) -> Any:
    # Lax parsing would read 0 as 1970-01-01: a time on the wire is ISO 8601 text, never a number.
    if isinstance(value, int | float):
        raise ValueError("must be an ISO 8601 time with a zone, not a number")
    return value


def _whole_number(value: Any) -> Any:
    # Lax parsing would take true or "7" for a number; JSON's 7.0 is still the number 7.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


WireTime = Annotated[AwareDatetime, BeforeValidator(_not_a_number)]
Whole = Annotated[int, BeforeValidator(_whole_number)]


# Ids that key rows and chains: uuids, epochs, cabinets. Kept to a safe alphabet so that every
# store can hold them; the ledger never makes anything else.
Uuid = Annotated[
    str,
    Field(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
]
Token = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
Hash = Annotated[str, Field(pattern=r"^[0-9a-f]{0,128}$")]
Seq = Annotated[int, Field(ge=0, le=2**52), BeforeValidator(_whole_number)]
Cursor = Annotated[str, Field(pattern=r"^[0-9]{0,18}$")]


class WireModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# --- session ---------------------------------------------------------------------------------


class SessionStatus(enum.StrEnum):
    OK = "ok"
    FORK = "fork"
    UPGRADE_REQUIRED = "upgrade_required"


class SessionRequest(WireModel):
    """Opens a sync session: where the cabinet's ledger stands, so the cloud can spot a fork."""

    protocol_version: Annotated[int, Field(ge=1, le=1000), BeforeValidator(_whole_number)] = PROTOCOL_VERSION
    epoch: Token
    last_seq: Seq
    last_hash: Hash
    software_version: Annotated[str, Field(max_length=64)]
    schema_version: Annotated[int, Field(ge=0, le=1_000_000), BeforeValidator(_whole_number)]
    cabinet_time: WireTime | None = None


class EpochHeld(WireModel):
    """What the cloud holds of one of the cabinet's epochs, in the order the cloud first saw them."""

    epoch: Token
    acked_seq: Seq


class SessionReply(WireModel):
    status: SessionStatus
    server_time: WireTime
    # What the cloud holds of the epoch the cabinet named: upload resumes at acked_seq + 1.
    acked_seq: Seq
    acked_hash: Hash
    detail: str = ""
    # On a fork: every epoch the cloud holds for this cabinet, so it can fetch back what it lost.
    epochs: list[EpochHeld] = []


# --- uplink ----------------------------------------------------------------------------------


class WireEvent(WireModel):
    """One ledger event as it travels. The fields that key and chain it are strict (a batch that
    breaks them is refused whole); the rest is checked by the cloud event by event, and an event
    that fails is acknowledged and dead-lettered rather than blocking the queue."""

    event_id: Uuid
    seq: Annotated[int, Field(ge=1, le=2**52), BeforeValidator(_whole_number)]
    epoch: Token
    prev_hash: Hash
    hash: Hash
    type: str
    schema_version: Whole
    occurred_at: str
    mono_ns: Whole
    boot_id: str
    cabinet_id: str
    slot: Whole | None = None
    device: str | None = None
    staff: str | None = None
    payload: dict[str, Any]


class EventBatch(WireModel):
    epoch: Token
    from_seq: Annotated[int, Field(ge=1, le=2**52), BeforeValidator(_whole_number)]
    events: Annotated[list[WireEvent], Field(min_length=1, max_length=MAX_BATCH_EVENTS)]


class Rejection(WireModel):
    event_id: Uuid
    code: str
    detail: str = ""


class BatchReply(WireModel):
    acked_seq: Seq
    duplicates: int
    rejected: list[Rejection] = []


class ErrorReply(WireModel):
    """The body of every refusal the cloud makes on purpose (401, 403, 404, 409, 410, 413)."""

    code: str
    detail: str
    # Set on 409 to an events upload: the seq the cloud expects next in that epoch.
    expected_seq: int | None = None


class HistoryPage(WireModel):
    """Events the cloud holds for a cabinet, fetched back by a cabinet restored from an old copy."""

    epoch: Token
    events: list[WireEvent]
    complete: bool


# --- downlink --------------------------------------------------------------------------------


class Entity(enum.StrEnum):
    """The fleet data a cabinet keeps a replica of."""

    STAFF = "staff"
    WORK_TYPES = "work_types"
    DEVICE_MODELS = "device_models"
    DEVICES = "devices"


class ChangeOp(WireModel):
    entity: Entity
    id: str
    version: Annotated[int, Field(ge=1)]
    op: Literal["upsert", "delete"]
    data: dict[str, Any] | None = None


class ChangesPage(WireModel):
    """Changes after a cursor. A cabinet keeps pages until one says `complete`, checks every
    page's checksum, then applies them all in one transaction: a roster is never half new."""

    ops: list[ChangeOp]
    cursor: Cursor
    complete: bool
    checksum: str


class Snapshot(WireModel):
    """Everything a cabinet replicates, as upserts; swapped in whole when its cursor is too old."""

    ops: list[ChangeOp]
    cursor: Cursor
    checksum: str


def page_checksum(ops: list[ChangeOp], cursor: str) -> str:
    """SHA-256 over the page's ops and cursor in canonical JSON: a page cut short cannot match."""
    body = {"cursor": cursor, "ops": [op.model_dump(mode="json") for op in ops]}
    return hashlib.sha256(canonical_json(body).encode("ascii")).hexdigest()


# --- commands --------------------------------------------------------------------------------


class CommandKind(enum.StrEnum):
    UNLOCK_SLOT = "unlock_slot"
    DISABLE_SLOT = "disable_slot"
    ENABLE_SLOT = "enable_slot"
    POWER_CYCLE_PORT = "power_cycle_port"
    REPROVISION = "reprovision"
    # Cabinet-wide: a signed release of the cabinet's package to download, verify and install at a
    # quiet moment (docs/updates.md). Its outcome arrives as `update_*` ledger events.
    OFFER_UPDATE = "offer_update"


# The arguments each kind takes: name -> type. Checked when a command is queued.
COMMAND_ARGS: Final[dict[CommandKind, dict[str, type]]] = {
    CommandKind.UNLOCK_SLOT: {"slot": int, "reason": str},
    CommandKind.DISABLE_SLOT: {"slot": int, "reason": str},
    CommandKind.ENABLE_SLOT: {"slot": int},
    CommandKind.POWER_CYCLE_PORT: {"slot": int},
    CommandKind.REPROVISION: {"slot": int},
    # release: the cloud's release id; sha256/size: of the .deb; signature: base64 of the detached
    # ed25519 signature over the .deb's bytes; allow_downgrade: only when the operator said so.
    CommandKind.OFFER_UPDATE: {
        "release": str,
        "version": str,
        "sha256": str,
        "size": int,
        "signature": str,
        "allow_downgrade": bool,
    },
}
# Kinds that act on one slot (the dashboard's slot form offers only these).
SLOT_COMMANDS: Final = frozenset(kind for kind, takes in COMMAND_ARGS.items() if "slot" in takes)
REQUIRED_COMMAND_ARGS: Final = frozenset({"slot"})


class Command(WireModel):
    """A remote command for one cabinet. `kind` stays a string on the wire so that a cabinet older
    than the cloud can refuse a kind it does not know instead of failing the whole list."""

    command_id: Uuid
    number: Annotated[int, Field(ge=1)]
    kind: str
    args: dict[str, str | int | bool]
    issued_at: WireTime
    expires_at: WireTime


@dataclass(frozen=True)
class CommandOutcome:
    """What a command came to on the cabinet: the `ok` and `detail` its `command_result` event carries.
    Here, beside `Command`, so that the sync client and the controller share it without importing
    each other."""

    ok: bool
    detail: str = ""
