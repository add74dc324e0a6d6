"""What the cabinet watches while nobody is renting: doors (forced, left open), devices charging to
ready, and rentals coming due. Each finding is an event; alarms clear themselves when the cause goes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from cabinetd.flows.core import Core
from cabinetd.flows.inspection import inspect, learn, repair_ticket, status_event
from cabinetd.fsm.slot import TRANSIENT_STATES, Slot, Trigger
from cabinetd.hal.base import DeviceRefresh, UsbIdentity
from cabinetd.policy import DUE_SOON
from cabinetproto.enums import Alarm, SlotState

log = logging.getLogger(__name__)

REMINDER_CHECK_S = 10.0
ROSTER_CHECK_S = 1.0
# A refresh reports battery changes of at least this much; smaller ones would fill the ledger.
BATTERY_STEP = 5


class DoorWatcher:
    """Timers for doors held open; a door opened without an unlock is forced."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._open_timers: dict[int, asyncio.Task[None]] = {}
        self.unlocked_at: dict[int, float] = {}  # technician unlocks, by monotonic time

    def opened(self, slot: Slot, *, expected: bool) -> None:
        core = self.core
        unlocked = self.unlocked_at.pop(slot.number, None)
        recently = unlocked is not None and core.clock.monotonic() - unlocked <= core.config.timeouts.door_open_s
        if not expected and not recently:
            alarm = core.raise_alarm(slot, Alarm.DOOR_FORCED, "opened without an unlock")
            if alarm is not None:
                core.commit(alarm)
        self._open_timers[slot.number] = core.spawn(self._left_open(slot), f"door {slot.number}")

    async def _left_open(self, slot: Slot) -> None:
        await self.core.clock.sleep(self.core.config.timeouts.door_left_open_s)
        alarm = self.core.raise_alarm(slot, Alarm.DOOR_LEFT_OPEN, "open too long")
        if alarm is not None:
            self.core.commit(alarm)
            self.core.screen.show("alarm", alarm=Alarm.DOOR_LEFT_OPEN.value, slot=slot.number)

    def closed(self, slot: Slot) -> None:
        timer = self._open_timers.pop(slot.number, None)
        if timer is not None:
            timer.cancel()
        events = [
            self.core.clear_alarm(slot, Alarm.DOOR_LEFT_OPEN, "door closed"),
            self.core.clear_alarm(slot, Alarm.DOOR_FORCED, "door closed"),
        ]
        self.core.commit(*[event for event in events if event is not None])

    def cancel_all(self) -> None:
        for timer in self._open_timers.values():
            timer.cancel()
        self._open_timers.clear()


async def refreshed(core: Core, refresh: DeviceRefresh) -> None:
    """A periodic look at a device sitting in its slot: battery feeds charging → ready."""
    slot = core.slots.get(refresh.slot)
    if slot is None or slot.state not in (SlotState.CHARGING, SlotState.READY):
        return
    hello = refresh.hello
    if hello is None:
        log.warning("slot %d: device does not answer its refresh: %s", slot.number, refresh.error)
        await core.fire(
            slot, Trigger.DEVICE_FAILED, repair_ticket(core, slot, slot.device, {"unresponsive": str(refresh.error)})
        )
        core.hardware.link.unwatch(slot.number)
        return
    before = slot.battery
    now = core.clock.monotonic()
    if before is not None and slot.last_refresh is not None and now > slot.last_refresh:
        gained = hello.battery_percent - before
        if hello.charging and gained > 0:
            slot.charge_rate = gained / ((now - slot.last_refresh) / 60)
    slot.last_refresh = now
    learn(core, slot, hello)
    events = []
    if before is None or abs(int(hello.battery_percent) - before) >= BATTERY_STEP or hello.battery_health != "good":
        events.append(status_event(core, slot, hello))
    if slot.state is SlotState.CHARGING and slot.is_charged():
        await core.fire(slot, Trigger.BATTERY_CHARGED, *events)
    elif slot.state is SlotState.READY and not slot.is_charged():
        await core.fire(slot, Trigger.BATTERY_LOW, *events)
    else:
        core.commit(*events)


async def device_vanished(core: Core, slot: Slot) -> None:
    """A device left its slot with no rent under way (a forced door, a technician's hand)."""
    if core.hardware.ports.present(slot.number) is not None:
        return  # it re-enumerated (switching to accessory mode): the same port shows a device again
    if slot.state not in (SlotState.CHARGING, SlotState.READY, SlotState.INSPECTING, SlotState.FAULTY):
        return
    gone = core.event(
        "reconciliation_difference",
        {"what": "device taken from its slot outside a rent", "ledger_said": slot.device, "hardware_says": None},
        slot=slot.number,
        device=slot.device,
    )
    core.hardware.link.unwatch(slot.number)
    await core.fire(slot, Trigger.DEVICE_LOST, gone)
    slot.device, slot.battery = None, None


