"""The cabinet as people see it, read from the controller, the drivers, the ledger and the sync client.

One read-only model for every screen: the kiosk renders its slot map, ready counts and session from
it, the control socket its status, slots, ports and sync report. Nothing here changes anything, and
nothing here knows how it is drawn (JSON shapes, the kiosk's document): the values are plain data.
"""

from __future__ import annotations

import platform
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from typing import Any, Final, Literal

from cabinetd import __version__
from cabinetd.controller import Controller
from cabinetd.flows.core import policy_work_type
from cabinetd.hal.base import PartState, UsbIdentity
from cabinetd.ledger import DeviceRow, StoredEvent
from cabinetd.lifecycle import Subsystem
from cabinetd.policy import suits
from cabinetd.release import Release, current
from cabinetd.screen import Screen
from cabinetd.sync.client import SyncStatus
from cabinetproto.enums import SlotState

SLOT_EVENTS_SHOWN: Final = 10
SLOT_EVENTS_SEARCHED: Final = 2000
LIBRARIES: Final = (
    "pydantic", "starlette", "uvicorn", "httpx", "pyusb", "pyserial", "gpiozero", "transitions", "sqlite-utils",
    "tomli-w",
)

Door = Literal["open", "closed", "unknown"]
Lock = Literal["locked", "released", "unknown"]
Power = Literal["on", "off"]


@dataclass(frozen=True)
class Part:
    """A badge reader, RS-485 bus, lock board or USB hub."""

    part: str
    connected: bool
    since: str  # ISO 8601, UTC
    detail: str
    counters: dict[str, int]


@dataclass(frozen=True)
class UsbDevice:
    vendor_id: str  # four hex digits
    product_id: str
    serial: str | None


@dataclass(frozen=True)
class UsbPort:
    slot: int
    port: str
    device: UsbDevice | None
    power: Power  # as last switched by a technician (on at start)


@dataclass(frozen=True)
class SlotSummary:
    slot: int
    slot_type: str
    state: str
    device: str | None
    battery: int | None
    health: str | None
    door: Door
    lock: Lock
    alarms: list[str]


@dataclass(frozen=True)
class SlotDetail(SlotSummary):
    module: str
    model: str | None
    charging: bool | None
    usb: UsbPort
    busy: str | None  # a rent or return under way
    events: list[StoredEvent]  # the slot's last events, oldest first


@dataclass(frozen=True)
class SyncReport:
    configured: bool
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


@dataclass(frozen=True)
class Status:
    cabinet_id: str
    store: str
    version: str
    uptime_s: float
    simulated: bool
    online: bool
    sync: str
    pending_events: int
    last_sync_at: str | None
    clock_skew_s: float | None
    renting_blocked: str | None
    stalled: list[str]
    readers: list[Part]
    boards: list[Part]
    hubs: list[Part]
    slot_counts: dict[str, int]
    slots: list[SlotSummary]


@dataclass(frozen=True)
class Versions:
    cabinetd: str
    python: str
    platform: str
    sqlite: str
    ledger_schema: int
    libraries: dict[str, str]


@dataclass(frozen=True)
class ReadyCount:
    work_type: str
    name: str
    count: int  # devices that could be handed out for this work now
    names: dict[str, str] = field(default_factory=dict)  # language tag → name; {}: only `name`


@dataclass(frozen=True)
class SlotMark:
    """A slot on the kiosk's map: cheap to read (no driver, no ledger), read on every screen change."""

    slot: int
    state: str
    alarms: list[str]
    led: bool  # the slot has an LED that blinks while its door is the one to use


@dataclass(frozen=True)
class Module:
    name: str
    slots: list[int]


@dataclass(frozen=True)
class Held:
    device: str
    due_at: str
    overdue: bool


@dataclass(frozen=True)
class Session:
    """The person at the cabinet; a technician's session (`pin`, `maintenance`) holds no devices."""

    kind: str
    name: str
    work_type: str
    held: list[Held]
    choices: list[str]
    work_type_names: dict[str, str] = field(default_factory=dict)  # language tag → name; {}: only `work_type`


def part(state: PartState) -> Part:
    since = state.since.isoformat(timespec="seconds")
    return Part(state.part, state.connected, since, state.detail, dict(state.counters))


def usb_device(identity: UsbIdentity | None) -> UsbDevice | None:
    if identity is None:
        return None
    return UsbDevice(f"{identity.vendor_id:04x}", f"{identity.product_id:04x}", identity.serial)


