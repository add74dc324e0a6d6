"""Maintenance: everything a technician may do to the cabinet, by whichever door the request comes in.

The control socket (`cabinetctl`) and the fleet's remote commands (`Maintenance.carry_out`) both
come here, so an action is checked the same way and recorded the same way whoever asks: the slot
must exist; a slot with a rent or return under way is left alone (its flow owns the door and the
port); every action that acts is a `technician_action` event, written through the controller's one
write path (`Core.commit`) so that a state change pending from the machines goes with it. A refusal
is `Refused`, which names why (no such slot, not now, the hardware failed); each door turns it into
its own answer (the socket into 404/409/502, the cloud into a failed `CommandOutcome`).

Owned by the controller (`Controller.maintenance`), on the daemon's one loop like everything else that
changes the cabinet.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from cabinetd.flows.core import Core, FlowKind
from cabinetd.flows.inspection import inspect
from cabinetd.flows.rent import provision
from cabinetd.flows.watch import DoorWatcher
from cabinetd.fsm.slot import Slot, Trigger
from cabinetd.hal.agentprotocol import Hello, SelftestCheck
from cabinetd.hal.base import UsbIdentity
from cabinetd.hal.errors import HardwareError
from cabinetd.ledger import NewEvent
from cabinetproto.enums import SlotState
from cabinetproto.wire import Command, CommandKind, CommandOutcome

log = logging.getLogger(__name__)

DOOR_POLL_S: Final = 0.05
FLOW_WORDS: Final = {FlowKind.RENT: "a rent is under way", FlowKind.RETURN: "a return is under way"}

Power = Literal["on", "off", "cycle"]


class Why(enum.Enum):
    NO_SLOT = "no_slot"  # the slot does not exist
    NOT_NOW = "not_now"  # busy, a state that does not allow it, a door already open, no sync configured
    HARDWARE = "hardware"  # a lock, port or device link failed


class Refused(Exception):
    """The action was not done; `why` says which kind of no, the message is one line for a person."""

    def __init__(self, why: Why, message: str) -> None:
        super().__init__(message)
        self.why = why


@dataclass(frozen=True)
class Technician:
    """Who asked: a login name and uid as the kernel told the control socket, or `cloud:<command id>`."""

    name: str
    uid: int | None = None


@dataclass(frozen=True)
class LockTestResult:
    slot: int
    door_opened: bool
    waited_s: float


@dataclass(frozen=True)
class DeviceReport:
    slot: int
    hello: Hello
    health: str | None
    last_rented_at: str | None


@dataclass(frozen=True)
class SelftestResult:
    slot: int
    device: str | None
    checks: list[SelftestCheck]
    failed: list[str]  # checks that failed or were not reported, by name

    @property
    def passed(self) -> bool:
        return not self.failed


@dataclass
class Maintenance:
    core: Core
    doors: DoorWatcher
    # Ports a technician switched off (ports are on after start); the views show them as off.
    switched_off: set[int] = field(default_factory=set)
    # Set by the cabinet once its sync client exists (the client is built after the controller,
    # which it calls for remote commands); None where no client runs.
    wake_sync: Callable[[], None] | None = None
    # Set by the cabinet to its updater's offer (cabinetd/updates); None where updates are off.
    take_update: Callable[[Command], Awaitable[CommandOutcome]] | None = None

    # --- the checks every action makes ------------------------------------------------------------

    def slot(self, number: int) -> Slot:
        found = self.core.slots.get(number)
        if found is None:
            known = ", ".join(str(n) for n in sorted(self.core.slots))
            raise Refused(Why.NO_SLOT, f"no slot {number} (slots: {known})")
        return found

    def busy(self, number: int) -> str | None:
        """What is under way at the slot, in words, or None."""
        flow = self.core.flows.get(number)
        return None if flow is None else FLOW_WORDS.get(flow.kind, f"a {flow.kind} is under way")

    def idle(self, number: int) -> Slot:
        slot = self.slot(number)
        busy = self.busy(number)
        if busy is not None:
            raise Refused(Why.NOT_NOW, f"slot {number} is busy: {busy}")
        return slot

    def record(self, action: str, slot: int | None, who: Technician, **args: Any) -> None:
        self.core.commit(self._event(action, slot, who, args))

    def _event(self, action: str, slot: int | None, who: Technician, args: dict[str, Any]) -> NewEvent:
        if who.uid is not None:
            args = {**args, "uid": who.uid}
        device = self.core.slots[slot].device if slot is not None else None
        return NewEvent("technician_action", {"action": action, "args": args, "technician": who.name}, slot, device)

    # --- the slot's door and service --------------------------------------------------------------

    async def open(self, number: int, who: Technician, reason: str = "") -> None:
        """One unlock pulse; the door may then open without a `door_forced` alarm for `door_open_s`."""
        self.idle(number)
        self.record("open", number, who, **_with_reason(reason, {}))  # before the pulse (write-ahead)
        self.doors.unlocked_at[number] = self.core.clock.monotonic()
        try:
            await self.core.hardware.lock_bank(number).unlock(number)
        except HardwareError as exc:
            raise Refused(Why.HARDWARE, str(exc)) from None
        _log_done(number, "open", who, reason)

    async def disable(self, number: int, who: Technician, reason: str = "") -> None:
        await self._move(number, "disable", who, reason)

    async def enable(self, number: int, who: Technician, reason: str = "") -> None:
        slot = await self._move(number, "enable", who, reason)
        if slot.state is SlotState.INSPECTING:
            self.core.spawn(inspect(self.core, slot), f"inspect slot {number}")

    async def _move(self, number: int, action: str, who: Technician, reason: str) -> Slot:
        """Disable or enable: the slot's machine decides, once no rent or return is under way (a return's
        device is inspected with its door still open, a state the machine would let go out of service)."""
        slot = self.idle(number)
        if not await self.core.fire(slot, Trigger(action), self._event(action, number, who, _with_reason(reason, {}))):
            raise Refused(Why.NOT_NOW, f"slot {number} cannot be {action}d while {slot.state.value}")
        _log_done(number, action, who, reason)
        return slot

    async def lock_test(self, number: int, who: Technician, wait_s: float) -> LockTestResult:
        """Pulse the lock, then watch the door sensor for `wait_s`: did the door open?"""
        self.idle(number)
        doors = self.core.hardware.doors(number)
        if doors.is_open(number):
            raise Refused(Why.NOT_NOW, f"slot {number}: the door is already open; close it and test again")
        try:
            await self.open(number, who, "lock test")
        except Refused as refused:
            if refused.why is Why.HARDWARE:
                self.record("lock_test", number, who, door_opened=False, failed=str(refused))
            raise
        # The person at the door pulls it in real time, whatever clock the controller's timers use.
        started = time.monotonic()
        opened = False
        while time.monotonic() - started < wait_s:
            if doors.is_open(number):
                opened = True
                break
            await asyncio.sleep(DOOR_POLL_S)
        waited = round(time.monotonic() - started, 1)
        self.record("lock_test", number, who, door_opened=opened, waited_s=waited)
        return LockTestResult(number, opened, waited)

    # --- the slot's USB port and device -----------------------------------------------------------

    async def usb_power(self, number: int, power: Power, who: Technician, reason: str = "") -> UsbIdentity | None:
        """Switch the slot port's power, or cycle it; returns the device on the port afterwards (after
        a cycle, what came back; after on or off, as last seen: a device takes seconds)."""
        self.idle(number)
        ports = self.core.hardware.ports
        args = _with_reason(reason, {"power": power})
        try:
            if power == "cycle":
                back = await ports.power_cycle(number)
                self.switched_off.discard(number)
            else:
                await ports.set_power(number, power == "on")
                if power == "on":
                    self.switched_off.discard(number)
                else:
                    self.switched_off.add(number)
                back = ports.present(number)
        except HardwareError as exc:
            self.record("usb_power", number, who, **args, failed=str(exc))
            raise Refused(Why.HARDWARE, str(exc)) from None
        self.record("usb_power", number, who, **args)
        return back

    async def device_info(self, number: int) -> DeviceReport:
        """The agent's hello with what the ledger knows of the device; reads only, so not recorded."""
        self.slot(number)
        try:
            hello = await self.core.hardware.link.hello(number)
        except HardwareError as exc:
            raise Refused(Why.HARDWARE, str(exc)) from None
        row = next((d for d in self.core.ledger.devices() if d.serial == hello.serial), None)
        return DeviceReport(number, hello, row.health if row else None, row.last_rented_at if row else None)

    async def selftest(self, number: int, who: Technician) -> SelftestResult:
        """Run the device's self-test; diagnostic only, the slot's state stays as it is."""
        slot = self.idle(number)
        try:
            report = await self.core.hardware.link.selftest(number)
        except HardwareError as exc:
            self.record("selftest", number, who, passed=False, failed=str(exc))
            raise Refused(Why.HARDWARE, str(exc)) from None
        failed = sorted(report.failed())  # the checks of the device's own link
        self.record("selftest", number, who, passed=not failed, failed=failed)
        return SelftestResult(number, slot.device, list(report.checks), failed)

    async def reprovision(self, number: int, who: Technician) -> str:
        """Provision the device at rest in the slot again for the work type it was last provisioned
        for; returns that work type."""
        slot = self.idle(number)
        if slot.device is None or slot.state not in (SlotState.READY, SlotState.CHARGING):
            raise Refused(Why.NOT_NOW, f"slot {number} holds no device at rest")
        ledger = self.core.ledger
        row = next((d for d in ledger.devices() if d.serial == slot.device), None)
        work_type = ledger.work_type(row.provisioned_work_type) if row and row.provisioned_work_type else None
        if work_type is None:
            raise Refused(Why.NOT_NOW, f"device {slot.device} is not provisioned for any work type")
        if not await provision(self.core, slot, work_type):
            failed = f"provisioning {slot.device} for {work_type.id} failed"
            self.record("reprovision", number, who, work_type=work_type.id, failed=failed)
            raise Refused(Why.HARDWARE, failed)
        self.record("reprovision", number, who, work_type=work_type.id)
        return work_type.id

    async def clear_report(self, serial: str, who: Technician, reason: str = "") -> Slot | None:
        """Lift a critical problem report (a damaged device, a swollen or hot battery) from a device
        the technician has looked at. A device sitting faulty in its slot is then inspected again
        (its slot taken out of service and back, as `slot disable` and `slot enable` do), so a passing
        self-test puts it back in service; returns that slot, if any."""
        if serial not in self.core.critical:
            raise Refused(Why.NOT_NOW, f"device {serial} has no critical problem report to clear")
        held = next((slot for slot in self.core.slots.values() if slot.device == serial), None)
        number = held.number if held is not None else None
        if number is not None:
            self.idle(number)
        args = _with_reason(reason, {"serial": serial})
        self.core.commit(self._event("clear_report", number, who, args))
        del self.core.critical[serial]
        _log_done(number or 0, "clear_report", who, reason)
        if held is not None and held.state is SlotState.FAULTY:
            why = f"re-inspect {serial} after its problem report was cleared"
            await self.disable(held.number, who, why)
            await self.enable(held.number, who, why)
        return held

    # --- the cabinet as a whole -------------------------------------------------------------------

    def sync_now(self, who: Technician) -> None:
        """Ask the sync client to try now rather than after its backoff."""
        if self.core.config.cloud.url is None or self.wake_sync is None:
            raise Refused(Why.NOT_NOW, "sync is not configured (no cloud.url in the configuration)")
        self.record("sync_now", None, who)
        self.wake_sync()

    async def carry_out(self, command: Command) -> CommandOutcome:
        """A remote command from the fleet, done as the technician `cloud:<command id>` through the same
        actions as the control socket's."""
        slot = int(command.args.get("slot", 0))
        reason = str(command.args.get("reason", ""))
        by = Technician(f"cloud:{command.command_id}")
        try:
            match command.kind:
                case CommandKind.UNLOCK_SLOT:
                    await self.open(slot, by, reason)
                case CommandKind.DISABLE_SLOT:
                    await self.disable(slot, by, reason)
                case CommandKind.ENABLE_SLOT:
                    await self.enable(slot, by)
                case CommandKind.POWER_CYCLE_PORT:
                    back = await self.usb_power(slot, "cycle", by)
                    return CommandOutcome(True, f"device after the cycle: {back.serial if back else 'none'}")
                case CommandKind.REPROVISION:
                    await self.reprovision(slot, by)
                case CommandKind.OFFER_UPDATE:
                    if self.take_update is None:
                        return CommandOutcome(False, "updates are disabled on this cabinet (updates.enabled = false)")
                    return await self.take_update(command)
                case _:
                    return CommandOutcome(False, f"unknown command {command.kind!r}")
        except Refused as refused:
            return CommandOutcome(False, str(refused))
        return CommandOutcome(True, "done")


def _with_reason(reason: str, args: dict[str, Any]) -> dict[str, Any]:
    return {**args, "reason": reason} if reason else args


def _log_done(number: int, action: str, who: Technician, reason: str) -> None:
    uid = "" if who.uid is None else f" (uid {who.uid})"
    log.info("slot %d: %s by %s%s: %s", number, action, who.name, uid, reason or "no reason given")
