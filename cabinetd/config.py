"""The cabinet's configuration: typed models (pydantic v2) and the checks that span fields.

Loading and layering the TOML files lives in `configfile.py`; this module only says what a valid
cabinet looks like. Every error carries the key path of the value it is about, so that the loader can
name the file that set it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, StrictBool, StrictFloat, StrictInt
from pydantic_core import PydanticCustomError

from cabinetd.openinghours import HoursError, OpeningHours

KeyPath = tuple[str | int, ...]


def between(lo: float, hi: float) -> AfterValidator:
    """A range check whose message says both ends, as a person writing the file needs."""

    def check(value: float) -> float:
        if not lo <= value <= hi:
            raise PydanticCustomError(
                "range", "must be between {lo} and {hi}, got {got}", {"lo": lo, "hi": hi, "got": value}
            )
        return value

    return AfterValidator(check)


Seconds = Annotated[StrictFloat, between(0.001, 3600)]
GpioPin = Annotated[StrictInt, between(0, 27)]  # BCM numbering on the 40-pin header
Level = Literal["high", "low"]

_USB_PATH = re.compile(r"^[1-9][0-9]*-[1-9][0-9]*(\.[1-9][0-9]*)*$")


def _usb_port_path(value: str) -> str:
    if not _USB_PATH.match(value):
        raise PydanticCustomError(
            "usb_path",
            "must be a USB port path like '1-1.4' (bus-port[.port...]), got {got}",
            {"got": repr(value)},
        )
    return value


UsbPortPath = Annotated[str, AfterValidator(_usb_port_path)]


class Section(BaseModel):
    """Every section refuses keys it does not know: a typo must stop the daemon, not pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CabinetSection(Section):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    store: Annotated[str, Field(min_length=1, max_length=64)]
    state_dir: Path = Path("/var/lib/cabinetd")


class ApiSection(Section):
    host: str = "127.0.0.1"
    port: Annotated[StrictInt, between(1, 65535)] = 8080
    control_socket: Path = Path("/run/cabinetd/control.sock")


class CloudSection(Section):
    url: HttpUrl | None = None
    token_file: Path = Path("/var/lib/cabinetd/cloud.token")
    ca_bundle: Path | None = None


class TimeoutsSection(Section):
    door_open_s: Seconds = 20.0
    door_left_open_s: Seconds = 60.0
    board_reply_ms: Annotated[StrictFloat, between(1, 1000)] = 25.0  # RS-485: silence that ends a reply
    board_first_byte_ms: Annotated[StrictFloat, between(1, 5000)] = 100.0  # RS-485: a board starts answering
    board_turnaround_ms: Annotated[StrictFloat, between(0, 1000)] = 5.0  # RS-485: quiet line before a request
    board_retries: Annotated[StrictInt, between(0, 10)] = 3
    board_repoll_s: Seconds = 2.0
    reader_reopen_s: Seconds = 2.0
    badge_repeat_s: Seconds = 2.0
    device_request_s: Seconds = 10.0
    shutdown_s: Seconds = 5.0
    # A slot dispensing, receiving or inspecting for longer is stuck: a fault, and no watchdog ping.
    transient_state_s: Seconds = 600.0


class KioskSection(Section):
    """The touchscreen: how it speaks to the people at the cabinet."""

    language: Literal["zh-CN", "en"] = "zh-CN"  # every person starts in it; the page's catalogues
    sound: StrictBool = True  # a short tone on unlock and on refusal
    help_contact: Annotated[str, Field(max_length=120)] = ""  # the store's contact in the Help corner
    # A person who holds a device is asked first ("My devices") instead of a return slot opening at once.
    ask_before_return: StrictBool = False


def _opening_hours(value: str) -> str:
    try:
        OpeningHours.parse(value)
    except HoursError as exc:
        raise PydanticCustomError("opening_hours", "{why}", {"why": str(exc)}) from None
    return value


