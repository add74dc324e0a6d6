"""Switching one slot port's power: on every half of its hub, read back, with the sysfs fallback.

The hub in front of a slot is found on the bus by its path; a USB 3 hub's other half (`usbhub.companion`)
is switched with it, since a port's VBUS stays on while either half feeds it. Before anything is
switched, every half must declare per-port power switching in its hub descriptor: a hub that gangs its
ports (a Raspberry Pi 4's own four ports) would cut the neighbours too, and one without power switching
only cuts data, so a power cycle there would prove nothing. Both are a `PowerSwitchRefused`.

Each half is switched with the hub class request and read back. When the request fails or the read-back
disagrees (on Linux the kernel's hub driver may power a port back on behind our back), the port's
sysfs `disable` file is written instead, the way the kernel itself keeps a port off, and read back
again. Every failure is a `PortPowerError` naming the slot, its port path and the hub.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import usb.core
import usb.util

from cabinetd.hal import usbhub
from cabinetd.hal.errors import PortPowerError, PowerSwitchRefused
from cabinetd.hal.usbhub import HubDescriptor, HubSighting, PortPath

log = logging.getLogger(__name__)

SYSFS: Final = Path("/sys")


class PortPower:
    """Switches slot ports; `list_devices` lists the bus (pyusb devices), `sysfs` is where /sys is
    (None: no sysfs fallback)."""

    def __init__(self, list_devices: Callable[[], list[Any]], *, timeout_ms: int, sysfs: Path | None) -> None:
        self._list = list_devices
        self._timeout_ms = timeout_ms
        self._sysfs = sysfs

    def switch(self, where: str, path: PortPath, on: bool) -> None:
        """Switch the port at `path` (the slot `where` names) on or off, on every half of its hub."""
        devices = self._list()
        hub = next((d for d in devices if path.hub.matches(d)), None)
        if hub is None:
            raise PortPowerError(f"{where}: hub {path.hub} is not connected")
        halves = [hub]
        try:
            other = self._companion(hub, devices)
            if other is not None:
                halves.append(other)
            descriptors = [self._descriptor(where, half, path.port) for half in halves]
            for half, descriptor in zip(halves, descriptors, strict=True):
                self._switch_half(where, half, descriptor, path.port, on)
        finally:
            for half in halves:
                usb.util.dispose_resources(half)
        both = " on both halves of its USB 3 hub" if len(halves) > 1 else ""
        log.info("%s: port power %s%s", where, "on" if on else "off", both)

    # --- finding the halves ---------------------------------------------------------------------------

    def _sighting(self, hub: Any) -> HubSighting | None:
        try:
            descriptor = usbhub.read_hub_descriptor(hub, self._timeout_ms)
        except (usb.core.USBError, ValueError):
            return None
        container = usbhub.read_container_id(hub, self._timeout_ms)
        return HubSighting(_path_of(hub), descriptor.usb3, descriptor.ports, container)

    def _companion(self, hub: Any, devices: list[Any]) -> Any:
        mine = self._sighting(hub)
        if mine is None:
            return None  # its descriptor is read again below, and that failure is reported there
        others = {}
        for device in devices:
            if int(device.bDeviceClass) != usbhub.USB_CLASS_HUB or device is hub:
                continue
            if usbhub.is_usb3(device) == mine.usb3:
                continue
            sighting = self._sighting(device)
            usb.util.dispose_resources(device)
            if sighting is not None:
                others[sighting] = device
        found = usbhub.companion(mine, others)
        return None if found is None else others[found]

    # --- one half ---------------------------------------------------------------------------------------

    def _descriptor(self, where: str, hub: Any, port: int) -> HubDescriptor:
        name = _path_of(hub)
        try:
            descriptor = usbhub.read_hub_descriptor(hub, self._timeout_ms)
        except (usb.core.USBError, ValueError) as error:
            raise PortPowerError(f"{where}: hub {name} did not give its hub descriptor: {error}") from None
        if not descriptor.per_port_power:
            switching = "ganged switching" if descriptor.switching == "ganged" else "no power switching"
            raise PowerSwitchRefused(
                f"{where}: hub {name} cannot switch power per port "
                f"(wHubCharacteristics 0x{descriptor.characteristics:04X}: {switching})",
                hub=str(name),
                switching=descriptor.switching,
            )
        if port > descriptor.ports:
            raise PortPowerError(f"{where}: hub {name} has only {descriptor.ports} ports")
        return descriptor

    def _switch_half(self, where: str, hub: Any, descriptor: HubDescriptor, port: int, on: bool) -> None:
        name, word = _path_of(hub), "on" if on else "off"
        disable = None if self._sysfs is None else usbhub.sysfs_disable_path(self._sysfs, name, port)
        if disable is not None and on and _reads(disable) == "1":
            self._write_disable(where, name, disable, on)  # a port the kernel keeps off stays off otherwise
        try:
            usbhub.set_port_power(hub, port, on, self._timeout_ms)
            status: int | None = usbhub.port_status(hub, port, self._timeout_ms)
            problem = ""
        except (usb.core.USBError, ValueError) as error:
            status, problem = None, f"did not switch port power {word}: {error}"
        if status is not None and bool(status & descriptor.power_bit) != on:
            problem = f"reads port power {'off' if on else 'on'} after switching it {word} (status 0x{status:04X})"
        if not problem:
            return
        if disable is None or not disable.exists():
            raise PortPowerError(f"{where}: hub {name} {problem}")
        log.warning("%s: hub %s %s; switching it through %s", where, name, problem, disable)
        self._write_disable(where, name, disable, on)
        try:
            status = usbhub.port_status(hub, port, self._timeout_ms)
        except (usb.core.USBError, ValueError) as error:
            raise PortPowerError(f"{where}: hub {name} did not give port status after {disable}: {error}") from None
        if bool(status & descriptor.power_bit) != on:
            raise PortPowerError(
                f"{where}: hub {name} {problem}, and still after writing {disable} (status 0x{status:04X})"
            )

    @staticmethod
    def _write_disable(where: str, hub: PortPath, disable: Path, on: bool) -> None:
        try:
            disable.write_text("0" if on else "1", encoding="ascii")
        except OSError as error:
            raise PortPowerError(f"{where}: hub {hub}: cannot write {disable}: {error.strerror}") from None


def _path_of(device: Any) -> PortPath:
    return PortPath(int(device.bus), tuple(device.port_numbers or ()))


def _reads(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return None
