"""The interfaces between the cabinet's hardware and the rest of the daemon.

Drivers run their blocking I/O in threads, but never touch daemon state from there: every fact they
observe becomes a `HardwareEvent` handed to the `EventSink` on the event loop's thread
(`loop.call_soon_threadsafe`). Calls into a driver (`unlock`, `set_power`, ...) are coroutines awaited
on the loop.

Facts and commands are kept apart: "unlock sent" is not "door opened"; a door that does not open
within its timeout is reported as `DoorNotOpened`, never as an open door.
"""

from __future__ import annotations

import enum
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cabinetd.lifecycle import Subsystem


class HardwareError(Exception):
    """A driver could not do what it was asked; the message names the slot, board or port."""


class LockFault(HardwareError):
    """A lock or its board did not take a command (after retries)."""


class PortPowerError(HardwareError):
    """A hub cannot switch the power of a slot's USB port."""


# --- facts, posted by drivers ------------------------------------------------------------------


@dataclass(frozen=True)
class UnlockSent:
    slot: int


@dataclass(frozen=True)
class DoorOpened:
    slot: int


@dataclass(frozen=True)
class DoorClosed:
    slot: int


@dataclass(frozen=True)
class DoorNotOpened:
    """The unlock pulse went out but the door did not open within the timeout."""

    slot: int


@dataclass(frozen=True)
class BadgeRead:
    badge: str  # canonical form: upper-case hex, no separators
    reader: str


@dataclass(frozen=True)
class UsbIdentity:
    vendor_id: int
    product_id: int
    serial: str | None


@dataclass(frozen=True)
class DevicePlugged:
    slot: int
    identity: UsbIdentity


@dataclass(frozen=True)
class DeviceUnplugged:
    slot: int


@dataclass(frozen=True)
class PartStateChanged:
    """A reader, lock board or hub went away or came back; technicians see this."""

    part: str
    connected: bool
    detail: str


HardwareEvent = (
    UnlockSent
    | DoorOpened
    | DoorClosed
    | DoorNotOpened
    | BadgeRead
    | DevicePlugged
    | DeviceUnplugged
    | PartStateChanged
)
EventSink = Callable[[HardwareEvent], None]


@dataclass(frozen=True)
class PartState:
    """What a technician sees of one reader, lock board or hub."""

    part: str
    connected: bool
    since: datetime
    detail: str = ""
    counters: tuple[tuple[str, int], ...] = ()


class LockState(enum.Enum):
    LOCKED = "locked"
    RELEASED = "released"
    UNKNOWN = "unknown"


# --- interfaces ---------------------------------------------------------------------------------


class LockBank(Subsystem):
    """The locks of one module, addressed by cabinet-wide slot number."""

    slots: tuple[int, ...] = ()

    @abstractmethod
    async def unlock(self, slot: int) -> None:
        """Fire the slot's unlock pulse (even if its door already reads open) and post `UnlockSent`.

        Raises LockFault naming the slot when the board did not confirm after its retries.
        """

    @abstractmethod
    def lock_state(self, slot: int) -> LockState:
        """The last known lock state, from board feedback where there is any."""

    @abstractmethod
    async def lock_all(self) -> None:
        """Command every lock locked (release any held output); used at start and at shutdown."""

    def parts(self) -> list[PartState]:
        """Boards behind this bank, for technicians; GPIO banks have none."""
        return []


class DoorSensors(Subsystem):
    """The door switches of one module; posts `DoorOpened` / `DoorClosed` after debouncing."""

    slots: tuple[int, ...] = ()

    @abstractmethod
    def is_open(self, slot: int) -> bool | None:
        """True when the door reads open, None when it cannot be read (its board is silent)."""


class BadgeReader(Subsystem):
    """Posts one `BadgeRead` per badge presented; the same badge within the repeat window is one read."""

    @abstractmethod
    def state(self) -> PartState:
        """Connected or disconnected since when, and frame counters."""


class SlotPorts(Subsystem):
    """The USB port behind each slot: presence, identity, per-port power."""

    slots: tuple[int, ...] = ()

    @abstractmethod
    def present(self, slot: int) -> UsbIdentity | None:
        """The device on the slot's port, as last seen."""

    @abstractmethod
    async def set_power(self, slot: int, on: bool) -> None:
        """Switch the slot port's power and read it back; PortPowerError if the hub cannot."""

    @abstractmethod
    async def power_cycle(self, slot: int) -> UsbIdentity | None:
        """Power off, wait, power on, wait for re-enumeration; returns what came back (or None)."""

    def parts(self) -> list[PartState]:
        return []
