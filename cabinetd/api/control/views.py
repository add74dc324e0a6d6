"""What a technician sees of the cabinet, read from the controller, the drivers and the ledger.

Nothing here changes anything; every function builds one of the documented shapes.
"""

from __future__ import annotations

import platform
import sqlite3
import time
from collections import Counter
from importlib import metadata
from typing import TYPE_CHECKING, Final

from cabinetd import __version__
from cabinetd.api.control import shapes
from cabinetd.hal.base import PartState, UsbIdentity
from cabinetd.ledger import DeviceRow, StoredEvent
from cabinetproto.enums import SlotState

if TYPE_CHECKING:
    from cabinetd.cabinet import Cabinet

SLOT_EVENTS_SHOWN: Final = 10
SLOT_EVENTS_SEARCHED: Final = 2000
LIBRARIES: Final = (
    "pydantic", "starlette", "uvicorn", "httpx", "pyusb", "pyserial", "gpiozero", "transitions", "sqlite-utils",
    "tomli-w",
)
FLOW_WORDS: Final = {"dispense": "a rent is under way", "receive": "a return is under way"}


def part(state: PartState) -> shapes.Part:
    return shapes.Part(
        part=state.part,
        connected=state.connected,
        since=state.since.isoformat(timespec="seconds"),
        detail=state.detail,
        counters=dict(state.counters),
    )


def door(cabinet: Cabinet, slot: int) -> shapes.Door:
    is_open = cabinet.hardware.doors(slot).is_open(slot)
    return "unknown" if is_open is None else "open" if is_open else "closed"


def lock(cabinet: Cabinet, slot: int) -> shapes.Lock:
    state = cabinet.hardware.lock_bank(slot).lock_state(slot).value
    return "locked" if state == "locked" else "released" if state == "released" else "unknown"


def busy(cabinet: Cabinet, slot: int) -> str | None:
    flow = cabinet.controller.core.flows.get(slot)
    return None if flow is None else FLOW_WORDS.get(flow.kind, f"a {flow.kind} is under way")


def _devices(cabinet: Cabinet) -> dict[str, DeviceRow]:
    return {row.serial: row for row in cabinet.controller.core.ledger.devices()}


def slot_summary(cabinet: Cabinet, number: int, devices: dict[str, DeviceRow]) -> shapes.SlotSummary:
    slot = cabinet.controller.slots[number]
    row = devices.get(slot.device) if slot.device else None
    return shapes.SlotSummary(
        slot=number,
        slot_type=slot.slot_type,
        state=slot.state.value,
        device=slot.device,
        battery=slot.battery if slot.battery is not None else row.battery if row else None,
        health=row.health if row else None,
        door=door(cabinet, number),
        lock=lock(cabinet, number),
        alarms=sorted(alarm.value for alarm in slot.alarms),
    )


def slots(cabinet: Cabinet) -> list[shapes.SlotSummary]:
    devices = _devices(cabinet)
    return [slot_summary(cabinet, number, devices) for number in sorted(cabinet.controller.slots)]


def usb_device(identity: UsbIdentity | None) -> shapes.UsbDevice | None:
    if identity is None:
        return None
    return shapes.UsbDevice(
        vendor_id=f"{identity.vendor_id:04x}", product_id=f"{identity.product_id:04x}", serial=identity.serial
    )


def usb_port(cabinet: Cabinet, slot: int, switched_off: set[int]) -> shapes.UsbPort:
    port = next(s.usb_port for _, s in cabinet.config.slots() if s.number == slot)
    return shapes.UsbPort(
        slot=slot,
        port=port,
        device=usb_device(cabinet.hardware.ports.present(slot)),
        power="off" if slot in switched_off else "on",
    )


def event(stored: StoredEvent) -> shapes.Event:
    return shapes.Event.model_validate(stored.to_wire())


def slot_detail(cabinet: Cabinet, number: int, switched_off: set[int]) -> shapes.SlotDetail:
    summary = slot_summary(cabinet, number, _devices(cabinet))
    row = _devices(cabinet).get(summary.device) if summary.device else None
    module = next(m.name for m, s in cabinet.config.slots() if s.number == number)
    ledger = cabinet.controller.core.ledger
    mine = [e for e in ledger.tail(SLOT_EVENTS_SEARCHED) if e.slot == number][-SLOT_EVENTS_SHOWN:]
    return shapes.SlotDetail(
        slot=number,
        module=module,
        slot_type=summary.slot_type,
        state=summary.state,
        device=summary.device,
        model=row.model if row else None,
        battery=summary.battery,
        charging=row.charging if row else None,
        health=summary.health,
        door=summary.door,
        lock=summary.lock,
        alarms=summary.alarms,
        usb=usb_port(cabinet, number, switched_off),
        busy=busy(cabinet, number),
        events=[event(e) for e in mine],
    )


def sync_report(cabinet: Cabinet) -> shapes.SyncReport:
    found = cabinet.sync.status()
    return shapes.SyncReport(
        configured=found.state != "disabled",
        state="not configured" if found.state == "disabled" else found.state,
        online=found.online,
        last_success_at=found.last_success_at.isoformat() if found.last_success_at else None,
        pending_events=cabinet.controller.core.ledger.pending_count(),
        last_error=found.last_error,
        clock_skew_s=found.clock_skew_s,
        skew_flagged=found.skew_flagged,
        epoch=found.epoch,
        acked_seq=found.acked_seq,
        dead_lettered=found.dead_lettered,
        batch_limit=found.batch_limit,
    )


def status(cabinet: Cabinet) -> shapes.Status:
    hardware = cabinet.hardware
    sync = sync_report(cabinet)
    ledger = cabinet.controller.core.ledger
    now = time.monotonic()
    listed = slots(cabinet)
    counts = Counter(s.state for s in listed)
    return shapes.Status(
        cabinet_id=cabinet.config.cabinet.id,
        store=cabinet.config.cabinet.store,
        version=__version__,
        uptime_s=round(now - cabinet.started_at, 1),
        simulated=cabinet.sim is not None,
        online=sync.online,
        sync=sync.state,
        pending_events=sync.pending_events,
        last_sync_at=sync.last_success_at,
        clock_skew_s=sync.clock_skew_s,
        renting_blocked=ledger.renting_blocked,
        stalled=[p.name for p in cabinet.subsystems if p.stalled(now)],
        readers=[part(hardware.reader.state())],
        boards=[part(state) for state in hardware.locks.parts()],
        hubs=[part(state) for state in hardware.ports.parts()],
        slot_counts={state.value: n for state in SlotState if (n := counts[state.value])},
        slots=listed,
    )


def versions(cabinet: Cabinet) -> shapes.Versions:
    libraries = {}
    for name in LIBRARIES:
        try:
            libraries[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            libraries[name] = "not installed"
    return shapes.Versions(
        cabinetd=__version__,
        python=platform.python_version(),
        platform=platform.platform(),
        sqlite=sqlite3.sqlite_version,
        ledger_schema=cabinet.controller.core.ledger.sync_state().schema_version,
        libraries=libraries,
    )
