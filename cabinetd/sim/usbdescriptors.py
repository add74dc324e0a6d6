"""What a simulated USB device says on the wire: setup packets, descriptors, and how a request fails.

The records here (`Setup`, `Interface`, `Endpoint`) and the two failures (`Stall`: the device refuses a
request; `Gone`: it lost power while the host waited) are shared by the device models (usbdevices.py,
handheld.py) and the pyusb backend (usbbus.py); they know nothing of either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DEVICE_DESCRIPTOR: Final = 1
CONFIGURATION_DESCRIPTOR: Final = 2
STRING_DESCRIPTOR: Final = 3
INTERFACE_DESCRIPTOR: Final = 4
ENDPOINT_DESCRIPTOR: Final = 5
LANGID_EN_US: Final = 0x0409
BULK: Final = 0x02
INTERRUPT: Final = 0x03
SPEED_HIGH: Final = 3
SPEED_SUPER: Final = 4


class Stall(Exception):
    """The device answered a control request with STALL: it does not support it."""


class Gone(Exception):
    """The device lost power or was unplugged while the host waited on it."""


@dataclass(frozen=True)
class Setup:
    """A control request's setup packet."""

    request_type: int
    request: int
    value: int
    index: int
    length: int

    @property
    def device_to_host(self) -> bool:
        return bool(self.request_type & 0x80)

    @property
    def kind(self) -> int:
        """0 standard, 1 class, 2 vendor."""
        return (self.request_type >> 5) & 0x3


@dataclass(frozen=True)
class Endpoint:
    address: int
    attributes: int = BULK
    max_packet: int = 512
    interval: int = 0

    def descriptor(self) -> bytes:
        return bytes([7, ENDPOINT_DESCRIPTOR, self.address, self.attributes]) + bytes(
            [self.max_packet & 0xFF, self.max_packet >> 8, self.interval]
        )


@dataclass(frozen=True)
class Interface:
    number: int
    interface_class: int = 0xFF
    subclass: int = 0
    protocol: int = 0
    endpoints: tuple[Endpoint, ...] = ()
    alternate: int = 0

    def descriptor(self) -> bytes:
        counts = [self.number, self.alternate, len(self.endpoints)]
        return bytes([9, INTERFACE_DESCRIPTOR, *counts, self.interface_class, self.subclass, self.protocol, 0])


def u16(value: int) -> list[int]:
    """A 16-bit field as USB sends it, low byte first."""
    return [value & 0xFF, value >> 8]
