"""The JSON every control endpoint answers with, and so what `cabinetctl --json` prints.

One place for the shapes: the daemon builds its answers from these models, the tests validate the
command line's output against them, and docs/cabinetctl.md carries the tables `describe()` makes
from them (a test keeps the two equal).
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from cabinetd.api.control import shapedocs
from cabinetproto.enums import Alarm

Door = Literal["open", "closed", "unknown"]
Lock = Literal["locked", "released", "unknown"]
Power = Literal["on", "off"]
ALARMS: Final = ", ".join(alarm.value for alarm in Alarm)
STATES: Final = "empty, charging, ready, dispensing, receiving, inspecting, faulty or disabled"


class Shape(BaseModel):
    """A documented answer: no field beyond those written here."""

    model_config = ConfigDict(extra="forbid")


class Part(Shape):
    """A badge reader, RS-485 bus, lock board or USB hub."""

    part: Annotated[str, Field(description="its name, e.g. `lockboard/lockbus/0`")]
    connected: bool
    since: Annotated[str, Field(description="when it last connected or went away (ISO 8601, UTC)")]
    detail: Annotated[str, Field(description="what the driver last said about it")]
    counters: Annotated[dict[str, int], Field(description="frames, retries, faults ... since the start")]


class SlotSummary(Shape):
    slot: int
    slot_type: str
    state: Annotated[str, Field(description=STATES)]
    device: Annotated[str | None, Field(description="serial of the device the slot holds")]
    battery: Annotated[int | None, Field(description="percent, as last reported by the device")]
    health: Annotated[str | None, Field(description="device health as the ledger has it")]
    door: Door
    lock: Lock
    alarms: Annotated[list[str], Field(description=ALARMS)]


class Status(Shape):
    cabinet_id: str
    store: str
    version: Annotated[str, Field(description="cabinetd's version")]
    uptime_s: float
    simulated: Annotated[bool, Field(description="true for the simulated cabinet")]
    online: Annotated[bool, Field(description="the cloud answered the last sync request")]
    sync: Annotated[str, Field(description="not configured, starting, online, offline, fork, upgrade_required")]
    pending_events: Annotated[int, Field(description="events the cloud has not acknowledged")]
    last_sync_at: Annotated[str | None, Field(description="last successful sync (ISO 8601, UTC)")]
    clock_skew_s: Annotated[float | None, Field(description="cabinet clock minus cloud clock")]
    renting_blocked: Annotated[str | None, Field(description="why renting is refused (a ledger incident)")]
    stalled: Annotated[list[str], Field(description="subsystems that stopped ticking")]
    readers: list[Part]
    boards: Annotated[list[Part], Field(description="RS-485 buses and lock boards")]
    hubs: Annotated[list[Part], Field(description="USB hubs of the slot ports")]
    slot_counts: Annotated[dict[str, int], Field(description="slots per state")]
    slots: list[SlotSummary]


class SlotList(Shape):
    slots: list[SlotSummary]


class Event(Shape):
    """A ledger event as stored (docs/ledger.md)."""

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
    payload: dict[str, JsonValue]
    prev_hash: str
    hash: str


class UsbDevice(Shape):
    vendor_id: Annotated[str, Field(description="four hex digits")]
    product_id: Annotated[str, Field(description="four hex digits")]
    serial: str | None


class UsbPort(Shape):
    slot: int
    port: Annotated[str, Field(description="USB port path, e.g. `1-1.4`")]
    device: UsbDevice | None
    power: Annotated[Power, Field(description="as last switched through the control socket (on at start)")]


class SlotDetail(Shape):
    slot: int
    module: str
    slot_type: str
    state: str
    device: str | None
    model: str | None
    battery: int | None
    charging: bool | None
    health: str | None
    door: Door
    lock: Lock
    alarms: list[str]
    usb: UsbPort
    busy: Annotated[str | None, Field(description="a rent or return under way at the slot")]
    events: Annotated[list[Event], Field(description="the slot's last events, oldest first")]


class ActionDone(Shape):
    slot: int
    action: Literal["open", "disable", "enable"]
    technician: Annotated[str, Field(description="login name of the user who asked")]
    state: Annotated[str, Field(description="the slot's state afterwards")]


class ReportCleared(Shape):
    device: str
    slot: Annotated[int | None, Field(description="the slot holding the device, if any")]
    technician: Annotated[str, Field(description="login name of the user who asked")]
    state: Annotated[str | None, Field(description="that slot's state afterwards")]


class LockTest(Shape):
    slot: int
    door_opened: Annotated[bool, Field(description="the door sensor saw the door open after the pulse")]
    waited_s: float
    door: Door
    lock: Lock
    technician: str


class BadgeRead(Shape):
    seq: int
    at: str
    badge: Annotated[str, Field(description="masked but for the last four characters")]
    reader: str
    staff: Annotated[str | None, Field(description="staff id when the badge is on the roster")]
    name: str | None
    role: str | None


class BadgeReads(Shape):
    last: Annotated[int, Field(description="seq of the newest read; ask for reads after it")]
    reads: list[BadgeRead]


class UsbList(Shape):
    ports: list[UsbPort]
    hubs: list[Part]


class UsbPower(Shape):
    slot: int
    power: Literal["on", "off", "cycle"]
    device: Annotated[
        UsbDevice | None,
        Field(description="after a cycle: what came back; after on or off: as last seen (a device takes seconds)"),
    ]
    technician: str


class DeviceInfo(Shape):
    slot: int
    serial: str
    model: str
    manufacturer: str
    os_version: str
    sdk_int: int
    agent_version: str
    protocol_versions: list[int]
    battery_percent: int
    battery_health: str
    charging: bool
    storage_free_bytes: int
    work_type: Annotated[str | None, Field(description="the work type the device is provisioned for")]
    fingerprint: Annotated[str, Field(description="the build fingerprint (adb link)")] = ""
    battery_temperature_c: Annotated[float | None, Field(description="adb link")] = None
    charge_counter_uah: Annotated[int | None, Field(description="adb link, where the device has a fuel gauge")] = None
    health: Annotated[str | None, Field(description="from the ledger")]
    last_rented_at: Annotated[str | None, Field(description="from the ledger")]


class SelftestCheck(Shape):
    name: str
    passed: bool
    evidence: str
    measurements: dict[str, JsonValue]


class Selftest(Shape):
    slot: int
    device: str | None
    passed: bool
    checks: list[SelftestCheck]
    technician: str


class EventList(Shape):
    epoch: Annotated[str, Field(description="the ledger's current epoch")]
    events: list[Event]


class LedgerVerify(Shape):
    ok: bool
    events: Annotated[int, Field(description="events checked")]
    epoch: Annotated[str | None, Field(description="where the chain is broken")]
    seq: int | None
    reason: str | None
    summary: Annotated[str, Field(description="one line, as `ledger verify` prints it")]


class SyncReport(Shape):
    configured: Annotated[bool, Field(description="false without `cloud.url`")]
    state: str
    online: bool
    last_success_at: str | None
    pending_events: int
    last_error: str | None
    clock_skew_s: float | None
    skew_flagged: bool
    epoch: str | None
    acked_seq: int
    dead_lettered: int
    batch_limit: int


class ConfigShow(Shape):
    config: Annotated[dict[str, JsonValue], Field(description="the merged configuration, secrets redacted")]


class LogRecord(Shape):
    ts: str
    level: str
    logger: str
    msg: str
    exc: str | None


class LogList(Shape):
    capacity: Annotated[int, Field(description="records the daemon keeps in memory")]
    records: list[LogRecord]


class Versions(Shape):
    cabinetd: str
    python: str
    platform: str
    sqlite: str
    ledger_schema: int
    libraries: dict[str, str]


class OfferedRelease(Shape):
    release: str
    version: str
    stage: Annotated[str, Field(description="downloading, downloaded, installing, installed, rolled_back, refused")]
    at: str
    waiting_for: Annotated[str | None, Field(description="why a downloaded release is not installed yet")]


class LastUpdate(Shape):
    release: str
    version: str
    outcome: Annotated[str, Field(description="installed, rolled_back or refused")]
    detail: str
    at: str


class Software(Shape):
    """`GET /update`: the release installed, the one the fleet offered last, the last update's outcome."""

    installed: str
    source: str
    offered: OfferedRelease | None
    last_update: LastUpdate | None


