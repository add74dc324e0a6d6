"""Messages of the device agent protocol (docs/device-protocol.md): the JSON inside each frame.

The cabinet sends requests `{"v", "id", "type", "args"}`; the agent answers each with replies
`{"v", "id", "type", "status", ...}`: any number of `working` replies (long requests only), then one
`ok` reply carrying `result` or one `error` reply carrying `error`. Replies are read leniently (fields
the cabinet does not know are ignored, so agents can grow) but every field the cabinet uses is checked.

Payload errors are `FrameError`s whose offset counts from the start of the frame (PAYLOAD_AT + the
position in the JSON text), so they read like the codec's.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cabinetd.hal.agentframe import PAYLOAD_AT, VERSION
from cabinetd.hal.errors import FrameError

RequestType = Literal["hello", "selftest", "provision", "usage", "end_session"]
REQUEST_TYPES: Final[tuple[RequestType, ...]] = ("hello", "selftest", "provision", "usage", "end_session")
MAX_REQUEST_ID: Final = 2**32 - 1
# The checks a complete self-test reports; a check the agent leaves out counts as failed.
SELFTEST_CHECKS: Final = ("battery_health", "touchscreen", "scanner", "camera", "wifi", "storage", "drop_counter")
ERROR_CODES: Final = ("bad_request", "unknown_type", "unsupported_version", "busy", "install_failed", "internal")

Uint32 = Annotated[int, Field(ge=0, le=MAX_REQUEST_ID)]
Count = Annotated[int, Field(ge=0)]
Minutes = Annotated[float, Field(ge=0)]
Percent = Annotated[int, Field(ge=0, le=100)]
PackageName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$", max_length=255)]
BatteryHealth = Literal["good", "overheat", "dead", "over_voltage", "failure", "cold", "unknown"]
Measurement = bool | int | float | str


class Message(BaseModel):
    # Strict enough to catch a broken agent, lenient about fields a newer agent adds.
    model_config = ConfigDict(frozen=True, extra="ignore")


# --- requests -------------------------------------------------------------------------------------


class AppPackage(Message):
    """One app of a work type: the agent installs `url` (checked against `sha256`) when it lacks it.
    `url` is None for an app the fleet serves only to cabinets: the adb link installs it from the
    cabinet's package cache by sha256; the agent link refuses to provision without one."""

    package: PackageName
    version_code: Annotated[int, Field(ge=1)]
    url: Annotated[str, Field(pattern=r"^https://", max_length=2048)] | None = None
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class ProvisionArgs(Message):
    work_type: Annotated[str, Field(min_length=1, max_length=64)]
    home_app: PackageName
    apps: Annotated[list[AppPackage], Field(min_length=1, max_length=64)]

    @model_validator(mode="after")
    def _home_app_is_listed(self) -> ProvisionArgs:
        if self.home_app not in {app.package for app in self.apps}:
            raise ValueError(f"home_app {self.home_app!r} is not one of the apps")
        return self


class UsageArgs(Message):
    since_ms: Annotated[int, Field(ge=0)]


class Request(Message):
    v: int = VERSION
    id: Uint32
    type: RequestType
    args: dict[str, Any] = {}


# --- results --------------------------------------------------------------------------------------


class Hello(Message):
    """Who the device is and how its battery and storage are."""

    serial: Annotated[str, Field(min_length=1, max_length=64)]
    model: str
    manufacturer: str = ""
    os_version: str
    sdk_int: Annotated[int, Field(ge=1)]
    # The agent's; a stock device over adb has none (the agent link refuses a hello without them).
    agent_version: str = ""
    protocol_versions: list[int] = []
    battery_percent: Percent
    battery_health: BatteryHealth
    charging: bool
    storage_free_bytes: Count
    work_type: str | None = None  # the work type last provisioned (its apps stay after end_session)
    # What a stock device adds over adb (docs/device-adb.md); an agent may leave them out.
    fingerprint: str = ""
    battery_temperature_c: float | None = None
    charge_counter_uah: int | None = None


class SelftestCheck(Message):
    name: str
    passed: bool
    evidence: str
    measurements: dict[str, Measurement] = {}


class SelftestReport(Message):
    # The checks a complete report of this kind holds; another link's report (hal/adbchecks.py) has its own.
    required: ClassVar[tuple[str, ...]] = SELFTEST_CHECKS

    checks: list[SelftestCheck]

    def failed(self) -> list[str]:
        """Checks that failed or were not reported, in the required order then the extras."""
        by_name = {check.name: check for check in self.checks}
        missing = [name for name in self.required if name not in by_name]
        failing = [check.name for check in self.checks if not check.passed]
        ordered = [name for name in self.required if name in failing or name in missing]
        return ordered + [name for name in failing if name not in self.required]

    @property
    def passed(self) -> bool:
        return not self.failed()


