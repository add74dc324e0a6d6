"""The controller: the one place where hardware facts, badges and screen choices become cabinet state.

Drivers post facts into `post()` from their threads' hand-off on the loop; the controller takes them
one at a time in `run()`, so no two facts are ever handled at once. A badge opens a session: one tap
does the common thing (a person holding nothing rents, a person holding a device returns it); the
screen offers only the choices that make sense for them (cabinetd/sessions.py). One session at a
time: a second person's badge puts a short notice over the screen and leaves the first person's in place.
"""

from __future__ import annotations

import asyncio
import logging

from cabinetd import sessions
from cabinetd.clock import Clock
from cabinetd.config import CabinetConfig
from cabinetd.flows import rent, report, return_
from cabinetd.flows.core import Core, Flow, FlowKind, StepFailed, policy_work_type
from cabinetd.flows.recovery import reconcile
from cabinetd.flows.refusal import step_refused
from cabinetd.flows.screentimes import keep_screen_fresh, notify_busy
from cabinetd.flows.watch import DoorWatcher, device_appeared, device_vanished, keep_watch, refreshed
from cabinetd.fsm.slot import Slot, Trigger
from cabinetd.hal.base import (
    BadgeRead,
    DevicePlugged,
    DeviceRefresh,
    DeviceUnplugged,
    DoorClosed,
    DoorOpened,
    HardwareEvent,
    PartStateChanged,
    UnlockSent,
)
from cabinetd.hal.hardware import Hardware
from cabinetd.ledger import LedgerError, LedgerService, NewEvent
from cabinetd.ledger.replicas import StaffMember
from cabinetd.lifecycle import Subsystem
from cabinetd.lockouts import PinLockouts
from cabinetd.maintenance import Maintenance, Technician
from cabinetd.policy import Refusal, Staff, may_rent
from cabinetd.policy import Role as StaffRole
from cabinetd.rostercheck import RosterCheck, RosterChecked
from cabinetd.screen import Screen
from cabinetd.sessions import Session, SessionKind
from cabinetproto.enums import Alarm, SlotState
from cabinetproto.pins import verify_pin
from cabinetproto.wire import Command, CommandOutcome

log = logging.getLogger(__name__)

Fact = HardwareEvent | DeviceRefresh | StepFailed | RosterChecked


class BackgroundStepFailed(RuntimeError):
    """A background step died of an error no owner handles: the controller stops, the daemon exits."""


