"""Slot USB ports over pyusb: presence and identity of the device in each slot, per-port power.

A thread lists the bus and matches devices to slots by bus and port path: when udev says a USB device
came or went (`usbevents`), and every RESYNC_S besides; where udev is not there, every `usb.poll_s`.
It posts `DevicePlugged` / `DeviceUnplugged` for changes and `PartStateChanged` when a hub goes or
comes back. Power is switched on every half of the slot's hub and read back (`portpower`); a hub that
cannot switch the port alone gets a `PowerSwitchRefused` instead of a guess.

A device swapped for another between two listings is posted as an unplug and a plug. A power cycle
the driver makes itself is not: only a different identity afterwards (or no device) is posted. It
checks that the device left the bus and came back; a `PowerCycleIncomplete` says which did not.
"""

from __future__ import annotations

import asyncio
import logging
import select
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import usb.backend.libusb1
import usb.core

from cabinetd.clock import Clock
from cabinetd.config import CabinetConfig
from cabinetd.hal import usbevents
from cabinetd.hal.base import (
    DevicePlugged,
    DeviceUnplugged,
    EventSink,
    HardwareEvent,
    PartState,
    PartStateChanged,
    PortRecovery,
    SlotPorts,
    UsbIdentity,
    post_from_thread,
)
from cabinetd.hal.errors import DriverError, PortPowerError, PowerCycleIncomplete, PowerSwitchRefused
from cabinetd.hal.portpower import SYSFS, PortPower
from cabinetd.hal.usbhub import PortPath
from cabinetd.hal.usbidentity import REQUEST_TIMEOUT_MS, answers, read_identity, same_device
from cabinetd.hal.wiring import PortsWiring

log = logging.getLogger(__name__)

# How often a power cycle looks for the device leaving and coming back.
WAIT_STEP_S: Final = 0.02
# With udev: how often the bus is listed anyway, in case the kernel dropped an event (a full buffer).
RESYNC_S: Final = 5.0
# How long the thread sleeps at most between two heartbeats while no event comes.
TICK_S: Final = 1.0


