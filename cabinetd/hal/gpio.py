"""Locks, door switches and slot LEDs wired to the computer's GPIO header (gpiozero).

Every device is built with the cabinet's pin factory (pins.py, looked up in `prepare()`), never
gpiozero's global one, so the simulated cabinet and the tests drive the same code over mock pins.

- A lock is a `DigitalOutputDevice` (a relay or MOSFET driving a solenoid): `unlock()` holds it active
  for `pulse_ms`, timed by gpiozero's own thread so a busy event loop cannot overheat a solenoid.
- A door is a `DigitalInputDevice` on its reed switch (a `Button` without the hold thread, whose
  `close()` waits up to a second per shut door: too long for a cabinet's shutdown): the switch connects
  the pin to `closed_level` while the door is shut, and the internal pull resistor takes the pin the
  other way when it opens (pull-up for a switch to ground, pull-down for one to 3V3). Its edges are
  debounced in our code (debounce.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from typing import Any, Final

from gpiozero import LED, DigitalInputDevice, DigitalOutputDevice

from cabinetd.clock import Clock
from cabinetd.config import GpioModuleLock, ModuleSection, SlotSection
from cabinetd.hal.base import (
    DoorClosed,
    DoorOpened,
    DoorSensors,
    EventSink,
    HardwareEvent,
    LockBank,
    LockState,
    UnlockSent,
)
from cabinetd.hal.debounce import Debouncer
from cabinetd.hal.errors import LockFault
from cabinetd.hal.pins import PinSource
from cabinetd.hal.wiring import LockWiring

log = logging.getLogger(__name__)

# Reed switches settle within a few milliseconds; 50 ms hides that from people and costs them nothing.
DOOR_SETTLE_S: Final = 0.05


class GpioLockBank(LockBank):
    """The solenoid locks (and slot LEDs) of one module on GPIO pins."""

    def __init__(self, module: ModuleSection, sink: EventSink, pins: PinSource, *, where: str) -> None:
        super().__init__()
        lock = module.lock
        if not isinstance(lock, GpioModuleLock):
            raise TypeError(f"module {module.name}: not a gpio module")
        self.name = f"gpio locks of module {module.name}"
        self.slots = tuple(slot.number for slot in module.slots)
        self._active_high = lock.active_level == "high"
        self._pulse_s = lock.pulse_ms / 1000
        self._lock_pins: dict[int, int] = {}
        for slot in module.slots:
            if slot.lock.pin is None:  # configchecks.cross_checks refuses this; the check keeps mypy honest
                raise ValueError(f"slot {slot.number}: a gpio lock needs lock.pin")
            self._lock_pins[slot.number] = slot.lock.pin
        self._led_pins = {slot.number: slot.led_pin for slot in module.slots if slot.led_pin is not None}
        self._sink = sink
        self._pins = pins
        self._where = where
        self._locks: dict[int, Any] = {}
        self._leds: dict[int, Any] = {}

    async def prepare(self) -> None:
        factory = self._pins.factory(self._where)
        for slot, pin in self._lock_pins.items():
            self._locks[slot] = DigitalOutputDevice(
                pin, active_high=self._active_high, initial_value=False, pin_factory=factory
            )
        for slot, pin in self._led_pins.items():
            self._leds[slot] = LED(pin, initial_value=False, pin_factory=factory)

    async def cleanup(self) -> None:
        for device in [*self._locks.values(), *self._leds.values()]:
            device.off()  # a lock left energised would stay open after the daemon is gone
            device.close()
        self._locks.clear()
        self._leds.clear()

    async def unlock(self, slot: int) -> None:
        device = self._device(slot)
        # On here, not in blink()'s thread, so the lock is released when UnlockSent is posted.
        device.on()
        device.blink(on_time=self._pulse_s, off_time=0, n=1, background=True)
        log.info("slot %d: unlock pulse of %g s on GPIO %d", slot, self._pulse_s, self._lock_pins[slot])
        asyncio.get_running_loop().call_soon(self._sink, UnlockSent(slot))

    def lock_state(self, slot: int) -> LockState:
        device = self._locks.get(slot)
        if device is None:
            return LockState.UNKNOWN
        return LockState.RELEASED if device.value else LockState.LOCKED

    async def lock_all(self) -> None:
        for device in self._locks.values():
            device.off()

    def has_led(self, slot: int) -> bool:
        return slot in self._led_pins

    def set_led(self, slot: int, on: bool) -> None:
        led = self._leds.get(slot)
        if led is not None:
            led.value = on

    def _device(self, slot: int) -> Any:
        try:
            return self._locks[slot]
        except KeyError:
            if slot in self._lock_pins:
                raise LockFault(f"slot {slot}: {self.name} are not prepared") from None
            raise LockFault(f"slot {slot}: not a slot of {self.name}") from None


class GpioDoors(DoorSensors):
    """The reed switches of one module's doors on GPIO pins; posts debounced door events."""

    def __init__(
        self,
        module: str,
        slots: Sequence[SlotSection],
        sink: EventSink,
        pins: PinSource,
        *,
        where: str,
        settle_s: float = DOOR_SETTLE_S,
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        self.name = f"gpio doors of module {module}"
        self._door_pins: dict[int, tuple[int, bool]] = {}
        for slot in slots:
            if slot.door.pin is None:
                raise ValueError(f"slot {slot.number}: a gpio door needs door.pin")
            self._door_pins[slot.number] = (slot.door.pin, slot.door.closed_level == "low")
        self.slots = tuple(self._door_pins)
        self._sink = sink
        self._pins = pins
        self._where = where
        self._settle_s = settle_s
        self._clock = clock or Clock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._switches: dict[int, Any] = {}
        self._debouncers: dict[int, Debouncer] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}

    async def prepare(self) -> None:
        self._loop = asyncio.get_running_loop()
        factory = self._pins.factory(self._where)
        for slot, (pin, pull_up) in self._door_pins.items():
            # With the pull toward the open level, active means the switch is closed: the door is
            # shut, whichever level the switch is wired to.
            switch = DigitalInputDevice(pin, pull_up=pull_up, pin_factory=factory)
            self._switches[slot] = switch
            self._debouncers[slot] = Debouncer(not switch.is_active, self._settle_s, self._clock)
            edge = functools.partial(self._edge_from_pins, slot)
            switch.when_activated = edge
            switch.when_deactivated = edge

    async def cleanup(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for switch in self._switches.values():
            switch.close()
        self._switches.clear()

    def is_open(self, slot: int) -> bool | None:
        if slot not in self._door_pins:
            raise KeyError(f"slot {slot}: its door is not one of {self.name}")
        debouncer = self._debouncers.get(slot)
        return None if debouncer is None else debouncer.stable

    def _edge_from_pins(self, slot: int) -> None:
        # Called on gpiozero's thread (or whichever thread drove a mock pin): only hand over.
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._edge, slot)

    def _edge(self, slot: int) -> None:
        self._observe(slot)
        if slot not in self._timers:
            self._wake_later(slot)

    def _observe(self, slot: int) -> None:
        switch = self._switches.get(slot)
        if switch is not None:
            self._debouncers[slot].observe(not switch.is_active)

    def _wake_later(self, slot: int) -> None:
        assert self._loop is not None
        due = self._debouncers[slot].due_in()
        self._timers[slot] = self._loop.call_later(due, self._settle, slot)

    def _settle(self, slot: int) -> None:
        self._timers.pop(slot, None)
        self._observe(slot)  # the level now, in case an edge was missed
        debouncer = self._debouncers[slot]
        settled = debouncer.settle()
        if settled is not None:
            log.info("slot %d: door %s", slot, "opened" if settled else "closed")
            event: HardwareEvent = DoorOpened(slot) if settled else DoorClosed(slot)
            self._sink(event)
        elif debouncer.pending:
            self._wake_later(slot)


def build_lock_bank(module: ModuleSection, wiring: LockWiring) -> LockBank:
    """The registry's builder for `driver = "gpio"` (drivers.py)."""
    return GpioLockBank(module, wiring.sink, wiring.pins, where=wiring.where)