class CabinetView:
    def __init__(
        self,
        controller: Controller,
        sync: Callable[[], SyncStatus],
        subsystems: Callable[[], list[Subsystem]],
        *,
        started_at: float,
        simulated: bool,
        software: Callable[[], Release] | None = None,
    ) -> None:
        self.controller = controller
        self.core = controller.core
        self.config = controller.core.config
        self._sync = sync
        self._subsystems = subsystems
        self.started_at = started_at
        self.simulated = simulated
        self._software = software

    @property
    def screen(self) -> Screen:
        return self.core.screen

    # --- slots -------------------------------------------------------------------------------------

    def door(self, slot: int) -> Door:
        is_open = self.core.hardware.doors(slot).is_open(slot)
        return "unknown" if is_open is None else "open" if is_open else "closed"

    def lock(self, slot: int) -> Lock:
        state = self.core.hardware.lock_bank(slot).lock_state(slot).value
        return "locked" if state == "locked" else "released" if state == "released" else "unknown"

    def _devices(self) -> dict[str, DeviceRow]:
        return {row.serial: row for row in self.core.ledger.devices()}

    def _summary_fields(self, number: int, devices: dict[str, DeviceRow]) -> dict[str, Any]:
        slot = self.core.slots[number]
        row = devices.get(slot.device) if slot.device else None
        return {
            "slot": number,
            "slot_type": slot.slot_type,
            "state": slot.state.value,
            "device": slot.device,
            "battery": slot.battery if slot.battery is not None else row.battery if row else None,
            "health": row.health if row else None,
            "door": self.door(number),
            "lock": self.lock(number),
            "alarms": sorted(alarm.value for alarm in slot.alarms),
        }

    def slots(self) -> list[SlotSummary]:
        devices = self._devices()
        return [SlotSummary(**self._summary_fields(number, devices)) for number in sorted(self.core.slots)]

    def slot(self, number: int) -> SlotDetail:
        """One slot in detail (the slot must exist: the caller asks Maintenance.slot first)."""
        devices = self._devices()
        summary = self._summary_fields(number, devices)
        row = devices.get(summary["device"]) if summary["device"] else None
        module = next(m.name for m, s in self.config.slots() if s.number == number)
        mine = [e for e in self.core.ledger.tail(SLOT_EVENTS_SEARCHED) if e.slot == number][-SLOT_EVENTS_SHOWN:]
        return SlotDetail(
            **summary,
            module=module,
            model=row.model if row else None,
            charging=row.charging if row else None,
            usb=self.usb_port(number),
            busy=self.controller.maintenance.busy(number),
            events=mine,
        )

    # --- USB ---------------------------------------------------------------------------------------

    def usb_port(self, slot: int) -> UsbPort:
        port = next(s.usb_port for _, s in self.config.slots() if s.number == slot)
        power: Power = "off" if slot in self.controller.maintenance.switched_off else "on"
        return UsbPort(slot, port, usb_device(self.core.hardware.ports.present(slot)), power)

    def usb_ports(self) -> list[UsbPort]:
        return [self.usb_port(number) for number in sorted(self.core.slots)]

    def hubs(self) -> list[Part]:
        return [part(state) for state in self.core.hardware.ports.parts()]

    # --- the cabinet -------------------------------------------------------------------------------

    def online(self) -> bool:
        return self._sync().online

    def sync(self) -> SyncReport:
        found = self._sync()
        return SyncReport(
            configured=found.state != "disabled",
            state="not configured" if found.state == "disabled" else found.state,
            online=found.online,
            last_success_at=found.last_success_at.isoformat() if found.last_success_at else None,
            pending_events=self.core.ledger.pending_count(),
            last_error=found.last_error,
            clock_skew_s=found.clock_skew_s,
            skew_flagged=found.skew_flagged,
            epoch=found.epoch,
            acked_seq=found.acked_seq,
            dead_lettered=found.dead_lettered,
            batch_limit=found.batch_limit,
        )

    def status(self) -> Status:
        hardware = self.core.hardware
        sync = self.sync()
        now = time.monotonic()
        listed = self.slots()
        counts = Counter(s.state for s in listed)
        return Status(
            cabinet_id=self.config.cabinet.id,
            store=self.config.cabinet.store,
            version=__version__,
            uptime_s=round(now - self.started_at, 1),
            simulated=self.simulated,
            online=sync.online,
            sync=sync.state,
            pending_events=sync.pending_events,
            last_sync_at=sync.last_success_at,
            clock_skew_s=sync.clock_skew_s,
            renting_blocked=self.core.ledger.renting_blocked,
            stalled=[p.name for p in self._subsystems() if p.stalled(now)],
            readers=[part(hardware.reader.state())],
            boards=[part(state) for state in hardware.locks.parts()],
            hubs=self.hubs(),
            slot_counts={state.value: n for state in SlotState if (n := counts[state.value])},
            slots=listed,
        )

    def software(self) -> Release:
        """The installed release, the one the fleet offered and the last update's outcome."""
        return self._software() if self._software is not None else current()

    def versions(self) -> Versions:
        libraries = {}
        for name in LIBRARIES:
            try:
                libraries[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                libraries[name] = "not installed"
        return Versions(
            cabinetd=__version__,
            python=platform.python_version(),
            platform=platform.platform(),
            sqlite=sqlite3.sqlite_version,
            ledger_schema=self.core.ledger.sync_state().schema_version,
            libraries=libraries,
        )

    # --- what the kiosk shows ----------------------------------------------------------------------

    def ready(self) -> list[ReadyCount]:
        views = self.core.slot_views()
        counts = []
        for work_type in self.core.ledger.work_types():
            wanted = policy_work_type(work_type)
            count = sum(1 for view in views if suits(view, wanted))
            counts.append(ReadyCount(work_type.id, work_type.name, count, dict(work_type.names)))
        return counts

    def slot_marks(self) -> list[SlotMark]:
        banks = self.core.hardware.lock_bank
        return [
            SlotMark(number, slot.state.value, sorted(a.value for a in slot.alarms), banks(number).has_led(number))
            for number, slot in sorted(self.core.slots.items())
        ]

    def modules(self) -> list[Module]:
        return [Module(module.name, [slot.number for slot in module.slots]) for module in self.config.modules]

    def session(self) -> Session | None:
        session = self.controller.session
        if session is None:
            return None
        ledger = self.core.ledger
        staff = session.staff
        work_type = ledger.work_type(staff.work_type)
        now = self.core.clock.now()
        rentals = ledger.held_by(staff.staff_id) if session.kind in ("rent", "return") else []
        held = [Held(r.device, r.due_at, datetime.fromisoformat(r.due_at) <= now) for r in rentals]
        name = work_type.name if work_type else staff.work_type
        names = dict(work_type.names) if work_type else {}
        return Session(session.kind, staff.name, name, held, list(session.choices), names)