class UpdatesSection(Section):
    """Signed updates from the fleet (docs/updates.md). The update helper (cabinetd-update, root;
    docs/packaging.md "The update helper") reads `directory`, `release_key` and `healthy_within_s` too."""

    enabled: StrictBool = True
    directory: Path = Path("/var/lib/cabinetd/updates")
    release_key: Path = Path("/usr/share/cabinetd/release-key.pub")
    # Installs wait for a moment outside these hours (the cabinet's local time); unset: any quiet moment.
    opening_hours: Annotated[str, AfterValidator(_opening_hours)] | None = None
    healthy_within_s: Annotated[StrictInt, between(10, 3600)] = 120


class LogSection(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"


class HalSection(Section):
    type: Literal["hardware", "sim"] = "hardware"


class BusSection(Section):
    """One RS-485 bus shared by lock boards of the same protocol."""

    port: str
    baudrate: Annotated[StrictInt, between(1200, 115200)] | None = None  # the protocol's own speed when unset
    low_latency: StrictBool = True  # ask the serial driver not to hold received bytes (ASYNC_LOW_LATENCY)


class BadgeReaderSection(Section):
    type: Literal["serial-line", "rdm6300"] = "rdm6300"
    port: str = "/dev/cabinet-badge"
    baudrate: Annotated[StrictInt, between(1200, 115200)] = 9600
    strip_prefix: str = ""
    strip_suffix: str = ""
    number_format: Literal["hex", "decimal", "wiegand26"] = "hex"
    # The one id per card the cabinet uses (cabinetproto.badges): printed decimal, hex, or facility,card.
    id_form: Literal["decimal", "hex8", "hex10", "wiegand26"] = "decimal"


class UsbSimSection(Section):
    """Only read with hal.type = "sim": which hubs the simulated bus has, how it reports plug events."""

    hubs: Literal["per-port", "usb3", "ganged", "no-switching"] = "per-port"
    plug_events: Literal["udev", "poll"] = "poll"


class UsbSection(Section):
    type: Literal["pyusb"] = "pyusb"
    poll_s: Annotated[StrictFloat, between(0.05, 5)] = 0.25  # without udev (or with plug_events = "poll")
    sim: UsbSimSection = UsbSimSection()


class AdbSection(Section):
    """The adb server the `adb` device link talks to (docs/device-adb.md), and where its APKs are."""

    host: str = "127.0.0.1"
    port: Annotated[StrictInt, between(1, 65535)] = 5037
    packages: Path = Path("/var/lib/cabinetd/packages")  # APKs by sha256 (docs/device-adb.md, "Packages")


class HeadwindSection(Section):
    """A Headwind MDM server (docs/device-mdm.md): where it is, the cabinet's API user, and which of its
    configurations each work type's devices are moved into. The password is in a file of its own, kept
    out of the configuration that technicians read."""

    url: HttpUrl
    login: Annotated[str, Field(min_length=1, max_length=128)]
    password_file: Path
    # With the MDM unreachable or refusing: `fallback` provisions from the cabinet's own package cache
    # over the local link; `refuse` hands the device out to no one and records why.
    policy: Literal["fallback", "refuse"] = "fallback"
    timeout_s: Annotated[StrictFloat, between(0.5, 60)] = 10.0
    configurations: dict[str, Annotated[str, Field(min_length=1, max_length=128)]] = {}


class MdmSection(Section):
    """The fleet's MDM adapters, by the name a device model's link gives (`mdm:headwind+adb`)."""

    headwind: HeadwindSection | None = None


class GpioModuleLock(Section):
    driver: Literal["gpio"]
    active_level: Level = "high"
    pulse_ms: Annotated[StrictInt, between(50, 5000)] = 500


ReplyMs = Annotated[StrictFloat, between(1, 5000)]


class BoardTiming(Section):
    """What an RS-485 lock board's unlock takes; unset reply windows are `timeouts.board_first_byte_ms`."""

    pulse_ms: Annotated[StrictInt, between(50, 5000)] = 500  # the board's own unlock pulse
    unlock_reply_ms: ReplyMs | None = None
    status_reply_ms: ReplyMs | None = None


class KerongModuleLock(BoardTiming):
    driver: Literal["kerong"]
    bus: str
    board: Annotated[StrictInt, between(0, 15)]
    unlocked_bit: Literal[0, 1] = 0  # board revisions differ in the polarity of the lock feedback bit
    poll: Literal["board", "bus"] = "board"  # 0x30 to this board, or one bus-wide 0x32 answered by 0x36
    bus_address: Literal["F0", "00"] = "F0"  # where the bus-wide 0x32 goes


class Board8aModuleLock(BoardTiming):
    driver: Literal["board8a"]
    bus: str
    board: Annotated[StrictInt, between(1, 255)]
    channels: Annotated[StrictInt, between(1, 48)] = 24
    door_feedback: Literal["door_closing", "door_opening"] = "door_closing"  # door_closing: 1 means shut
    unlock_reply_ms: ReplyMs | None = 1500.0


ModuleLock = Annotated[GpioModuleLock | KerongModuleLock | Board8aModuleLock, Field(discriminator="driver")]

# Channels a board of each kind drives; an address past them is a wiring error.
BOARD_CHANNELS: dict[str, int] = {"kerong": 16}


class SlotLock(Section):
    pin: GpioPin | None = None
    channel: Annotated[StrictInt, between(1, 48)] | None = None


class SlotDoor(Section):
    """A reed switch on a GPIO pin, or the lock board's feedback bit for the slot's own channel."""

    pin: GpioPin | None = None
    closed_level: Level = "low"
    board_feedback: StrictBool = False


class SlotSection(Section):
    number: Annotated[StrictInt, between(1, 999)]
    slot_type: str | None = None
    lock: SlotLock
    door: SlotDoor
    usb_port: UsbPortPath
    led_pin: GpioPin | None = None


class ModuleSection(Section):
    name: Annotated[str, Field(min_length=1, max_length=32)]
    slot_type: Annotated[str, Field(min_length=1, max_length=32)]
    lock: ModuleLock
    slots: Annotated[list[SlotSection], Field(min_length=1)]


class SimBoardSection(Section):
    """How a simulated board behaves (hal.type = "sim"): the variants that field boards show."""

    answers_unlock: StrictBool = True  # False: a kerong board that never answers 0x31
    unlock_reply_ms: Annotated[StrictFloat, between(0, 5000)] = 0.0  # an 8A board's late unlock reply
    state_bytes: Annotated[StrictInt, between(1, 6)] | None = None  # an 8A board's status bytes


class SimBusSection(Section):
    adapter_delay_ms: Annotated[StrictFloat, between(0, 100)] = 0.0  # a USB adapter holding bytes


class SimSection(Section):
    modules: dict[str, SimBoardSection] = {}  # by module name
    buses: dict[str, SimBusSection] = {}  # by bus name


class CabinetConfig(Section):
    cabinet: CabinetSection
    api: ApiSection = ApiSection()
    cloud: CloudSection = CloudSection()
    timeouts: TimeoutsSection = TimeoutsSection()
    kiosk: KioskSection = KioskSection()
    updates: UpdatesSection = UpdatesSection()
    log: LogSection = LogSection()
    hal: HalSection = HalSection()
    buses: dict[str, BusSection] = {}
    badge_reader: BadgeReaderSection = BadgeReaderSection()
    usb: UsbSection = UsbSection()
    adb: AdbSection = AdbSection()
    mdm: MdmSection = MdmSection()
    sim: SimSection = SimSection()
    modules: Annotated[list[ModuleSection], Field(min_length=1)]

    def slots(self) -> Iterator[tuple[ModuleSection, SlotSection]]:
        for module in self.modules:
            for slot in module.slots:
                yield module, slot

    def slot_type(self, number: int) -> str:
        for module, slot in self.slots():
            if slot.number == number:
                return slot.slot_type or module.slot_type
        raise KeyError(number)


# Union tags that pydantic puts into error locations; they are not keys a person wrote.
UNION_TAGS: frozenset[str] = frozenset({"gpio", "kerong", "board8a"})


def path_text(path: KeyPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
