"""All of a cabinet's hardware as the controller sees it, each driver picked by its config name (drivers.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cabinetd.config import CabinetConfig
from cabinetd.hal.base import BadgeReader, DeviceLink, DeviceRefreshSink, DoorSensors, EventSink, LockBank, SlotPorts
from cabinetd.hal.drivers import build_badge_reader, build_device_link, build_slot_ports
from cabinetd.hal.locks import LocksAndDoors, build_locks_and_doors
from cabinetd.lifecycle import Subsystem


@dataclass
class Hardware:
    locks: LocksAndDoors
    reader: BadgeReader
    ports: SlotPorts
    link: DeviceLink

    def subsystems(self) -> list[Subsystem]:
        """Start order: locks and doors first (so every lock is commanded locked before anything else),
        then the USB ports and the device link, the badge reader last (no badge before the rest is up)."""
        return [*self.locks.subsystems(), self.ports, self.link, self.reader]

    def lock_bank(self, slot: int) -> LockBank:
        return self.locks.lock_bank(slot)

    def doors(self, slot: int) -> DoorSensors:
        return self.locks.doors(slot)


def build_hardware(
    config: CabinetConfig,
    sink: EventSink,
    on_refresh: DeviceRefreshSink,
    *,
    pin_factory: Any = None,
    serial_url_for: Any = None,
    badge_url: str | None = None,
    usb_backend: Any = None,
    udev_monitor: Any = None,
    **link_options: Any,
) -> Hardware:
    """The real drivers; the keyword arguments let the simulated cabinet (or a test) put its fakes under them."""
    return Hardware(
        locks=build_locks_and_doors(config, sink, pin_factory=pin_factory, serial_url_for=serial_url_for),
        reader=build_badge_reader(config, sink, url=badge_url),
        ports=build_slot_ports(config, sink, backend=usb_backend, udev_monitor=udev_monitor),
        link=build_device_link(config, on_refresh, backend=usb_backend, **link_options),
    )
