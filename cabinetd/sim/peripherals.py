"""The simulated cabinet's badge reader and slot USB ports, driven by the production drivers.

`simulated_peripherals(config, sink)` makes a pty badge reader speaking the configured reader's
protocol and an emulated USB bus with the hubs the slots' port paths need, then builds on them the
real drivers config names (`SerialBadgeReader`, `PyusbSlotPorts`): the daemon runs these exactly as
on a cabinet, and the simulator (`/sim/*`, tests) presents badges and plugs handhelds through `reader`
and `usb`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cabinetd.config import CabinetConfig
from cabinetd.hal.base import BadgeReader, EventSink, SlotPorts
from cabinetd.hal.drivers import build_badge_reader, build_slot_ports
from cabinetd.sim.badgereader import PtyBadgeReader
from cabinetd.sim.usbbus import SimUsbBackend
from cabinetd.sim.usbdevices import handheld
from cabinetd.sim.usbtopology import bus_for_config


def demo_serial(slot: int) -> str:
    return f"SIM{slot:04d}"


@dataclass
class SimulatedPeripherals:
    reader: PtyBadgeReader  # the simulator's side of the badge reader
    usb: SimUsbBackend  # the simulator's side of the USB bus
    badge_reader: BadgeReader  # the driver the daemon runs
    slot_ports: SlotPorts  # the driver the daemon runs

    def close(self) -> None:
        """Remove the pty and its link; call after the drivers' cleanup()."""
        self.reader.close()


def simulated_peripherals(
    config: CabinetConfig, sink: EventSink, *, occupied: Iterable[int] | None = None
) -> SimulatedPeripherals:
    """Reader and ports for `config`; `occupied` slots start with a handheld (default: every other slot)."""
    reader = PtyBadgeReader.for_config(config.badge_reader)
    slots = sorted(slot.number for _, slot in config.slots())
    chosen = slots[::2] if occupied is None else sorted(occupied)
    usb = bus_for_config(config, devices={slot: handheld(demo_serial(slot)) for slot in chosen})
    return SimulatedPeripherals(
        reader=reader,
        usb=usb,
        badge_reader=build_badge_reader(config, sink, url=reader.url),
        slot_ports=build_slot_ports(config, sink, backend=usb),
    )
