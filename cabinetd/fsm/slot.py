"""The per-slot state machine: which moves a slot may make, and the timer of the door it guards.

The table below is the whole behaviour; `Slot` carries the facts the conditions read (is a device in
the slot, is it charged). The controller decides *when* to fire a trigger; this module decides whether
the move is legal. An illegal trigger is reported to `on_invalid` (logged and recorded by the
controller) and never raises into the caller.

Alarms are flags beside the state, not states: a forced door does not change what the slot holds.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from transitions import MachineError
from transitions.extensions.asyncio import AsyncMachine, AsyncTimeout

from cabinetd.clock import Clock
from cabinetproto.enums import Alarm, SlotState

log = logging.getLogger(__name__)
# Slots report illegal triggers through our own log line and ledger event; the library's lines for the
# same thing, and a notice per trigger it does not bind (we call `trigger(name)`), would only bury them.
logging.getLogger("transitions").setLevel(logging.CRITICAL)


S = SlotState
_HOLDING: Final = [S.CHARGING, S.READY, S.INSPECTING, S.FAULTY]


class Trigger(enum.StrEnum):
    """What the flows ask of a slot. Names are the store's words; values are the machine's trigger names,
    which also go on the wire in `trigger_refused` events and so keep what cabinets have recorded."""

    BATTERY_CHARGED = "battery_charged"
    BATTERY_LOW = "battery_low"
    RENT = "dispense"
    DEVICE_TAKEN = "device_taken"
    RENT_CANCELLED = "dispense_cancelled"
    RETURN = "receive"
    DEVICE_INSERTED = "device_inserted"
    RETURN_CANCELLED = "return_cancelled"
    INSPECTION_PASSED = "inspection_passed"
    INSPECTION_FAILED = "inspection_failed"
    DEVICE_FAILED = "device_failed"
    DEVICE_FOUND = "device_found"
    DEVICE_LOST = "device_lost"
    DISABLE = "disable"
    ENABLE = "enable"


T = Trigger
TRANSITIONS: Final[list[dict[str, Any]]] = [
    {"trigger": T.BATTERY_CHARGED, "source": S.CHARGING, "dest": S.READY},
    {"trigger": T.BATTERY_LOW, "source": S.READY, "dest": S.CHARGING},
    {"trigger": T.RENT, "source": S.READY, "dest": S.DISPENSING},
    {"trigger": T.DEVICE_TAKEN, "source": S.DISPENSING, "dest": S.EMPTY},
    {"trigger": T.RENT_CANCELLED, "source": S.DISPENSING, "dest": S.READY, "conditions": "is_charged"},
    {"trigger": T.RENT_CANCELLED, "source": S.DISPENSING, "dest": S.CHARGING},
    {"trigger": T.RETURN, "source": S.EMPTY, "dest": S.RECEIVING},
    {"trigger": T.DEVICE_INSERTED, "source": S.RECEIVING, "dest": S.INSPECTING},
    {"trigger": T.RETURN_CANCELLED, "source": S.RECEIVING, "dest": S.EMPTY},
    {"trigger": T.INSPECTION_PASSED, "source": S.INSPECTING, "dest": S.READY, "conditions": "is_charged"},
    {"trigger": T.INSPECTION_PASSED, "source": S.INSPECTING, "dest": S.CHARGING},
    {"trigger": T.INSPECTION_FAILED, "source": S.INSPECTING, "dest": S.FAULTY},
    # A device sitting in its slot that stops answering its refresh, even after a power cycle.
    {"trigger": T.DEVICE_FAILED, "source": [S.CHARGING, S.READY], "dest": S.FAULTY},
    # A device that shows up without a return (found at restart, put in through a forced door).
    {"trigger": T.DEVICE_FOUND, "source": S.EMPTY, "dest": S.INSPECTING},
    # A device that vanished from a slot (taken through a forced door, or by a technician).
    {"trigger": T.DEVICE_LOST, "source": _HOLDING, "dest": S.EMPTY},
    {"trigger": T.DISABLE, "source": [S.EMPTY, *_HOLDING], "dest": S.DISABLED},
    {"trigger": T.ENABLE, "source": S.DISABLED, "dest": S.INSPECTING, "conditions": "has_device"},
    {"trigger": T.ENABLE, "source": S.DISABLED, "dest": S.EMPTY},
]


def _sources(row: dict[str, Any]) -> list[SlotState]:
    source = row["source"]
    return list(source) if isinstance(source, list) else [source]


# Every (from, to) the table allows, whatever the trigger: answered without asking a machine.
MOVES: Final = frozenset((source, row["dest"]) for row in TRANSITIONS for source in _sources(row))

# States whose door is unlocked for a flow: the door must open within `door_open_s` or the flow ends.
DOOR_FLOW_STATES: Final = (S.DISPENSING, S.RECEIVING)
# States a slot passes through on its way to one it can rest in; held too long, the slot is stuck.
TRANSIENT_STATES: Final = (S.DISPENSING, S.RECEIVING, S.INSPECTING)


class ClockTimeout(AsyncTimeout):
    """AsyncTimeout whose timer sleeps on the slot's clock, so tests can move time by hand."""

    def create_timer(self, event_data: Any) -> Any:
        model: Slot = event_data.model

        async def _timeout() -> None:
            try:
                await model.clock.sleep(self.timeout)
                await asyncio.shield(self._process_timeout(event_data))
            except asyncio.CancelledError:
                pass

        return asyncio.create_task(_timeout())


