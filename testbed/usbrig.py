"""The slot ports driver running against the emulated USB bus, for the USB tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from cabinetd.config import CabinetConfig
from cabinetd.hal.base import SlotPorts
from cabinetd.hal.drivers import build_slot_ports
from cabinetd.sim.usbbus import SimUsbBackend
from testbed.recorder import EventRecorder

POLL_S = 0.05
# The emulated bus waits this share of a transfer's timeout for a device that does not answer.
TIMEOUT_SCALE = 0.2


def usb_config(ports: dict[int, str]) -> CabinetConfig:
    """A cabinet whose slots (numbers to USB port paths) are polled every POLL_S."""
    slots = [
        {"number": number, "lock": {"pin": 2 + 2 * i}, "door": {"pin": 3 + 2 * i}, "usb_port": path}
        for i, (number, path) in enumerate(sorted(ports.items()))
    ]
    return CabinetConfig.model_validate(
        {
            "cabinet": {"id": "test-1", "store": "0001"},
            "usb": {"poll_s": POLL_S},
            "modules": [{"name": "A", "slot_type": "pda", "lock": {"driver": "gpio"}, "slots": slots}],
        }
    )


@dataclass
class PortsRig:
    config: CabinetConfig
    bus: SimUsbBackend
    ports: SlotPorts
    events: EventRecorder


@contextlib.asynccontextmanager
async def ports_rig(
    ports: dict[int, str], *, switching: str = "per-port", usb3: bool = False, enumerate_delay_s: float = 0.0
) -> AsyncIterator[PortsRig]:
    config = usb_config(ports)
    bus = SimUsbBackend.for_config(
        config,
        switching=switching,
        usb3=usb3,
        enumerate_delay_s=enumerate_delay_s,
        timeout_scale=TIMEOUT_SCALE,
    )
    events = EventRecorder()
    driver = build_slot_ports(config, events, backend=bus, power_off_s=0.05, enumerate_s=1.0)
    await driver.prepare()
    task = asyncio.create_task(driver.run())
    try:
        yield PortsRig(config, bus, driver, events)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await driver.cleanup()