AppAction = Literal["installed", "updated", "enabled", "unchanged"]


class AppOutcome(Message):
    package: PackageName
    version_code: Annotated[int, Field(ge=1)]
    action: AppAction


class ProvisionReport(Message):
    work_type: str
    home_app: PackageName
    apps: list[AppOutcome]
    disabled: list[PackageName] = []
    launched: bool

    def changed(self) -> list[str]:
        """Packages the request changed; empty when the device was already provisioned so."""
        return [app.package for app in self.apps if app.action != "unchanged"] + list(self.disabled)


class AppUsage(Message):
    package: PackageName
    minutes: Minutes
    launches: Count = 0  # times it came to the foreground; an agent may leave it out


class UsageReport(Message):
    since_ms: Annotated[int, Field(ge=0)]
    until_ms: Annotated[int, Field(ge=0)]
    apps: list[AppUsage]
    scans: Count
    screen_on_minutes: Minutes
    battery_drain_percent: Count  # percentage points spent while discharging; can exceed 100 over a long rental
    drops: Count


class SessionEnded(Message):
    signed_out: bool
    cleared: list[PackageName] = []


ResultT = TypeVar("ResultT", bound=Message)

RESULTS: Final[dict[str, type[Message]]] = {
    "hello": Hello,
    "selftest": SelftestReport,
    "provision": ProvisionReport,
    "usage": UsageReport,
    "end_session": SessionEnded,
}


# --- replies --------------------------------------------------------------------------------------


class AgentError(Message):
    code: str  # one of ERROR_CODES; an unknown code is kept, the cabinet treats it as "internal"
    message: str = ""
    package: str | None = None  # which app, for install_failed


class Progress(Message):
    done: Count = 0
    total: Count = 0
    step: str = ""


class Reply(Message):
    v: int
    id: Uint32
    type: str
    status: Literal["ok", "error", "working"]
    result: dict[str, Any] | None = None
    error: AgentError | None = None
    progress: Progress | None = None

    @model_validator(mode="after")
    def _carries_what_status_says(self) -> Reply:
        if self.status == "ok" and self.result is None:
            raise ValueError("an ok reply needs a result")
        if self.status == "error" and self.error is None:
            raise ValueError("an error reply needs an error")
        return self


def since_ms(when: datetime) -> int:
    """A time as the protocol carries it: milliseconds since the Unix epoch, UTC."""
    if when.tzinfo is None:
        raise ValueError("a naive datetime has no place on the wire; give it a timezone")
    return int(when.timestamp() * 1000)


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def encode_message(message: Message) -> bytes:
    """Compact JSON, UTF-8, fields in declaration order, absent rather than null (as the document shows)."""
    return json.dumps(
        message.model_dump(mode="json", exclude_none=True), separators=(",", ":"), ensure_ascii=False
    ).encode()


def _load_object(payload: bytes) -> dict[str, Any]:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FrameError(PAYLOAD_AT + error.start, "not UTF-8") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        offset = PAYLOAD_AT + len(text[: error.pos].encode())
        raise FrameError(offset, f"not JSON: {error.msg}") from None
    except RecursionError:
        raise FrameError(PAYLOAD_AT, "JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise FrameError(PAYLOAD_AT, f"expected a JSON object, got {type(data).__name__}")
    return data


def _validation_text(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "message"
    return f"{where}: {first['msg']}"


def decode_request(payload: bytes) -> Request:
    """The agent's side (the simulated handheld); FrameError from PAYLOAD_AT on."""
    try:
        return Request.model_validate(_load_object(payload))
    except ValidationError as error:
        raise FrameError(PAYLOAD_AT, f"not a request: {_validation_text(error)}") from None


def decode_reply(payload: bytes) -> Reply:
    """The envelope of one reply; the result inside is checked by `decode_result`."""
    try:
        return Reply.model_validate(_load_object(payload))
    except ValidationError as error:
        raise FrameError(PAYLOAD_AT, f"not a reply: {_validation_text(error)}") from None


def decode_result(kind: type[ResultT], reply: Reply) -> ResultT:
    """The result of an ok reply as the model of its request; ValueError naming the bad field."""
    try:
        return kind.model_validate(reply.result or {})
    except ValidationError as error:
        raise ValueError(f"result.{_validation_text(error)}") from None
