"""Slot USB ports over pyusb: presence and identity of the device in each slot, per-port power.

A polling thread lists the bus every `usb.poll_s` and matches devices to slots by bus and port path;
it posts `DevicePlugged` / `DeviceUnplugged` for changes and `PartStateChanged` when a hub goes or
comes back. Power is switched with hub class requests and read back (see `usbhub`); a hub whose
descriptor does not declare per-port switching gets a `PortPowerError` instead of a guess.

A device swapped for another between two polls is posted as an unplug and a plug. A power cycle the
driver makes itself is not: the slot's device did not leave; only a different identity afterwards
(or no device at all) is posted.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Final

import usb.backend.libusb1
import usb.core
import usb.util

from cabinetd.clock import Clock
from cabinetd.config import CabinetConfig
from cabinetd.hal import usbhub
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
from cabinetd.hal.errors import DriverError, PortPowerError
from cabinetd.hal.usbhub import PortPath
from cabinetd.hal.wiring import PortsWiring

log = logging.getLogger(__name__)

# A control request a healthy device or hub answers in a few milliseconds.
REQUEST_TIMEOUT_MS: Final = 250
# How often a power cycle looks for the device leaving and coming back.
WAIT_STEP_S: Final = 0.02

def read_identity(device: Any, timeout_ms: int = REQUEST_TIMEOUT_MS) -> UsbIdentity:
    """Vendor, product and serial number; a device that does not answer gets serial None."""
    serial: str | None = None
    if device.iSerialNumber:
        device.default_timeout = timeout_ms
        try:
            serial = usb.util.get_string(device, device.iSerialNumber)
        except (usb.core.USBError, ValueError) as error:
            # pyusb turns a failed language list into ValueError("The device has no langid ...").
            log.warning(
                "USB %04X:%04X at bus %s address %s did not give its serial number: %s",
                device.idVendor,
                device.idProduct,
                device.bus,
                device.address,
                error,
            )
        finally:
            usb.util.dispose_resources(device)
    return UsbIdentity(vendor_id=int(device.idVendor), product_id=int(device.idProduct), serial=serial)


def answers(device: Any, timeout_ms: int = REQUEST_TIMEOUT_MS) -> bool | None:
    """Whether a device answers a standard GET_STATUS: True, False (times out), None (it left)."""
    try:
        device.ctrl_transfer(0x80, usbhub.GET_STATUS, 0, 0, 2, timeout_ms)
        return True
    except usb.core.USBTimeoutError:
        return False
    except usb.core.USBError as error:
        # A stall is still an answer; anything else but a vanished device counts as silence.
        if error.errno == 32:  # EPIPE
            return True
        return None if error.errno == 19 else False  # ENODEV
    finally:
        usb.util.dispose_resources(device)


def same_device(before: UsbIdentity, after: UsbIdentity) -> bool:
    """Whether two sightings on one port can be the same device (a serial may have been unreadable).

    A known serial decides: a handheld switching to accessory mode re-enumerates with another vendor and
    product id but keeps its serial, and must not pass for a device taken out and another put in.
    """
    if before.serial is not None and after.serial is not None:
        return before.serial == after.serial
    return (before.vendor_id, before.product_id) == (after.vendor_id, after.product_id)


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
        # A first look before returning, so that present() is right for the controller's reconciliation;
        # what is there now is state, not news, so it is not posted.
        await asyncio.to_thread(self._poll_once, False)
        self._stop.clear()
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

    def _thread_main(self) -> None:
        try:
            while not self._stop.wait(self._poll_s):
                self.tick()
                self._poll_once(True)
        except BaseException as error:
            self._thread_error = error
            log.exception("slot USB ports: polling thread failed")
            raise

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
        with self._lock:
            for slot, identity in found.items():
                if slot in self._busy or self._epoch[slot] != epochs[slot]:
                    continue  # a power cycle owns this slot, or ended while we looked
                self._settle(slot, identity, report)
        for hub in self._hubs:
            self._hub_seen(hub, hub in at, report)

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
        path = self._paths[slot]
        where, hub_path = self._where(slot), path.hub
        hub = self._find(hub_path)
        if hub is None:
            raise PortPowerError(f"{where}: hub {hub_path} is not connected")
        try:
            try:
                descriptor = usbhub.read_hub_descriptor(hub, REQUEST_TIMEOUT_MS)
            except (usb.core.USBError, ValueError) as error:
                raise PortPowerError(f"{where}: hub {hub_path} did not give its hub descriptor: {error}") from None
            if not descriptor.per_port_power:
                raise PortPowerError(
                    f"{where}: hub {hub_path} cannot switch power per port "
                    f"(wHubCharacteristics 0x{descriptor.characteristics:04X}: {descriptor.switching} switching)"
                )
            if path.port > descriptor.ports:
                raise PortPowerError(f"{where}: hub {hub_path} has only {descriptor.ports} ports")
            word = "on" if on else "off"
            try:
                usbhub.set_port_power(hub, path.port, on, REQUEST_TIMEOUT_MS)
                status = usbhub.port_status(hub, path.port, REQUEST_TIMEOUT_MS)
            except (usb.core.USBError, ValueError) as error:
                raise PortPowerError(f"{where}: hub {hub_path} did not switch port power {word}: {error}") from None
            if bool(status & descriptor.power_bit) != on:
                raise PortPowerError(
                    f"{where}: hub {hub_path} reads port power {'on' if not on else 'off'} "
                    f"after switching it {word} (status 0x{status:04X})"
                )
            log.info("%s: port power %s", where, word)
        finally:
            usb.util.dispose_resources(hub)

    def _wait_for(self, path: PortPath, present: bool) -> Any:
        # Real time, not the clock: this worker thread sleeps while a real (or emulated) hub enumerates.
        deadline = time.monotonic() + self._enumerate_s
        while True:
            device = self._find(path)
            if (device is not None) == present or time.monotonic() >= deadline or self._stop.is_set():
                return device
            time.sleep(WAIT_STEP_S)

    def _cycle(self, slot: int) -> UsbIdentity | None:
        path = self._paths[slot]
        with self._lock:
            if slot in self._busy:
                raise PortPowerError(f"{self._where(slot)}: a power cycle is already running")
            self._busy.add(slot)
        done = False
        after: UsbIdentity | None = None
        try:
            self._switch(slot, False)
            try:
                self._wait_for(path, present=False)
                self._stop.wait(self._power_off_s)
            finally:
                self._switch(slot, True)
            device = self._wait_for(path, present=True)
            after = read_identity(device) if device is not None else None
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

    def _recover(self, slot: int) -> PortRecovery:
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
        if self._cycle(slot) is None:
            log.warning("%s: no device came back after the power cycle", where)
            return PortRecovery.GONE
        device = self._find(self._paths[slot])
        result = PortRecovery.RECOVERED if device is not None and answers(device) else PortRecovery.UNRESPONSIVE
        log.warning("%s: after the power cycle the device is %s", where, result.value)
        return result


def slot_port_paths(config: CabinetConfig) -> dict[int, str]:
    return {slot.number: slot.usb_port for _, slot in config.slots()}


def build_pyusb_ports(config: CabinetConfig, wiring: PortsWiring) -> SlotPorts:
    """The registry's builder for `usb.type = "pyusb"` (drivers.py)."""
    return PyusbSlotPorts(
        ports=slot_port_paths(config),
        sink=wiring.sink,
        poll_s=config.usb.poll_s,
        backend=wiring.backend,
        power_off_s=wiring.power_off_s,
        enumerate_s=wiring.enumerate_s,
        clock=wiring.clock,
    )