class PyusbSlotPorts(SlotPorts):
    name = "slot-ports"

    def __init__(
        self,
        *,
        ports: Mapping[int, str],
        sink: EventSink,
        poll_s: float,
        backend: Any = None,
        power_off_s: float = 1.0,
        enumerate_s: float = 5.0,
        clock: Clock | None = None,
        udev_monitor: Any = None,
        sysfs: Path | None = None,
    ) -> None:
        super().__init__()
        self.slots = tuple(sorted(ports))
        self.stall_after_s = max(10.0, 20 * poll_s)
        self._paths = {slot: PortPath.parse(path) for slot, path in ports.items()}
        self._hubs = sorted({path.hub for path in self._paths.values()})
        self._sink = sink
        self._poll_s = poll_s
        self._backend = backend
        self._power_off_s = power_off_s
        self._enumerate_s = enumerate_s
        self._clock = clock or Clock()  # wall time for a hub's `since`
        self._monitor = udev_monitor  # None: udev's own where it runs (real buses only), else polling
        # The kernel's sysfs belongs to the real bus: an emulated one has none unless a test gives it.
        if sysfs is None and backend is None:
            sysfs = SYSFS
        self._power = PortPower(self._list, timeout_ms=REQUEST_TIMEOUT_MS, sysfs=sysfs)
        self._wake_r, self._wake_w = socket.socketpair()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._thread_error: BaseException | None = None
        self._stop = threading.Event()
        # Shared by the polling thread and the power calls' worker threads.
        self._lock = threading.Lock()
        self._seen: dict[int, UsbIdentity | None] = dict.fromkeys(self.slots)
        self._busy: set[int] = set()  # slots whose port this driver is cycling
        self._epoch: dict[int, int] = dict.fromkeys(self.slots, 0)  # bumped when a cycle ends
        self._cycled: set[int] = set()  # slots power-cycled by recover() since the device went in
        self._identities: dict[tuple[int, ...], UsbIdentity] = {}  # by _key()
        started = self._clock.now()
        self._hub_state = {hub: PartState(f"USB hub {hub}", False, started, "not seen yet") for hub in self._hubs}

    # --- life cycle ----------------------------------------------------------------------------------

    async def prepare(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._backend is None:
            self._backend = usb.backend.libusb1.get_backend()
            if self._backend is None:
                raise DriverError("usb.type", "pyusb", "libusb-1.0 is not installed (Debian: libusb-1.0-0)")
            if self._monitor is None:
                # Only a real bus: udev's events on an emulated one would be another machine's.
                self._monitor = usbevents.open_udev_monitor()
        # A first look before returning, so that present() is right for the controller's reconciliation;
        # what is there now is state, not news, so it is not posted.
        await asyncio.to_thread(self._poll_once, False)
        self._stop.clear()
        self._wake_r.setblocking(False)
        try:
            while self._wake_r.recv(64):  # a wake-up left by an earlier cleanup()
                pass
        except BlockingIOError:
            pass
        self._thread = threading.Thread(target=self._thread_main, name="slot USB ports", daemon=True)
        self._thread.start()

    async def run(self) -> None:
        while True:
            thread = self._thread
            if thread is None or not thread.is_alive():
                raise RuntimeError("slot USB ports: polling thread ended") from self._thread_error
            await asyncio.sleep(0.5)

    async def cleanup(self) -> None:
        self._stop.set()
        self._wake_w.send(b"\0")
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join, 5.0)

    def present(self, slot: int) -> UsbIdentity | None:
        return self._seen[slot]

    def parts(self) -> list[PartState]:
        return [self._hub_state[hub] for hub in self._hubs]

    async def set_power(self, slot: int, on: bool) -> None:
        await asyncio.to_thread(self._switch, slot, on)

    async def power_cycle(self, slot: int) -> UsbIdentity | None:
        return await asyncio.to_thread(self._cycle, slot)

    async def recover(self, slot: int) -> PortRecovery:
        return await asyncio.to_thread(self._recover, slot)

    # --- polling ----------------------------------------------------------------------------------------

    def _post(self, event: HardwareEvent) -> None:
        post_from_thread(self._loop, self._sink, event)

    @property
    def plug_events(self) -> str:
        """Where plug events come from: "udev", or "polling" every `usb.poll_s`."""
        return "polling" if self._monitor is None else "udev"

    def _thread_main(self) -> None:
        try:
            if self._monitor is not None:
                self._follow_udev()  # until cleanup(), or udev stops
            while self._monitor is None and not self._stop.wait(self._poll_s):
                self.tick()
                self._poll_once(True)
        except BaseException as error:
            self._thread_error = error
            log.exception("slot USB ports: polling thread failed")
            raise

    def _follow_udev(self) -> None:
        listed = time.monotonic()
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._monitor, self._wake_r], [], [], TICK_S)
            except (OSError, ValueError) as error:  # the monitor's socket was closed under us
                self._udev_stopped(error)
                return
            if self._wake_r in ready:
                return  # cleanup()
            self.tick()
            changed = self._monitor in ready
            if changed:
                try:
                    usbevents.drain(self._monitor)
                except ValueError as error:  # closed between the select and the read
                    self._udev_stopped(error)
                    return
                except OSError as error:
                    log.warning("slot USB ports: udev events were lost (%s); listing the bus", error)
            if changed or time.monotonic() - listed >= RESYNC_S:
                listed = time.monotonic()
                self._poll_once(True)

    def _udev_stopped(self, error: Exception) -> None:
        if not self._stop.is_set():
            log.warning("slot USB ports: udev events stopped (%s); polling the bus from now on", error)
            self._monitor = None

    def _list(self) -> list[Any]:
        return list(usb.core.find(find_all=True, backend=self._backend))

    @staticmethod
    def _key(device: Any) -> tuple[int, ...]:
        """One enumeration of one device: its serial is read once per key, not on every poll."""
        ports = tuple(device.port_numbers or ())
        return (int(device.bus), int(device.address), int(device.idVendor), int(device.idProduct), *ports)

    def _poll_once(self, report: bool) -> None:
        epochs = dict(self._epoch)
        try:
            devices = self._list()
        except usb.core.USBError as error:
            log.warning("slot USB ports: listing the bus failed: %s", error)
            return
        at = {PortPath(int(d.bus), tuple(d.port_numbers or ())): d for d in devices}
        found: dict[int, UsbIdentity | None] = {}
        for slot, path in self._paths.items():
            device = at.get(path)
            if device is None:
                found[slot] = None
                continue
            key = self._key(device)
            if key not in self._identities:
                self._identities[key] = read_identity(device)
            found[slot] = self._identities[key]
        live = {self._key(d) for d in devices}
        for key in [key for key in self._identities if key not in live]:
            del self._identities[key]
        # A hub that came back is news before the devices in it, one that went after them: whoever
        # reads the hub's state on a device's event finds it as the event says.
        for hub in self._hubs:
            if hub in at:
                self._hub_seen(hub, True, report)
        with self._lock:
            for slot, identity in found.items():
                if slot in self._busy or self._epoch[slot] != epochs[slot]:
                    continue  # a power cycle owns this slot, or ended while we looked
                self._settle(slot, identity, report)
        for hub in self._hubs:
            if hub not in at:
                self._hub_seen(hub, False, report)

    def _settle(self, slot: int, identity: UsbIdentity | None, report: bool) -> None:
        """Record what is on a slot's port now; the lock is held."""
        before = self._seen[slot]
        if identity == before:
            return
        self._seen[slot] = identity
        if before is not None and (identity is None or not same_device(before, identity)):
            self._cycled.discard(slot)  # a person took the device out: the next one gets its own cycle
            log.info("slot %s: device %s unplugged", slot, before)
            if report:
                self._post(DeviceUnplugged(slot))
        if identity is not None:
            log.info("slot %s: device %s at USB %s", slot, identity, self._paths[slot])
            if report:
                self._post(DevicePlugged(slot, identity))

    def _hub_seen(self, hub: PortPath, connected: bool, report: bool) -> None:
        state = self._hub_state[hub]
        if connected == state.connected and state.detail != "not seen yet":
            return
        detail = "" if connected else "not on the bus"
        self._hub_state[hub] = PartState(state.part, connected, self._clock.now(), detail)
        if connected:
            log.info("%s: connected", state.part)
        else:
            log.warning("%s: not on the bus; its slots read empty", state.part)
        if report:
            self._post(PartStateChanged(state.part, connected, detail))

    # --- power (worker threads) -------------------------------------------------------------------

    def _find(self, path: PortPath) -> Any:
        return next((d for d in self._list() if path.matches(d)), None)

    def _where(self, slot: int) -> str:
        return f"slot {slot} (USB {self._paths[slot]})"

    def _switch(self, slot: int, on: bool) -> None:
        self._power.switch(self._where(slot), self._paths[slot], on)

    def _wait_for(self, path: PortPath, present: bool) -> Any:
        # Real time, not the clock: this worker thread sleeps while a real (or emulated) hub enumerates.
        deadline = time.monotonic() + self._enumerate_s
        while True:
            device = self._find(path)
            if (device is not None) == present or time.monotonic() >= deadline or self._stop.is_set():
                return device
            time.sleep(WAIT_STEP_S)

    def _cycle(self, slot: int) -> UsbIdentity | None:
        with self._lock:
            if slot in self._busy:
                raise PortPowerError(f"{self._where(slot)}: a power cycle is already running")
            self._busy.add(slot)
        done = False
        after: UsbIdentity | None = None
        try:
            after = self._off_and_on(slot)
            done = True
            log.info("%s: power-cycled; back: %s", self._where(slot), after)
            return after
        finally:
            with self._lock:
                self._busy.discard(slot)
                self._epoch[slot] += 1
                if done:
                    self._settle(slot, after, True)
                # Otherwise the next poll says what is on the port now.

    def _off_and_on(self, slot: int) -> UsbIdentity | None:
        """Switch off, see the device leave, wait, switch on, see it come back; None for an empty port."""
        path, where = self._paths[slot], self._where(slot)
        was_there = self._find(path) is not None
        self._switch(slot, False)
        try:
            still = self._wait_for(path, present=False)
            if still is not None:
                raise PowerCycleIncomplete(
                    f"{where}: the device did not leave the bus within {self._enumerate_s:g} s of its port "
                    f"being switched off; hub {path.hub} reads the port off but does not cut it",
                    left=False,
                    came_back=False,
                )
            self._stop.wait(self._power_off_s)
        finally:
            self._switch(slot, True)
        device = self._wait_for(path, present=True)
        if device is None and was_there:
            raise PowerCycleIncomplete(
                f"{where}: the device left the bus but did not come back within {self._enumerate_s:g} s "
                "of its port being switched on",
                left=True,
                came_back=False,
            )
        return None if device is None else read_identity(device)

    def _recover(self, slot: int) -> PortRecovery:
        """Raises PowerSwitchRefused where the hub cannot cycle the port alone: the silent device is then
        judged on its silence, by the caller, with the reason as evidence."""
        where = self._where(slot)
        device = self._find(self._paths[slot])
        state = None if device is None else answers(device)
        if state is None:
            return PortRecovery.GONE
        if state:
            return PortRecovery.ANSWERING
        with self._lock:
            spent = slot in self._cycled
            self._cycled.add(slot)
        if spent:
            log.warning("%s: device does not answer and was already power-cycled once", where)
            return PortRecovery.UNRESPONSIVE
        log.warning("%s: device does not answer; power-cycling its port once", where)
        try:
            self._cycle(slot)
        except PowerSwitchRefused:
            with self._lock:
                self._cycled.discard(slot)  # nothing was tried: the same answer next time
            raise
        except PowerCycleIncomplete as error:
            if error.left:
                log.warning("%s", error)
                return PortRecovery.GONE
            raise
        device = self._find(self._paths[slot])
        result = PortRecovery.RECOVERED if device is not None and answers(device) else PortRecovery.UNRESPONSIVE
        log.warning("%s: after the power cycle the device is %s", where, result.value)
        return result


def build_pyusb_ports(config: CabinetConfig, wiring: PortsWiring) -> SlotPorts:
    """The registry's builder for `usb.type = "pyusb"` (drivers.py)."""
    return PyusbSlotPorts(
        ports={slot.number: slot.usb_port for _, slot in config.slots()},
        sink=wiring.sink,
        poll_s=config.usb.poll_s,
        backend=wiring.backend,
        power_off_s=wiring.power_off_s,
        enumerate_s=wiring.enumerate_s,
        clock=wiring.clock,
        udev_monitor=wiring.udev_monitor,
        sysfs=wiring.sysfs,
    )