async def device_appeared(core: Core, slot: Slot, identity: UsbIdentity) -> None:
    """A device showed up with no return under way: checked like a return, and flagged."""
    core.ports.identity_read(slot.number, identity)  # what the port gave, whoever's device it is
    if slot.state is not SlotState.EMPTY:
        return  # a device re-enumerating in its own slot, or one already being looked after
    found = core.event(
        "reconciliation_difference",
        {"what": "device put in a slot outside a return", "ledger_said": None, "hardware_says": identity.serial},
        slot=slot.number,
        device=identity.serial,
    )
    alarm = core.raise_alarm(slot, Alarm.UNEXPECTED_DEVICE, f"{identity.serial} put in without a return")
    slot.device = identity.serial
    await core.fire(slot, Trigger.DEVICE_FOUND, found, *([alarm] if alarm else []))
    core.spawn(inspect(core, slot, unexpected=True), f"inspect slot {slot.number}")


async def remind(core: Core) -> None:
    """Due-soon and overdue events for open rentals, each once (the ledger keeps which were sent)."""
    now = core.clock.now()
    events = []
    for rental in core.ledger.due_soon(now, DUE_SOON):
        if rental.due_soon_at is None:
            payload = {"rental_id": rental.rental_id, "due_at": rental.due_at}
            events.append(core.event("rental_due_soon", payload, device=rental.device, staff=rental.staff))
    for rental in core.ledger.overdue(now):
        if rental.overdue_at is None:
            payload = {"rental_id": rental.rental_id, "due_at": rental.due_at}
            events.append(core.event("rental_overdue", payload, device=rental.device, staff=rental.staff))
    core.commit(*events)


async def rejudge(core: Core, *, only_if_changed: bool = False) -> None:
    """Thresholds come from the work types, which the cloud may change (or send for the first time):
    a device at rest moves between charging and ready as soon as its threshold does."""
    if only_if_changed and core.ledger.replica_changes == core.judged_replicas:
        return
    core.judged_replicas = core.ledger.replica_changes
    models = {row.serial: row.model for row in core.ledger.devices()}
    for slot in list(core.slots.values()):
        if slot.device is None or slot.battery is None:
            continue
        slot.threshold = core.threshold_for(models.get(slot.device))
        if slot.state is SlotState.CHARGING and slot.is_charged():
            await core.fire(slot, Trigger.BATTERY_CHARGED)
        elif slot.state is SlotState.READY and not slot.is_charged():
            await core.fire(slot, Trigger.BATTERY_LOW)


RESTING: Final = (SlotState.EMPTY, SlotState.CHARGING, SlotState.READY, SlotState.FAULTY, SlotState.DISABLED)


def judge_fleet(core: Core) -> None:
    """Each slot at rest against the fleet's device list (read from memory between replica writes): a
    device the fleet does not list is flagged, and the flag clears once it does, or the device is gone."""
    events = [core.judge_fleet(slot) for slot in core.slots.values() if slot.state in RESTING]
    core.commit(*[event for event in events if event is not None])


def check_stuck(core: Core) -> None:
    """A slot held in dispensing, receiving or inspecting beyond `timeouts.transient_state_s` is
    stuck: recorded once (`slot_stuck`), and while any slot is, the controller counts as stalled, so
    the watchdog is no longer fed and the service manager restarts the daemon; recovery then ends
    the state as it ends any flow cut short. A slot that moves on is no longer stuck."""
    bound = core.config.timeouts.transient_state_s
    now = core.clock.monotonic()
    for number, slot in core.slots.items():
        entered = core.stuck.get(number)
        if entered is not None and (slot.state not in TRANSIENT_STATES or slot.entered_at != entered):
            del core.stuck[number]
            log.warning("slot %d: no longer stuck (now %s)", number, slot.state.value)
        if slot.state not in TRANSIENT_STATES or number in core.stuck or now - slot.entered_at <= bound:
            continue
        held = now - slot.entered_at
        log.error("slot %d: %s for %.0f s (bound %.0f s): stuck", number, slot.state.value, held, bound)
        core.stuck[number] = slot.entered_at
        payload = {"state": slot.state.value, "seconds": int(held), "bound_s": int(bound)}
        core.commit(core.event("slot_stuck", payload, slot=number, device=slot.device))


async def keep_watch(core: Core) -> None:
    """Reminders every REMINDER_CHECK_S; thresholds as soon as the roster changes (a counter compared
    once a second: the slots turn ready the moment the cloud's work types arrive); stuck slots, once
    a second."""
    since_reminders = REMINDER_CHECK_S
    while True:
        if since_reminders >= REMINDER_CHECK_S:
            await remind(core)
            since_reminders = 0.0
        await rejudge(core, only_if_changed=True)
        judge_fleet(core)
        check_stuck(core)
        await core.clock.sleep(ROSTER_CHECK_S)
        since_reminders += ROSTER_CHECK_S
