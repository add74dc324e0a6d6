"""The cabinet's locks and doors, built from config: each module's driver by its name (drivers.py).

`build_locks_and_doors()` returns the subsystems in start order (each RS-485 bus, then the lock banks,
then the door sensors). Every driver posts its facts ("unlock sent", "door opened", "door closed")
straight to the sink; how long a flow waits for a door after its unlock is the flow's deadline
(docs/slot-states.md), not a fact of the hardware.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from cabinetd.config import CabinetConfig, path_text
from cabinetd.hal.base import DoorSensors, EventSink, LockBank, PartState
from cabinetd.hal.drivers import LOCK_DRIVERS
from cabinetd.hal.gpio import DOOR_SETTLE_S, GpioDoors
from cabinetd.hal.lockboard import FEEDBACK_POLL_S, BoardDoors, LockBoard
from cabinetd.hal.pins import PinFactory, PinSource
from cabinetd.hal.rs485 import Rs485Bus
from cabinetd.hal.wiring import LockWiring
from cabinetd.lifecycle import Subsystem

SerialUrlFor = Callable[[str], str]  # bus name -> the URL serial_for_url() opens


@dataclass
class LocksAndDoors:
    buses: list[Rs485Bus]
    lock_banks: list[LockBank]
    door_sensors: list[DoorSensors]

    def subsystems(self) -> list[Subsystem]:
        """Start order; clean up in reverse."""
        return [*self.buses, *self.lock_banks, *self.door_sensors]

    def lock_bank(self, slot: int) -> LockBank:
        for bank in self.lock_banks:
            if slot in bank.slots:
                return bank
        raise KeyError(f"slot {slot}: no lock bank")

    def doors(self, slot: int) -> DoorSensors:
        for doors in self.door_sensors:
            if slot in doors.slots:
                return doors
        raise KeyError(f"slot {slot}: no door sensor")

    def parts(self) -> list[PartState]:
        """Every bus and board, for technicians."""
        return [bus.state() for bus in self.buses] + [part for bank in self.lock_banks for part in bank.parts()]


def build_locks_and_doors(
    config: CabinetConfig,
    sink: EventSink,
    *,
    pin_factory: PinFactory | None = None,
    serial_url_for: SerialUrlFor | None = None,
    feedback_poll_s: float = FEEDBACK_POLL_S,
    door_settle_s: float = DOOR_SETTLE_S,
) -> LocksAndDoors:
    """The drivers for `config`'s modules, each by its `lock.driver` (drivers.LOCK_DRIVERS); `pin_factory`
    and `serial_url_for` let the simulator in. Nothing is opened here: every driver does that in prepare()."""
    pins = PinSource(pin_factory)
    buses = _Buses(config, sink, serial_url_for)
    banks: list[LockBank] = []
    doors: list[DoorSensors] = []
    for index, module in enumerate(config.modules):
        driver = module.lock.driver
        wiring = LockWiring(
            where=path_text(("modules", index, "lock")),
            timeouts=config.timeouts,
            sink=sink,
            pins=pins,
            bus=functools.partial(buses.bus, driver),
            feedback_poll_s=feedback_poll_s,
        )
        bank = LOCK_DRIVERS[driver](module, wiring)
        banks.append(bank)
        if isinstance(bank, LockBoard) and bank.feedback_slots:
            doors.append(BoardDoors(bank))
        wired = [(number, slot) for number, slot in enumerate(module.slots) if slot.door.pin is not None]
        if wired:
            where = path_text(("modules", index, "slots", wired[0][0], "door", "pin"))
            slots = [slot for _, slot in wired]
            doors.append(GpioDoors(module.name, slots, sink, pins, where=where, settle_s=door_settle_s))
    return LocksAndDoors(list(buses.made.values()), banks, doors)


class _Buses:
    """The RS-485 buses, each made when the first module on it is built (in the modules' order)."""

    def __init__(self, config: CabinetConfig, sink: EventSink, serial_url_for: SerialUrlFor | None) -> None:
        self.config = config
        self.sink = sink
        self.url_for = serial_url_for or (lambda name: config.buses[name].port)
        self.made: dict[str, Rs485Bus] = {}

    def bus(self, driver: str, name: str, baudrate: int) -> Rs485Bus:
        if name not in self.made:
            section = self.config.buses[name]
            self.made[name] = Rs485Bus(
                name,
                self.url_for(name),
                section.baudrate or baudrate,
                reply_ms=self.config.timeouts.board_reply_ms,
                first_byte_ms=self.config.timeouts.board_first_byte_ms,
                turnaround_ms=self.config.timeouts.board_turnaround_ms,
                low_latency=section.low_latency,
                sink=self.sink,
                origin=f"{path_text(('buses', name, 'port'))} ({driver})",
            )
        return self.made[name]
