"""The cabinet's locks and doors, built from config: the one place that picks a driver per module.

`build_locks_and_doors()` returns the subsystems in start order (each RS-485 bus, then the lock banks,
then the door sensors). Every driver posts its facts ("unlock sent", "door opened", "door closed")
straight to the sink; how long a flow waits for a door after its unlock is the flow's deadline
(docs/slot-states.md), not a fact of the hardware.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cabinetd.config import Board8aModuleLock, CabinetConfig, GpioModuleLock, KerongModuleLock
from cabinetd.hal import board8a, kerong
from cabinetd.hal.base import DoorSensors, EventSink, LockBank, PartState
from cabinetd.hal.gpio import DOOR_SETTLE_S, GpioDoors, GpioLockBank, PinFactory, default_pin_factory
from cabinetd.hal.lockboard import FEEDBACK_POLL_S, BoardDoors, LockBoard
from cabinetd.hal.rs485 import Rs485Bus
from cabinetd.lifecycle import Subsystem

SerialUrlFor = Callable[[str], str]  # bus name -> the URL serial_for_url() opens

_BAUDRATE = {"kerong": kerong.BAUDRATE, "board8a": board8a.BAUDRATE}


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
    """The drivers for `config`'s modules; `pin_factory` and `serial_url_for` let the simulator in."""
    timeouts = config.timeouts
    url_for = serial_url_for or (lambda name: config.buses[name].port)
    factory = pin_factory
    if factory is None and any(
        isinstance(module.lock, GpioModuleLock) or slot.door.pin is not None for module, slot in config.slots()
    ):
        factory = default_pin_factory()

    buses: dict[str, Rs485Bus] = {}

    def bus_for(name: str, driver: str) -> Rs485Bus:
        if name not in buses:
            section = config.buses[name]
            buses[name] = Rs485Bus(
                name,
                url_for(name),
                section.baudrate or _BAUDRATE[driver],
                reply_ms=timeouts.board_reply_ms,
                sink=sink,
            )
        return buses[name]

    banks: list[LockBank] = []
    doors: list[DoorSensors] = []
    for module in config.modules:
        lock = module.lock
        board: LockBoard | None = None
        if isinstance(lock, GpioModuleLock):
            banks.append(GpioLockBank(module, sink, factory))
        elif isinstance(lock, KerongModuleLock):
            bus = bus_for(lock.bus, lock.driver)
            board = kerong.KerongBoard(module, bus, timeouts, sink, poll_s=feedback_poll_s)
        elif isinstance(lock, Board8aModuleLock):
            bus = bus_for(lock.bus, lock.driver)
            board = board8a.Board8aBoard(module, bus, timeouts, sink, poll_s=feedback_poll_s)
        if board is not None:
            banks.append(board)
            if board.feedback_slots:
                doors.append(BoardDoors(board))
        wired = [slot for slot in module.slots if slot.door.pin is not None]
        if wired:
            doors.append(GpioDoors(module.name, wired, sink, factory, settle_s=door_settle_s))
    return LocksAndDoors(list(buses.values()), banks, doors)