InvalidTrigger = Callable[["Slot", Trigger, SlotState], Awaitable[None]]
StateChanged = Callable[["Slot", SlotState, SlotState], Awaitable[None]]
DoorTimeout = Callable[["Slot", SlotState], Awaitable[None]]
TimerFailed = Callable[["Slot", Exception], None]


class Slot:
    """One slot: its number, what it holds, its alarms, and its machine."""

    state: SlotState

    def __init__(
        self,
        number: int,
        slot_type: str,
        *,
        clock: Clock,
        door_open_s: float,
        on_changed: StateChanged | None = None,
        on_invalid: InvalidTrigger | None = None,
        on_door_timeout: DoorTimeout | None = None,
        on_timer_failed: TimerFailed | None = None,
        initial: SlotState = S.EMPTY,
    ) -> None:
        self.number = number
        self.slot_type = slot_type
        self.clock = clock
        self.device: str | None = None
        self.battery: int | None = None
        self.threshold = 0
        self.charge_rate: float | None = None  # percent per minute, as observed while charging
        self.uses = 0  # door cycles since the daemon started, to spread wear over slots
        self.last_refresh: float | None = None  # monotonic time of the device's last battery reading
        self.alarms: set[Alarm] = set()
        self.entered_at = clock.monotonic()  # when the slot entered its present state
        self._on_changed = on_changed
        self._on_invalid = on_invalid
        self._on_door_timeout = on_door_timeout
        self._on_timer_failed = on_timer_failed
        self.machine = build_machine(self, door_open_s, initial)

    # Conditions read by the table (the machine passes its event; they need only the slot).
    def is_charged(self, event: Any = None) -> bool:
        return self.battery is not None and self.battery >= self.threshold

    def has_device(self, event: Any = None) -> bool:
        return self.device is not None

    async def fire(self, trigger: Trigger) -> bool:
        """Fire a trigger; an illegal one is reported, never raised. True when the slot moved."""
        before = self.state
        try:
            moved: bool = await self.trigger(trigger)
        except MachineError as exc:
            log.warning("slot %d: %s is not allowed in %s (%s)", self.number, trigger, before.value, exc.value)
            if self._on_invalid is not None:
                await self._on_invalid(self, trigger, before)
            return False
        return moved

    async def _state_changed(self, event: Any) -> None:
        before = SlotState[event.transition.source]  # the machine keeps state names, not members
        if before is not self.state:
            self.entered_at = self.clock.monotonic()
        if self._on_changed is not None and before is not self.state:
            await self._on_changed(self, before, self.state)

    async def _door_timed_out(self, event: Any) -> None:
        if self._on_door_timeout is None:
            return
        try:
            await self._on_door_timeout(self, self.state)
        except Exception as error:  # the machine would only log it: the timer is a task nobody awaits
            self.timer_failed(error)

    def timer_failed(self, error: Exception) -> None:
        """The door timer's handling raised: its owner hears of it, or the loop's handler does (which
        logs it); either way it is not left in a task that nobody awaits."""
        if self._on_timer_failed is not None:
            self._on_timer_failed(self, error)
            return
        asyncio.get_running_loop().call_exception_handler(
            {"message": f"slot {self.number}: the door timer failed", "exception": error}
        )

    def stop_timers(self) -> None:
        """Cancel a running door timer: a stopped controller must not act on its slots afterwards."""
        for state in self.machine.states.values():
            assert isinstance(state, ClockTimeout)  # build_machine makes every state one
            timer = state.runner.pop(id(self), None)
            if timer is not None and not timer.done():
                timer.cancel()

    # Bound by the machine (model_override): declared here so that type checkers see it.
    async def trigger(self, name: str) -> bool:
        raise NotImplementedError


def build_machine(slot: Slot, door_open_s: float, initial: SlotState) -> AsyncMachine:
    states = [
        ClockTimeout(state, timeout=door_open_s, on_timeout="_door_timed_out")
        if state in DOOR_FLOW_STATES
        else ClockTimeout(state)
        for state in SlotState
    ]
    return AsyncMachine(
        model=slot,
        states=states,
        transitions=TRANSITIONS,
        initial=initial,
        auto_transitions=False,
        queued=True,
        send_event=True,
        model_override=True,
        after_state_change="_state_changed",
        name=f"slot {slot.number}: ",
    )

