"""What the cabinet has seen of each slot's USB port, for the return policy's "prefer a working port".

A port is not trusted while the hub it hangs off is off the bus, after a power cycle of it did not
bring an answering device back, or while the last device plugged into it did not give its identity
(no serial number read). Each clears with its opposite: the hub back on the bus, a power cycle that
recovered its device, a device that gives its serial. What is seen is kept in memory only: after a
restart every port starts trusted, until it shows a fault again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cabinetd.config import CabinetConfig
from cabinetd.hal.base import PartState, PortRecovery, UsbIdentity
from cabinetd.hal.usbhub import PortPath


def hub_part(usb_port: str) -> str:
    """The name under which the slot ports report the hub a port hangs off (its `PartState.part`)."""
    return f"USB hub {PortPath.parse(usb_port).hub}"


@dataclass
class PortHealth:
    hub_of: dict[int, str] = field(default_factory=dict)  # slot -> the part name of its port's hub
    cycle_failed: set[int] = field(default_factory=set)
    identity_failed: set[int] = field(default_factory=set)

    @classmethod
    def for_config(cls, config: CabinetConfig) -> PortHealth:
        return cls(hub_of={slot.number: hub_part(slot.usb_port) for _, slot in config.slots()})

    def power_cycled(self, slot: int, recovery: PortRecovery) -> None:
        """The outcome of `SlotPorts.recover`: only RECOVERED is a cycle that worked; ANSWERING means
        no cycle was needed, so it changes nothing."""
        if recovery is PortRecovery.RECOVERED:
            self.cycle_failed.discard(slot)
        elif recovery is not PortRecovery.ANSWERING:
            self.cycle_failed.add(slot)

    def identity_read(self, slot: int, identity: UsbIdentity | None) -> None:
        """A device seen on the port; None (nothing there) says nothing about the port."""
        if identity is None:
            return
        if identity.serial is None:
            self.identity_failed.add(slot)
        else:
            self.identity_failed.discard(slot)

    def working(self, slot: int, hubs_down: set[str]) -> bool:
        return (
            slot not in self.cycle_failed
            and slot not in self.identity_failed
            and self.hub_of.get(slot) not in hubs_down
        )


def hubs_down(parts: Iterable[PartState]) -> set[str]:
    return {part.part for part in parts if not part.connected}
