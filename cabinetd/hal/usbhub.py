"""USB port paths and the hub class requests that switch a port's power.

A slot's port is named by its path, `bus-port[.port...]` as in config (`1-1.4`: bus 1, root port 1,
then port 4 of the hub found there). The hub that powers it is the path minus its last number; for a
device on a root port (`1-1`) that is the bus's root hub.

Hub class requests (USB 2.0 §11.24, USB 3.x §10.14): the hub descriptor (type 0x29, 0x2A for a USB 3
hub) says in wHubCharacteristics bits 0-1 whether power is switched per port (01), for all ports at
once (00) or not at all (1x); SET_FEATURE / CLEAR_FEATURE PORT_POWER switch one port; GET_STATUS
reads the port's status word back, whose power bit is 0x0100 on a USB 2 hub and 0x0200 on a USB 3 one.

A USB 3 hub is two hubs on two buses, a USB 2 half and a SuperSpeed half, that share each port's VBUS:
a port loses power only once both halves switched it off. The halves carry the same Container ID in
their BOS descriptor (USB 3.x §9.6.2.3), which is how `companion()` pairs them, as uhubctl does.
Linux also offers each hub port a `disable` file in sysfs (kernel 6.0 and later), through which the
kernel's own hub driver switches the port off and keeps it off.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import usb.core

# bmRequestType values for hub class requests.
HUB_CLASS_IN: Final = 0xA0  # device to host, class, recipient device (the hub)
PORT_CLASS_OUT: Final = 0x23  # host to device, class, recipient other (a port)
PORT_CLASS_IN: Final = 0xA3
# bRequest values.
GET_STATUS: Final = 0
CLEAR_FEATURE: Final = 1
SET_FEATURE: Final = 3
GET_DESCRIPTOR: Final = 6
# Feature selector and descriptor types.
PORT_POWER: Final = 8
HUB_DESCRIPTOR: Final = 0x29
SUPERSPEED_HUB_DESCRIPTOR: Final = 0x2A
BOS_DESCRIPTOR: Final = 0x0F
DEVICE_CAPABILITY: Final = 0x10
CONTAINER_ID_CAPABILITY: Final = 0x04
BOS_MAX: Final = 255
STANDARD_DEVICE_IN: Final = 0x80
# wPortStatus bits.
PORT_CONNECTION: Final = 0x0001
PORT_POWER_BIT_USB2: Final = 0x0100
PORT_POWER_BIT_USB3: Final = 0x0200
# wHubCharacteristics bits 0-1: logical power switching mode.
POWER_SWITCHING_MASK: Final = 0x0003
POWER_SWITCHING_PER_PORT: Final = 0x0001
USB_CLASS_HUB: Final = 0x09
HUB_DESCRIPTOR_MAX: Final = 64

_PATH = re.compile(r"^([1-9][0-9]*)-([1-9][0-9]*(?:\.[1-9][0-9]*)*)$")


@dataclass(frozen=True, order=True)
class PortPath:
    bus: int
    ports: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> PortPath:
        match = _PATH.match(text)
        if match is None:
            raise ValueError(f"not a USB port path like '1-1.4': {text!r}")
        return cls(int(match.group(1)), tuple(int(port) for port in match.group(2).split(".")))

    def __str__(self) -> str:
        if not self.ports:
            return f"usb{self.bus}"  # the root hub, as the kernel names it
        return f"{self.bus}-{'.'.join(str(port) for port in self.ports)}"

    @property
    def hub(self) -> PortPath:
        """Where the hub that powers this port sits (the root hub for a root port)."""
        return PortPath(self.bus, self.ports[:-1])

    @property
    def port(self) -> int:
        return self.ports[-1]

    def matches(self, device: Any) -> bool:
        """Whether a pyusb device sits at this path (a root hub has no port numbers)."""
        return device.bus == self.bus and tuple(device.port_numbers or ()) == self.ports


@dataclass(frozen=True)
class HubDescriptor:
    ports: int
    characteristics: int
    usb3: bool

    @property
    def per_port_power(self) -> bool:
        # A one-port hub that gangs its ports switches that port alone (uhubctl treats it so too).
        return self.switching == "per port"

    @property
    def switching(self) -> str:
        """`per port`, `ganged` (every port at once) or `none` (at most the data lines are cut)."""
        mode = self.characteristics & POWER_SWITCHING_MASK
        if mode == 0 and self.ports == 1:
            return "per port"
        return {0: "ganged", 1: "per port"}.get(mode, "none")

    @property
    def power_bit(self) -> int:
        return PORT_POWER_BIT_USB3 if self.usb3 else PORT_POWER_BIT_USB2


def is_usb3(hub: Any) -> bool:
    return int(hub.bcdUSB) >= 0x0300


def read_hub_descriptor(hub: Any, timeout_ms: int) -> HubDescriptor:
    """Ask a hub for its class descriptor; raises usb.core.USBError, or ValueError if it is short."""
    usb3 = is_usb3(hub)
    kind = SUPERSPEED_HUB_DESCRIPTOR if usb3 else HUB_DESCRIPTOR
    data = bytes(hub.ctrl_transfer(HUB_CLASS_IN, GET_DESCRIPTOR, kind << 8, 0, HUB_DESCRIPTOR_MAX, timeout_ms))
    return parse_hub_descriptor(data, usb3=usb3)


def parse_hub_descriptor(data: bytes, *, usb3: bool) -> HubDescriptor:
    """The fields we use of a hub descriptor; ValueError if it is short or of the wrong type."""
    kind = SUPERSPEED_HUB_DESCRIPTOR if usb3 else HUB_DESCRIPTOR
    if len(data) < 5 or data[1] != kind:
        raise ValueError(f"not a {'USB 3 ' if usb3 else ''}hub descriptor: {data.hex(' ') or 'empty'}")
    return HubDescriptor(ports=data[2], characteristics=int.from_bytes(data[3:5], "little"), usb3=usb3)


def set_port_power(hub: Any, port: int, on: bool, timeout_ms: int) -> None:
    hub.ctrl_transfer(PORT_CLASS_OUT, SET_FEATURE if on else CLEAR_FEATURE, PORT_POWER, port, None, timeout_ms)


def port_status(hub: Any, port: int, timeout_ms: int) -> int:
    """The port's wPortStatus word."""
    data = bytes(hub.ctrl_transfer(PORT_CLASS_IN, GET_STATUS, 0, port, 4, timeout_ms))
    if len(data) != 4:
        raise ValueError(f"port status is {data.hex(' ') or 'empty'}")
    return int.from_bytes(data[0:2], "little")


