"""The interfaces between the cabinet's hardware and the rest of the daemon.

Drivers run their blocking I/O in threads, but never touch daemon state from there: every fact they
observe becomes a `HardwareEvent` handed to the `EventSink` on the event loop's thread
(`loop.call_soon_threadsafe`). Calls into a driver (`unlock`, `set_power`, ...) are coroutines awaited
on the loop.

Facts and commands are kept apart: "unlock sent" is not "door opened". How long a rent or return
waits for the door after its unlock is that flow's deadline (docs/slot-states.md), not a fact.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cabinetd.hal.agentprotocol import AppPackage, Hello, ProvisionReport, SelftestReport, SessionEnded, UsageReport
from cabinetd.hal.errors import LinkError
from cabinetd.lifecycle import Subsystem

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
class BadgeRead:
    badge: str  # the one id per card, in the configured form (cabinetproto.badges.Badge.id_text)
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
    | BadgeRead
    | DevicePlugged
    | DeviceUnplugged
    | PartStateChanged
)
EventSink = Callable[[HardwareEvent], None]


def post_from_thread(loop: asyncio.AbstractEventLoop | None, sink: EventSink, event: HardwareEvent) -> None:
    """A driver thread's one way to hand a fact to the loop; a loop that is gone (shutdown) drops it."""
    if loop is None or loop.is_closed():
        return
    with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
        loop.call_soon_threadsafe(sink, event)


@dataclass(frozen=True)
class PartState:
    """What a technician sees of one reader, lock board or hub."""

    part: str
    connected: bool
    since: datetime
    detail: str = ""
    counters: tuple[tuple[str, int], ...] = ()


class PortRecovery(enum.Enum):
    """How `SlotPorts.recover` ended."""

    ANSWERING = "answering"  # the device answered: nothing was done
    RECOVERED = "recovered"  # its port was power-cycled and the device answers again
    UNRESPONSIVE = "unresponsive"  # power-cycled (now, or once already) and still silent
    GONE = "gone"  # no device on the port, before or after the cycle


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

    def set_led(self, slot: int, on: bool) -> None:
        """Light or darken the slot's LED (shows a person which door to use); a no-op without one."""

    def has_led(self, slot: int) -> bool:
        """Whether the slot has an LED this bank drives (the kiosk then says "the blinking light")."""
        return False

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
        """Power off, see the device leave, wait, power on, see it come back; returns what came back (None
        for a port that was empty). PowerSwitchRefused where the hub cannot switch the port alone,
        PowerCycleIncomplete when the device did not leave or did not come back."""

    @abstractmethod
    async def recover(self, slot: int) -> PortRecovery:
        """Check that the slot's device answers; if not, power-cycle its port, once per device plugged in.
        A hub that cannot cycle the port raises its PortPowerError: the caller judges the silent device."""

    def parts(self) -> list[PartState]:
        return []


@dataclass(frozen=True)
class DeviceRefresh:
    """One periodic look at a slot's device: its `hello`, or why there was none."""

    slot: int
    hello: Hello | None
    error: LinkError | None


DeviceRefreshSink = Callable[[DeviceRefresh], None]
# The link a slot's device speaks, as its device model names it (cabinetproto.links).
LinkOf = Callable[[int], str]


class DeviceLink(Subsystem):
    """The handheld in each slot: identity and resources (`hello`), provisioning, self-test, usage and
    the end of a session, over the link its device model names (`aoa-agent`: the agent app of
    docs/device-protocol.md; `adb`: stock Android, docs/device-adb.md). The flows do not know which.

    Every request is bounded by the configured device request timeout and fails with a `LinkError`.
    While a slot is watched, its device is asked for `hello` at every refresh interval and each
    outcome goes to the `DeviceRefreshSink` on the event loop (battery and health feed the charging →
    ready decision).
    """

    slots: tuple[int, ...] = ()

    def choose_by(self, link_of: LinkOf) -> None:
        """Where a slot's link comes from (the fleet data); a link of one kind only has nothing to choose."""

    @abstractmethod
    def watch(self, slot: int) -> None:
        """A device sits in the slot: start refreshing it (a no-op if already watched)."""

    @abstractmethod
    def unwatch(self, slot: int) -> None:
        """The device left: stop refreshing and forget the link to it."""

    @abstractmethod
    async def hello(self, slot: int) -> Hello:
        """Identity, battery, storage and the work type the device is provisioned for."""

    @abstractmethod
    async def selftest(self, slot: int, *, since: datetime | None = None) -> SelftestReport:
        """Run the device's self-test; the report says which checks failed and why. `since` is when the
        rental began, for the checks that count what happened during it (the device's boot when None)."""

    @abstractmethod
    async def provision(
        self,
        slot: int,
        work_type: str,
        apps: Sequence[AppPackage],
        *,
        home_app: str | None = None,
        others: Sequence[str] = (),
    ) -> ProvisionReport:
        """Install or enable the work type's apps and launch its home app (default: the first app);
        `others` are other work types' apps, to disable where the link and the device allow it.

        Idempotent: asking again for what the device already has changes nothing.
        """

    @abstractmethod
    async def usage(self, slot: int, since: datetime) -> UsageReport:
        """How the device was used since `since` (timezone-aware)."""

    @abstractmethod
    async def end_session(self, slot: int, *, clear: Sequence[str] = ()) -> SessionEnded:
        """Sign the staff member out and clear their session data; `clear` are the work apps whose data
        goes (the agent link's agent knows its own)."""