class Controller(Subsystem):
    name = "controller"
    stall_after_s = 30.0

    def __init__(
        self, config: CabinetConfig, ledgers: LedgerService, hardware: Hardware, *, clock: Clock | None = None
    ) -> None:
        super().__init__()
        self.core = Core(config, ledgers, hardware, clock or Clock(), Screen())
        keep_screen_fresh(self.core)  # finished screens go back to idle by themselves
        hardware.link.choose_by(self.core.link_of)  # each device over its model's link (fleet data)
        self.inbox: asyncio.Queue[Fact] = asyncio.Queue()
        self.core.on_failure = self.inbox.put_nowait
        self.session: Session | None = None
        # The last return whose door closed: a problem may still be reported for it on its screens.
        self.last_return: report.ReportedReturn | None = None
        self._handling = False  # a fact is being handled (see _heartbeat)
        self.doors = DoorWatcher(self.core)
        # Every technician's action, from the control socket or the cloud (execute_command).
        self.maintenance = Maintenance(self.core, self.doors)
        # Each technician's PIN lockout, rebuilt from the ledger at their first badge.
        self.lockouts = PinLockouts(self.core.clock, lambda technician: self.core.ledger.last_pin_attempt(technician))
        self.roster = RosterCheck(self.core.clock, self.post)  # an unknown badge asks the office
        for module, slot_config in config.slots():
            number = slot_config.number
            self.core.slots[number] = Slot(
                number,
                slot_config.slot_type or module.slot_type,
                clock=self.core.clock,
                door_open_s=config.timeouts.door_open_s,
                on_changed=self._state_changed,
                on_invalid=self._invalid_trigger,
                on_door_timeout=self._door_timeout,
                on_timer_failed=self._door_timer_failed,
            )

    @property
    def screen(self) -> Screen:
        return self.core.screen

    @property
    def slots(self) -> dict[int, Slot]:
        return self.core.slots

    def post(self, fact: Fact) -> None:
        """The hardware's way in; called on the loop (drivers hand over with call_soon_threadsafe)."""
        self.inbox.put_nowait(fact)

    # --- life cycle -----------------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Rebuild every slot from the ledger, then reconcile with the hardware (already prepared)."""
        rows = {row.slot: row for row in self.core.ledger.slot_states()}
        for number, slot in self.core.slots.items():
            row = rows.get(number)
            if row is not None:
                slot.machine.set_state(SlotState(row.state.value))
                slot.device = row.device
                slot.alarms = {Alarm(alarm) for alarm in row.alarms}
        self.core.critical = self.core.ledger.critical_devices()
        await reconcile(self.core, first_start=not rows)

    async def run(self) -> None:
        self.core.spawn(keep_watch(self.core), "rental reminders and thresholds")
        self.core.spawn(self._heartbeat(), "controller heartbeat")
        while True:
            # A plain get(): the badge that starts a rent waits on this hand-off, and a get() under a
            # timeout costs it two more turns of the loop.
            fact = await self.inbox.get()
            self._handling = True
            try:
                await self.handle(fact)
            except LedgerError as refused:
                await self._refused(fact, refused)
            finally:
                self._handling = False
            self.tick()

    async def _refused(self, fact: Fact, error: LedgerError) -> None:
        """The ledger refused a step: recorded, shown, the slots rebuilt from the ledger, locks locked."""
        name = type(fact).__name__ if not isinstance(fact, StepFailed) else fact.name
        number = getattr(fact, "slot", None)
        slot = number if isinstance(number, int) else None
        self.session = None
        await step_refused(self.core, name if slot is None else f"{name} at slot {slot}", slot, error)

    def stalled(self, now: float) -> bool:
        """Stalled in a fact, or holding a slot stuck in a transient state (watch.check_stuck)."""
        return super().stalled(now) or bool(self.core.stuck)

    async def _heartbeat(self) -> None:
        """Tick while waiting for facts: an idle controller is healthy, one stuck in a fact is not."""
        while True:
            await asyncio.sleep(self.stall_after_s / 3)
            if not self._handling:
                self.tick()

    async def cleanup(self) -> None:
        self.doors.cancel_all()
        self.roster.cancel()
        for slot in self.core.slots.values():
            slot.stop_timers()
        for task in list(self.core.tasks):
            task.cancel()

    # --- facts -----------------------------------------------------------------------------------------

    async def handle(self, fact: Fact) -> None:
        match fact:
            case BadgeRead(badge=badge):
                await self.badge(badge)
            case DoorOpened(slot=number):
                await self._door_opened(number)
            case DoorClosed(slot=number):
                await self._door_closed(number)
            case DevicePlugged(slot=number, identity=identity):
                flow = self.core.flows.get(number)
                if flow is not None and flow.kind is FlowKind.RETURN:
                    await return_.device_inserted(self.core, flow, identity)
                elif flow is not None:
                    await rent.device_put_back(self.core, flow, identity)
                elif flow is None:
                    await device_appeared(self.core, self.core.slots[number], identity)
            case DeviceUnplugged(slot=number):
                await self._device_unplugged(number)
            case DeviceRefresh():
                await refreshed(self.core, fact)
            case StepFailed(error=LedgerError() as refused):
                raise refused  # the ledger refused a background step's record: handled as any refusal
            case StepFailed(name=name, error=error):
                raise BackgroundStepFailed(f"background step {name!r} failed: {error}") from error
            case RosterChecked():
                waiting = self.roster.take()
                if waiting is not None and self.session is None:
                    await self.badge(waiting, checked=True)
            case UnlockSent() | PartStateChanged():
                pass

    async def _door_opened(self, number: int) -> None:
        slot = self.core.slots[number]
        flow = self.core.flows.get(number)
        self.doors.opened(slot, expected=flow is not None)
        if flow is None:
            return
        if flow.kind is FlowKind.RENT:
            await rent.door_opened(self.core, flow)
        else:
            await return_.door_opened(self.core, flow)

    async def _door_closed(self, number: int) -> None:
        slot = self.core.slots[number]
        self.doors.closed(slot)
        flow = self.core.flows.get(number)
        if flow is None:
            return
        if flow.kind is FlowKind.RENT:
            await rent.door_closed(self.core, flow)
        else:
            self.last_return = report.closing(self.core, flow)
            await return_.door_closed(self.core, flow)
        self._end_session(number)

    async def _device_unplugged(self, number: int) -> None:
        flow = self.core.flows.get(number)
        if flow is not None and flow.kind is FlowKind.RENT and flow.door_opened:
            await rent.device_removed(self.core, flow, self.core.clock.now())
        elif flow is not None and flow.kind is FlowKind.RETURN:
            await return_.device_pulled(self.core, flow)
        elif flow is None:
            await device_vanished(self.core, self.core.slots[number])

    async def _door_timeout(self, slot: Slot, state: SlotState) -> None:
        flow = self.core.flows.get(slot.number)
        if flow is None or flow.door_opened:
            return  # the door did open: the flow goes on (a door held open raises its own alarm)
        try:
            await self._call_off(flow, "the door was not opened in time", "door_not_opened")
        except LedgerError as refused:
            self.session = None
            await step_refused(self.core, f"door deadline at slot {slot.number}", slot.number, refused)
        self._end_session(slot.number)

    def _door_timer_failed(self, slot: Slot, error: Exception) -> None:
        # Handled as any background step's failure: a ledger refusal recorded, else the daemon down.
        self.post(StepFailed(f"door deadline at slot {slot.number}", error))

    async def _call_off(self, flow: Flow, reason: str, cause: str) -> None:
        slot = self.core.slots[flow.slot]
        if flow.kind is FlowKind.RENT:
            await rent.cancel(self.core, slot, reason, cause=cause)
        else:
            await return_.cancel(self.core, slot, reason, cause=cause)

    # --- the slot machines report here ------------------------------------------------------------------

    async def _state_changed(self, slot: Slot, before: SlotState, after: SlotState) -> None:
        if (slot.number, after) in self.core.recorded_moves:
            self.core.recorded_moves.discard((slot.number, after))
            return  # committed before the machine walked it
        payload = {"from": before.value, "to": after.value, "reason": ""}
        self.core.pending.append(NewEvent("slot_state_changed", payload, slot.number, slot.device, None))

    async def _invalid_trigger(self, slot: Slot, trigger: Trigger, state: SlotState) -> None:
        self.core.commit(NewEvent("trigger_refused", {"trigger": trigger.value, "state": state.value}, slot.number))

    # --- sessions ------------------------------------------------------------------------------------------

    async def badge(self, badge: str, *, checked: bool = False) -> None:
        core = self.core
        staff = core.ledger.staff_by_badge(badge, core.config.badge_reader.id_form)
        if staff is None and self.session is None and not checked and self.roster.start(badge):
            core.screen.show("checking")  # "not recognised yet — checking with the office"
            return
        if staff is not None:
            self.roster.call_off()  # a known badge goes first; the one being checked taps again
        if self.session is not None:
            if staff is not None and staff.staff_id == self.session.staff.staff_id:
                return  # the same person again: their session is already on the screen
            notify_busy(core, staff.name if staff else "")
            return
        if staff is not None and StaffRole(staff.role) is not StaffRole.STAFF:
            kind = SessionKind.PIN if staff.pin_hash else SessionKind.MAINTENANCE
            # "cancel" is how the screen ends a technician's session (its OK, or the idle timeout).
            self.session = Session(staff, kind, core.clock.monotonic(), choices=["cancel"])
            # A technician still locked out sees the wait at once, not after typing a PIN in vain.
            wait = {"wait_s": max(round(left), 1)} if (left := self.lockouts.wait_s(staff.staff_id)) else {}
            core.screen.show("pin" if staff.pin_hash else "maintenance", name=staff.name, **wait)
            return
        held = core.ledger.held_by(staff.staff_id) if staff else []
        if staff is not None and held:
            may_rent = self._refusal(staff, len(held)) is None
            if core.config.kiosk.ask_before_return:
                # "My devices": what they hold and when it is due; no slot opens until they choose.
                mine = sessions.my_devices(may_rent=may_rent)
                self.session = Session(staff, SessionKind.RETURN, core.clock.monotonic(), choices=mine)
                core.screen.show("my_devices", name=staff.name)
                return
            await self._start_return(staff, may_rent)
            return
        refusal = self._refusal(staff, 0)
        if refusal is not None:
            core.refuse(refusal.value, staff)
            return
        assert staff is not None
        await self._start_rent(staff, holds=False)

    async def _start_rent(self, staff: StaffMember, *, holds: bool) -> None:
        work_type = self.core.ledger.work_type(staff.work_type)
        if work_type is None:
            return
        offered = sessions.renting(holds=holds)
        self.session = Session(staff, SessionKind.RENT, self.core.clock.monotonic(), choices=offered)
        if not await rent.start_rent(self.core, staff, work_type):
            self.session = None

    async def _start_return(self, staff: StaffMember, may_rent: bool) -> None:
        held = self.core.ledger.held_by(staff.staff_id)
        offered = sessions.returning(may_rent=may_rent)
        self.session = Session(staff, SessionKind.RETURN, self.core.clock.monotonic(), choices=offered)
        if not await return_.start_return(self.core, staff, held[0].device if held else None):
            self.session = None

    def _refusal(self, staff: StaffMember | None, held: int) -> Refusal | None:
        core = self.core
        work_type = core.ledger.work_type(staff.work_type) if staff else None
        blocked = core.ledger.renting_blocked is not None
        return may_rent(
            None if staff is None else _policy_staff(staff),
            store=core.config.cabinet.store,
            work_type=policy_work_type(work_type) if work_type else None,
            held=held,
            cabinet_disabled=blocked or all(slot.state is SlotState.DISABLED for slot in core.slots.values()),
        )

    def _end_session(self, slot: int) -> None:
        if self.session is not None and (self.session.slot in (None, slot)):
            self.session = None

    async def choose(self, choice: str) -> None:
        """A button on the screen: take another device, return one, only look, or cancel. Only what
        the session offers is done (`cancel` always is); nothing while its door is open."""
        session = self.session
        if session is None or (choice not in session.choices and choice != "cancel"):
            return
        staff = session.staff
        open_flow = next((f for f in self.core.flows.values() if f.staff and f.staff.staff_id == staff.staff_id), None)
        if open_flow is not None and open_flow.door_opened:
            return  # the person is at the open door: the flow goes on to its close
        if open_flow is not None:
            if choice == "look":
                await self._call_off(open_flow, "the person only wanted to look", "looked")
            else:
                await self._call_off(open_flow, "cancelled on the screen", "cancelled_on_screen")
        self.session = None
        if choice in ("cancel", "look"):
            if open_flow is None or choice == "cancel":
                self.core.screen.show("idle")
            return  # after a look the screen says the slot is locked again (refused, cause "looked")
        held = len(self.core.ledger.held_by(staff.staff_id))
        if choice == "rent":
            await self._start_rent(staff, holds=held > 0)
        elif choice == "return":
            await self._start_return(staff, self._refusal(staff, held) is None)

    async def report_problem(self, reason: str, note: str) -> str | None:
        """"I have a problem with this device": None when recorded, else why not (flows/report.py)."""
        staff = self.session.staff if self.session is not None else None
        return await report.from_screen(self.core, staff, self.last_return, reason, note)

    # --- technicians --------------------------------------------------------------------------------------

    async def submit_pin(self, pin: str) -> bool:
        session = self.session
        if session is None or session.kind is not SessionKind.PIN or session.staff.pin_hash is None:
            return False
        who = session.staff.staff_id
        wait = self.lockouts.wait_s(who)
        if wait > 0:
            self.core.screen.show("pin", name=session.staff.name, wait_s=max(round(wait), 1))
            return False
        if verify_pin(pin, session.staff.pin_hash):
            self.lockouts.accepted(who)
            self.maintenance.record("pin_accepted", None, Technician(who))
            session.kind = SessionKind.MAINTENANCE
            self.core.screen.show("maintenance", name=session.staff.name)
            return True
        failures, backoff = self.lockouts.refused(who)
        log.warning("wrong PIN for technician %s (%d in a row)", who, failures)
        self.maintenance.record("pin_refused", None, Technician(who), failures=failures)
        self.core.screen.show("pin", name=session.staff.name, wrong=True, wait_s=round(backoff))
        return False

    # --- the cloud's commands -----------------------------------------------------------------------------

    async def execute_command(self, command: Command) -> CommandOutcome:
        """A remote command from the fleet, done at the maintenance desk; the sync client records its result."""
        return await self.maintenance.carry_out(command)


def _policy_staff(staff: StaffMember) -> Staff:
    return Staff(staff.staff_id, staff.name, staff.store, staff.work_type, StaffRole(staff.role), staff.active)