def read_container_id(device: Any, timeout_ms: int) -> bytes | None:
    """The Container ID a device gives in its BOS descriptor; None if it has none (USB 2 devices, root
    hubs) or does not answer."""
    try:
        bos = BOS_DESCRIPTOR << 8
        head = bytes(device.ctrl_transfer(STANDARD_DEVICE_IN, GET_DESCRIPTOR, bos, 0, 5, timeout_ms))
        if len(head) < 5 or head[1] != BOS_DESCRIPTOR:
            return None
        total = min(int.from_bytes(head[2:4], "little"), BOS_MAX)
        data = bytes(device.ctrl_transfer(STANDARD_DEVICE_IN, GET_DESCRIPTOR, bos, 0, total, timeout_ms))
    except usb.core.USBError:
        return None
    return parse_container_id(data)


def parse_container_id(bos: bytes) -> bytes | None:
    """The 16-byte Container ID among a BOS descriptor's device capabilities, if there is one."""
    offset = bos[0] if bos else 0
    while offset + 3 <= len(bos):
        length, kind, capability = bos[offset], bos[offset + 1], bos[offset + 2]
        if length < 3:
            return None
        if kind == DEVICE_CAPABILITY and capability == CONTAINER_ID_CAPABILITY and length >= 20:
            return bos[offset + 4 : offset + 20]
        offset += length
    return None


@dataclass(frozen=True)
class HubSighting:
    """A hub as the bus lists it: where it is, which half it is, its ports and its Container ID."""

    path: PortPath
    usb3: bool
    ports: int
    container_id: bytes | None


def companion(hub: HubSighting, others: Iterable[HubSighting]) -> HubSighting | None:
    """The other half of a USB 3 hub, or None for a hub that has none.

    The halves differ in speed, have as many ports and, when both give one, the same Container ID;
    root hubs give none, and Linux registers an xHCI controller's USB 3 root hub on the bus after its
    USB 2 one. Among several candidates (hubs of one model share a hard-coded Container ID) the one at
    the same port numbers wins, then the one on the neighbouring bus.
    """
    best: tuple[int, HubSighting] | None = None
    for other in others:
        if other.usb3 == hub.usb3 or other.ports != hub.ports:
            continue
        usb2, usb3 = (other, hub) if hub.usb3 else (hub, other)
        neighbours = usb3.path.bus == usb2.path.bus + 1
        if hub.container_id is None or other.container_id is None:
            if hub.path.ports or other.path.ports or not neighbours:
                continue
        elif hub.container_id != other.container_id:
            continue
        score = 2 * (other.path.ports == hub.path.ports) + neighbours
        if best is None or score > best[0]:
            best = (score, other)
    return None if best is None else best[1]


def sysfs_disable_path(sysfs: Path, hub: PortPath, port: int) -> Path:
    """The kernel's `disable` file of a hub port (Linux 6.0+): `.../1-1:1.0/1-1-port4/disable`, and for
    a root hub `.../1-0:1.0/usb1-port4/disable`. Hubs have one configuration, so the interface is 1.0."""
    interface = f"{hub}:1.0" if hub.ports else f"{hub.bus}-0:1.0"
    return sysfs / "bus" / "usb" / "devices" / interface / f"{hub}-port{port}" / "disable"
