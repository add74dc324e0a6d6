"""The lock and door side of a simulated cabinet, made from the same config a real cabinet uses.

For every slot there is a door model; GPIO locks, reed switches and LEDs live on one gpiozero
`MockFactory`, and every RS-485 bus is a pty with simulated boards of the bus's protocol. The daemon
then builds the production drivers against them:

    sim = SimLocks(config)
    sim.start()
    hardware = build_locks_and_doors(config, sink, pin_factory=sim.pin_factory,
                                     serial_url_for=sim.serial_url_for)
"""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from cabinetd.config import (
    Board8aModuleLock,
    CabinetConfig,
    GpioModuleLock,
    KerongModuleLock,
    ModuleSection,
    SimBoardSection,
    SimBusSection,
)
from cabinetd.sim.door import ReedPin, SimDoor
from cabinetd.sim.lockboard import RELEASE_S, BusSim, SimBoard

log = logging.getLogger(__name__)


class SimLocks:
    """Door models, mock pins and board simulators for `config`'s modules."""

    def __init__(self, config: CabinetConfig, *, directory: Path | None = None, release_s: float = RELEASE_S) -> None:
        self.pin_factory = MockFactory()
        self.doors: dict[int, SimDoor] = {}
        self.buses: dict[str, BusSim] = {}
        self.boards: dict[int, SimBoard] = {}  # slot -> the board its lock is on
        self._own_directory = directory is None
        self._directory = Path(tempfile.mkdtemp(prefix="cabinetd-sim-")) if directory is None else directory
        self._release_s = release_s
        self._led_pins: dict[int, int] = {}
        self._lock_pins: dict[int, tuple[int, bool]] = {}
        self._config = config
        for module in config.modules:
            self._add_module(module)

    def serial_url_for(self, bus: str) -> str:
        return self.buses[bus].url

    def start(self) -> None:
        for bus in self.buses.values():
            bus.start()

    def close(self) -> None:
        for bus in self.buses.values():
            bus.close()
        if self._own_directory:
            shutil.rmtree(self._directory, ignore_errors=True)

    def door(self, slot: int) -> SimDoor:
        return self.doors[slot]

    def has_led(self, slot: int) -> bool:
        return slot in self._led_pins

    def led_lit(self, slot: int) -> bool:
        pin = self._led_pins.get(slot)
        return pin is not None and bool(self.pin_factory.pin(pin).state)

    def lock_released(self, slot: int) -> bool:
        return self.doors[slot].lock_released()

    # --- building ----------------------------------------------------------------------------------

    def _add_module(self, module: ModuleSection) -> None:
        lock = module.lock
        board: SimBoard | None = None
        if isinstance(lock, KerongModuleLock | Board8aModuleLock):
            board = self._add_board(module.name, lock)
        for slot in module.slots:
            reed = None
            if slot.door.pin is not None:
                closed_high = slot.door.closed_level == "high"
                reed = self.pin_factory.pin(slot.door.pin, pin_class=ReedPin, closed_high=closed_high)
            if slot.led_pin is not None:
                self._led_pins[slot.number] = slot.led_pin
            if board is not None and slot.lock.channel is not None:
                channel = slot.lock.channel
                door = SimDoor(slot.number, functools.partial(board.released, channel), reed)
                board.attach(channel, door)  # the lock's feedback switch sees the door whatever else does
                self.boards[slot.number] = board
            elif isinstance(lock, GpioModuleLock) and slot.lock.pin is not None:
                active_high = lock.active_level == "high"
                self._lock_pins[slot.number] = (slot.lock.pin, active_high)
                door = SimDoor(slot.number, functools.partial(self._gpio_released, slot.number), reed)
            else:
                raise ValueError(f"slot {slot.number}: no lock to simulate")
            self.doors[slot.number] = door

    def _add_board(self, module: str, lock: KerongModuleLock | Board8aModuleLock) -> SimBoard:
        bus = self.buses.get(lock.bus)
        if bus is None:
            delay_ms = self._config.sim.buses.get(lock.bus, SimBusSection()).adapter_delay_ms
            bus = BusSim(lock.bus, lock.driver, directory=self._directory, adapter_delay_s=delay_ms / 1000)
            self.buses[lock.bus] = bus
        # The simulated board is wired as its config says; `[sim.modules.NAME]` picks how it behaves.
        variant = self._config.sim.modules.get(module, SimBoardSection())
        options = {
            "answers_unlock": variant.answers_unlock,
            "unlock_reply_s": variant.unlock_reply_ms / 1000,
            "release_s": self._release_s,
        }
        if isinstance(lock, KerongModuleLock):
            return bus.add_board(lock.board, 16, unlocked_bit=lock.unlocked_bit, **options)
        high_is_open = lock.door_feedback == "door_opening"
        return bus.add_board(
            lock.board, lock.channels, high_is_open=high_is_open, state_bytes=variant.state_bytes, **options
        )

    def _gpio_released(self, slot: int) -> bool:
        number, active_high = self._lock_pins[slot]
        pin = self.pin_factory.pin(number)
        # Until the driver claims the pin nothing drives the lock: it stays locked.
        return pin.function == "output" and bool(pin.state) == active_high