class Problem(Shape):
    """Any refusal or failure (HTTP 4xx/5xx); `cabinetctl` prints `error` on stderr."""

    error: str


class ExportDone(Shape):
    """Made by `cabinetctl` itself."""

    file: str
    since: str
    events: int


class BundleDone(Shape):
    """Made by `cabinetctl` itself."""

    file: str
    bytes: int
    members: list[str]


class PackageHeld(Shape):
    """null for a file that is what its name says, but not an APK the cache can read."""

    package: str | None
    version_code: int | None
    version_name: Annotated[str | None, Field(description="as the APK's manifest says")]
    size: Annotated[int, Field(description="bytes")]
    sha256: str
    signer_sha256: Annotated[str | None, Field(description="sha256 of the APK's signing certificate")]
    work_types: Annotated[list[str], Field(description="the work types that need it; none: removed at the next look")]


class PackageLacking(Shape):
    package: str
    version: Annotated[str, Field(description="as the work type names it")]
    version_code: int | None
    sha256: str
    work_types: list[str]
    refused: Annotated[str | None, Field(description="the last refusal's reason; null: never refused")]
    detail: Annotated[str, Field(description="what the last failed try said")]
    failed_at: Annotated[str | None, Field(description="when (ISO 8601, UTC)")]
    retry_in_s: Annotated[float | None, Field(description="the wait before the next try; null: not tried yet")]


class PackageReport(Shape):
    directory: Annotated[str, Field(description="`adb.packages`")]
    downloads: Annotated[bool, Field(description="false without `cloud.url`: nothing is downloaded")]
    held: list[PackageHeld]
    lacking: Annotated[list[PackageLacking], Field(description="needed by a work type, not held")]
    downloading: Annotated[str | None, Field(description="sha256 of the package being downloaded")]
    last_error: Annotated[str | None, Field(description="why the cache cannot do its work at all")]


# What each command prints with --json. `badge watch` and `ledger tail -f` print one JSON object a line.
COMMANDS: Final[dict[str, type[Shape]]] = {
    "status": Status,
    "slots": SlotList,
    "slot N": SlotDetail,
    "slot open, disable, enable": ActionDone,
    "lock test": LockTest,
    "badge watch": BadgeRead,
    "usb list": UsbList,
    "usb power": UsbPower,
    "device info": DeviceInfo,
    "selftest": Selftest,
    "ledger tail": EventList,
    "ledger tail -f": Event,
    "ledger verify": LedgerVerify,
    "ledger export": ExportDone,
    "sync status, sync now": SyncReport,
    "packages": PackageReport,
    "config show": ConfigShow,
    "diag bundle": BundleDone,
}


def describe() -> str:
    """The JSON OUTPUT section of docs/cabinetctl.md: which shape each command prints, then each shape."""
    return shapedocs.describe(COMMANDS, Problem)
