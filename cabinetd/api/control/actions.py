"""What a technician may do through the control socket, each recorded as a `technician_action` event.

Opening, disabling and enabling a slot go through `Controller.technician` (the same path the cloud's
commands take). The rest, which do not move a slot's state machine, are recorded through the
controller's one write path (`core.commit`), so a state change pending from the machines is written
with them. A slot with a rent or return under way is left alone: its flow owns the door and the port.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from cabinetd.api.control import shapes, views
from cabinetd.hal.agentprotocol import SELFTEST_CHECKS
from cabinetd.hal.errors import HardwareError
from cabinetd.ledger import NewEvent

if TYPE_CHECKING:
    from cabinetd.cabinet import Cabinet

log = logging.getLogger(__name__)

DOOR_POLL_S: Final = 0.05


class Refused(Exception):
    """The request cannot be done; `status` is the HTTP answer (404 no such slot, 409 not now, 502 the
    hardware failed), the message one line for the technician."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Technician:
    """Who asked, as the kernel told us (SO_PEERCRED)."""

    name: str
    uid: int


@dataclass
class Desk:
    """The technician's side of the cabinet: the cabinet itself and what the control socket changed."""

    cabinet: Cabinet
    switched_off: set[int] = field(default_factory=set)  # slot ports powered off through the socket

    def slot(self, number: int) -> int:
        if number not in self.cabinet.controller.slots:
            known = ", ".join(str(n) for n in sorted(self.cabinet.controller.slots))
            raise Refused(404, f"no slot {number} (slots: {known})")
        return number

    def idle(self, number: int) -> int:
        self.slot(number)
        busy = views.busy(self.cabinet, number)
        if busy is not None:
            raise Refused(409, f"slot {number} is busy: {busy}")
        return number

    def record(self, action: str, slot: int | None, who: Technician, **args: Any) -> None:
        core = self.cabinet.controller.core
        device = core.slots[slot].device if slot is not None else None
        payload = {"action": action, "args": {**args, "uid": who.uid}, "technician": who.name}
        core.commit(NewEvent("technician_action", payload, slot, device))


async def slot_action(desk: Desk, action: str, number: int, who: Technician, reason: str) -> shapes.ActionDone:
    if action == "open":
        desk.idle(number)
    else:
        desk.slot(number)
    args: dict[str, Any] = {"uid": who.uid}
    if reason:
        args["reason"] = reason
    controller = desk.cabinet.controller
    try:
        refused = await controller.technician(action, number, who.name, **args)
    except HardwareError as exc:
        raise Refused(502, str(exc)) from None
    if refused is not None:
        raise Refused(409, refused)
    log.info("slot %d: %s by %s (uid %d): %s", number, action, who.name, who.uid, reason or "no reason given")
    state = controller.slots[number].state.value
    return shapes.ActionDone(slot=number, action=action, technician=who.name, state=state)


async def lock_test(desk: Desk, number: int, who: Technician, wait_s: float) -> shapes.LockTest:
    """Pulse the lock, then watch the door sensor for `wait_s`: did the door open?"""
    cabinet = desk.cabinet
    desk.idle(number)
    if views.door(cabinet, number) == "open":
        raise Refused(409, f"slot {number}: the door is already open; close it and test again")
    try:
        refused = await cabinet.controller.technician("open", number, who.name, reason="lock test", uid=who.uid)
    except HardwareError as exc:
        desk.record("lock_test", number, who, door_opened=False, failed=str(exc))
        raise Refused(502, str(exc)) from None
    if refused is not None:
        raise Refused(409, refused)
    doors = cabinet.hardware.doors(number)
    started = time.monotonic()
    opened = False
    while time.monotonic() - started < wait_s:
        if doors.is_open(number):
            opened = True
            break
        await asyncio.sleep(DOOR_POLL_S)
    waited = round(time.monotonic() - started, 1)
    desk.record("lock_test", number, who, door_opened=opened, waited_s=waited)
    return shapes.LockTest(
        slot=number,
        door_opened=opened,
        waited_s=waited,
        door=views.door(cabinet, number),
        lock=views.lock(cabinet, number),
        technician=who.name,
    )


async def usb_power(desk: Desk, number: int, power: str, who: Technician) -> shapes.UsbPower:
    ports = desk.cabinet.hardware.ports
    desk.idle(number)
    back = None
    try:
        if power == "cycle":
            back = await ports.power_cycle(number)
            desk.switched_off.discard(number)
        else:
            await ports.set_power(number, power == "on")
            if power == "on":
                desk.switched_off.discard(number)
            else:
                desk.switched_off.add(number)
    except HardwareError as exc:
        desk.record("usb_power", number, who, power=power, failed=str(exc))
        raise Refused(502, str(exc)) from None
    desk.record("usb_power", number, who, power=power)
    device = views.usb_device(back if power == "cycle" else ports.present(number))
    return shapes.UsbPower(slot=number, power=power, device=device, technician=who.name)


async def device_info(desk: Desk, number: int) -> shapes.DeviceInfo:
    cabinet = desk.cabinet
    desk.slot(number)
    try:
        hello = await cabinet.hardware.link.hello(number)
    except HardwareError as exc:
        raise Refused(502, str(exc)) from None
    row = next((d for d in cabinet.controller.core.ledger.devices() if d.serial == hello.serial), None)
    return shapes.DeviceInfo(
        slot=number,
        **hello.model_dump(),
        health=row.health if row else None,
        last_rented_at=row.last_rented_at if row else None,
    )


async def selftest(desk: Desk, number: int, who: Technician) -> shapes.Selftest:
    """Run the device's self-test; diagnostic only, the slot's state stays as it is."""
    cabinet = desk.cabinet
    desk.idle(number)
    try:
        report = await cabinet.hardware.link.selftest(number)
    except HardwareError as exc:
        desk.record("selftest", number, who, passed=False, failed=str(exc))
        raise Refused(502, str(exc)) from None
    checks = [shapes.SelftestCheck.model_validate(check.model_dump()) for check in report.checks]
    reported = {check.name for check in checks}
    failed = sorted({c.name for c in checks if not c.passed} | (set(SELFTEST_CHECKS) - reported))
    desk.record("selftest", number, who, passed=not failed, failed=failed)
    device = cabinet.controller.slots[number].device
    return shapes.Selftest(slot=number, device=device, passed=not failed, checks=checks, technician=who.name)


def sync_now(desk: Desk, who: Technician) -> shapes.SyncReport:
    sync = desk.cabinet.sync
    if sync.status().state == "disabled":
        raise Refused(409, "sync is not configured (no cloud.url in the configuration)")
    desk.record("sync_now", None, who)
    sync.wake()
    return views.sync_report(desk.cabinet)
