"""The slot ports driver running against the emulated USB bus, for the USB tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from cabinetd.config import CabinetConfig
from cabinetd.hal.base import SlotPorts
from cabinetd.hal.drivers import build_slot_ports
from cabinetd.sim.uevents import SimUevents
from cabinetd.sim.usbbus import SimUsbBackend
from cabinetd.sim.usbtopology import bus_for_config
from testbed.recorder import EventRecorder

POLL_S = 0.05
# The emulated bus waits this share of a transfer's timeout for a device that does not answer.
TIMEOUT_SCALE = 0.2


def usb_config(ports: dict[int, str], *, poll_s: float = POLL_S) -> CabinetConfig:
    """A cabinet whose slots (numbers to USB port paths) are polled every `poll_s`."""
    slots = [
        {"number": number, "lock": {"pin": 2 + 2 * i}, "door": {"pin": 3 + 2 * i}, "usb_port": path}
        for i, (number, path) in enumerate(sorted(ports.items()))
    ]
    return CabinetConfig.model_validate(
        {
            "cabinet": {"id": "test-1", "store": "0001"},
            "usb": {"poll_s": poll_s},
            "modules": [{"name": "A", "slot_type": "pda", "lock": {"driver": "gpio"}, "slots": slots}],
        }
    )


@dataclass
class PortsRig:
    config: CabinetConfig
    bus: SimUsbBackend
    ports: SlotPorts
    events: EventRecorder
    uevents: SimUevents | None


@contextlib.asynccontextmanager
async def ports_rig(
    ports: dict[int, str],
    *,
    hubs: str = "per-port",
    enumerate_delay_s: float = 0.0,
    udev: bool = False,
    sysfs: Path | None = None,
    poll_s: float = POLL_S,
) -> AsyncIterator[PortsRig]:
    """`udev`: plug events come from the simulated kernel's uevents (the driver then lists the bus
    only on an event, and every few seconds); `sysfs`: a fake sysfs tree with the ports' `disable` files."""
    config = usb_config(ports, poll_s=poll_s)
    uevents = SimUevents() if udev else None
    bus = bus_for_config(
        config,
        hubs=hubs,
        enumerate_delay_s=enumerate_delay_s,
        timeout_scale=TIMEOUT_SCALE,
        uevents=uevents,
        sysfs=sysfs,
    )
    events = EventRecorder()
    driver = build_slot_ports(
        config,
        events,
        backend=bus,
        power_off_s=0.05,
        enumerate_s=1.0,
        udev_monitor=None if uevents is None else uevents.monitor,
        sysfs=sysfs,
    )
    await driver.prepare()
    task = asyncio.create_task(driver.run())
    try:
        yield PortsRig(config, bus, driver, events, uevents)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await driver.cleanup()
        if uevents is not None:
            uevents.close()
