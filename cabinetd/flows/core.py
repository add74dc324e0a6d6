"""What every flow of the cabinet shares: the slots, the ledger, the hardware, and the one way to
record a step (`commit`), which writes the flow's events and the slot state changes they caused in
one durable transaction before anything is shown or unlocked.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cabinetd.clock import Clock
from cabinetd.config import CabinetConfig
from cabinetd.flows.ports import PortHealth, hubs_down
from cabinetd.fsm.slot import MOVES, Slot, Trigger
from cabinetd.hal.agentprotocol import Hello
from cabinetd.hal.base import UsbIdentity
from cabinetd.hal.hardware import Hardware
from cabinetd.ledger import Ledger, LedgerService, NewEvent
from cabinetd.ledger.replicas import StaffMember, WorkType
from cabinetd.policy import DeviceView, SlotView
from cabinetd.policy import WorkType as PolicyWorkType
from cabinetd.screen import Screen
from cabinetproto.enums import Alarm, SlotState
from cabinetproto.links import DEFAULT_LINK

log = logging.getLogger(__name__)


class FlowKind(enum.StrEnum):
    RENT = "rent"
    RETURN = "return"


@dataclass
class Flow:
    """A rent or a return under way at one slot: what has happened at its door so far."""

    kind: FlowKind
    slot: int
    staff: StaffMember | None
    device: str | None  # the device handed out, or the one expected back (None: any)
    work_type: WorkType | None = None
    rental_id: str | None = None
    door_opened: bool = False
    device_removed: bool = False
    inserted: UsbIdentity | None = None


@dataclass(frozen=True)
class StepFailed:
    """A background step that died of an error its owner does not handle: the controller's loop takes
    it as a fact and raises it, so the daemon exits and the service manager restarts the cabinet."""

    name: str
    error: BaseException


@dataclass
class Core:
    config: CabinetConfig
    ledgers: LedgerService
    hardware: Hardware
    clock: Clock
    screen: Screen
    slots: dict[int, Slot] = field(default_factory=dict)
    flows: dict[int, Flow] = field(default_factory=dict)
    # Slot state changes made by the machines since the last commit; written with the next one.
    pending: list[NewEvent] = field(default_factory=list)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    judged_replicas = -1  # the ledger's replica_changes when thresholds were last re-judged
    # Moves already committed ahead of the machine walking them (see expect_move).
    recorded_moves: set[tuple[int, SlotState]] = field(default_factory=set)
    ports: PortHealth = field(init=False)  # faults seen on each slot's USB port
    # Slots held in a transient state beyond the bound, with when they entered it (see watch.check_stuck).
    stuck: dict[int, float] = field(default_factory=dict)
    # Where a background step's failure goes (the controller's inbox); None: it is raised from the loop.
    on_failure: Callable[[StepFailed], None] | None = None
    # The LED blink of each slot whose door is the one to use (flows/leds.py).
    blinking: dict[int, asyncio.Task[Any]] = field(default_factory=dict)
    # Devices a critical problem report keeps out of service until a technician clears them, with the
    # reason (flows/problems.py); folded from the ledger when the controller prepares.
    critical: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ports = PortHealth.for_config(self.config)

    @property
    def ledger(self) -> Ledger:
        return self.ledgers.ledger  # opened by its own subsystem before the controller prepares

    def commit(self, *events: NewEvent) -> None:
        """Write the events and the pending state changes in one transaction (write-ahead rule)."""
        batch = [*events, *self.pending]
        self.pending.clear()
        if batch:
            self.ledger.append_many(batch)

    def expect_move(self, slot: Slot, to: SlotState) -> None:
        """A move an event already committed records (its projection sets the state): when the machine
        walks it afterwards, no separate slot_state_changed is written."""
        if (slot.state, to) not in MOVES:
            raise RuntimeError(f"slot {slot.number}: no move from {slot.state.value} to {to.value}")
        self.recorded_moves.add((slot.number, to))

    async def fire(self, slot: Slot, trigger: Trigger, *events: NewEvent) -> bool:
        moved = await slot.fire(trigger)
        self.commit(*events)
        return moved

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        """A background step of a flow. The step handles the failures it owns (an inspection marks its
        device faulty on a hardware error); any other takes the daemon down, so that the service
        manager restarts it and recovery rebuilds every slot from the ledger, the truth."""
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is None:
            return
        failed = StepFailed(task.get_name(), error)
        log.error("background step %r failed: %r", failed.name, failed.error, exc_info=failed.error)
        if self.on_failure is not None:
            self.on_failure(failed)
        else:
            asyncio.get_running_loop().call_exception_handler(
                {"message": f"background step {failed.name!r} failed", "exception": failed.error, "task": task}
            )

    def event(
        self,
        event_type: str,
        payload: dict[str, Any],
        *,
        slot: int | None = None,
        device: str | None = None,
        staff: str | None = None,
    ) -> NewEvent:
        return NewEvent(event_type, payload, slot, device, staff)

    def refuse(self, reason: str, staff: StaffMember | None, minutes: int | None = None) -> None:
        """No device for this badge: the reason goes on the screen and into the ledger."""
        self.commit(
            self.event("rent_refused", {"reason": reason, "minutes": minutes}, staff=staff.staff_id if staff else None)
        )
        self.screen.show("refused", reason=reason, minutes=minutes, name=staff.name if staff else "")

    def relock_at(self) -> str:
        """When a door unlocked now relocks if nobody opens it (UTC, ISO 8601): the kiosk counts down."""
        when = self.clock.now() + timedelta(seconds=self.config.timeouts.door_open_s)
        return when.isoformat(timespec="seconds")

    def raise_alarm(self, slot: Slot, alarm: Alarm, detail: str, device: str | None = None) -> NewEvent | None:
        if alarm in slot.alarms:
            return None
        slot.alarms.add(alarm)
        log.warning("slot %d: alarm %s: %s", slot.number, alarm.value, detail)
        return self.event("alarm_raised", {"alarm": alarm.value, "detail": detail}, slot=slot.number, device=device)

    def clear_alarm(self, slot: Slot, alarm: Alarm, detail: str, device: str | None = None) -> NewEvent | None:
        if alarm not in slot.alarms:
            return None
        slot.alarms.discard(alarm)
        return self.event("alarm_cleared", {"alarm": alarm.value, "detail": detail}, slot=slot.number, device=device)

    def judge_fleet(self, slot: Slot) -> NewEvent | None:
        """Raise or clear the slot's `unknown_to_fleet` alarm by whether the fleet's device list names
        the device it holds (a cabinet with no device list has nothing to judge by: no alarm)."""
        serial = slot.device
        if serial is not None and self.ledger.fleet_lists(serial) is False:
            detail = f"{serial} is not on the fleet's device list: it is not handed out until the fleet lists it"
            return self.raise_alarm(slot, Alarm.UNKNOWN_TO_FLEET, detail, serial)
        why = "the slot holds no device" if serial is None else f"the fleet lists {serial}"
        return self.clear_alarm(slot, Alarm.UNKNOWN_TO_FLEET, why, serial)

    # --- reading the cabinet for the policy --------------------------------------------------------

    def slot_views(self) -> list[SlotView]:
        devices = {row.serial: row for row in self.ledger.devices()}
        out_on_rental = self.ledger.rented_devices()
        down = hubs_down(self.hardware.ports.parts())
        views = []
        for number, slot in sorted(self.slots.items()):
            device: DeviceView | None = None
            if slot.device is not None:
                row = devices.get(slot.device)
                rented = row.last_rented_at if row else None
                device = DeviceView(
                    serial=slot.device,
                    model=(row.model if row and row.model else ""),
                    battery=slot.battery,
                    healthy=(row is None or row.health != "faulty") and slot.device not in self.critical,
                    provisioned_work_type=row.provisioned_work_type if row else None,
                    last_rented_at=datetime.fromisoformat(rented) if rented else None,
                    charge_rate=slot.charge_rate,
                    rented=slot.device in out_on_rental,
                    fleet_listed=self.ledger.fleet_lists(slot.device) is not False,
                )
            usb_ok = self.ports.working(number, down)
            views.append(SlotView(number, slot.state, slot.slot_type, device, usb_ok=usb_ok, uses=slot.uses))
        return views

    def work_types(self) -> list[WorkType]:
        return self.ledger.work_types()

    def model_of(self, hello: Hello) -> str:
        """The fleet's model of a device: what its device list says, else what the device reports (a
        stock device over adb reports its maker's name for itself, `TC21`, not the fleet's)."""
        listed = self.ledger.fleet_device(hello.serial)
        return listed.model if listed is not None else hello.model

    def work_apps(self, *, besides: WorkType | None = None) -> list[str]:
        """The packages of every work type (but `besides`), in name order."""
        keep = {app.package for app in besides.apps} if besides is not None else set()
        return sorted({app.package for wt in self.work_types() for app in wt.apps} - keep)

    def link_of(self, slot: int) -> str:
        """The link the device in this slot speaks: its model's in the fleet data, by the serial its USB
        port gives (known before the device has said anything), else the one the slot last knew."""
        identity = self.hardware.ports.present(slot)
        serial = identity.serial if identity is not None and identity.serial else self.slots[slot].device
        link = self.ledger.device_link(serial) if serial else None
        return link or DEFAULT_LINK

    def threshold_for(self, model: str | None) -> int:
        """The battery a device of this model needs to count as ready: the lowest threshold of the
        work types that use the model, so it is offered as soon as some work can take it."""
        fitting = [wt.battery_threshold for wt in self.work_types() if model in wt.device_models]
        return min(fitting) if fitting else 100


def policy_work_type(work_type: WorkType) -> PolicyWorkType:
    """The ledger's work type as the policy reads it (beside `Core.slot_views`, the other translation)."""
    return PolicyWorkType(
        id=work_type.id,
        name=work_type.name,
        battery_threshold=work_type.battery_threshold,
        rental_limit_minutes=work_type.rental_limit_minutes,
        device_limit=work_type.max_devices_per_staff,
        device_models=frozenset(work_type.device_models),
    )

