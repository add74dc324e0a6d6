"""The simulated cabinet's reader and ports, built from config/sim.toml with the production drivers."""

from __future__ import annotations

from pathlib import Path

from cabinetd import configfile
from cabinetd.hal.base import BadgeRead, DevicePlugged, PartStateChanged, UsbIdentity
from cabinetd.sim.peripherals import simulated_peripherals
from cabinetd.sim.usbdevices import handheld
from testbed.recorder import EventRecorder

SIM_TOML = Path(__file__).resolve().parents[2] / "config" / "sim.toml"


async def test_ok__sim_toml_reader_and_ports() -> None:
    config = configfile.load([SIM_TOML])
    events = EventRecorder()
    sim = simulated_peripherals(config, events)
    await sim.badge_reader.prepare()
    await sim.slot_ports.prepare()
    try:
        assert [sim.slot_ports.present(slot) for slot in (1, 2, 3)] == [
            UsbIdentity(0x1209, 0x0001, "SIM0001"),
            None,
            UsbIdentity(0x1209, 0x0001, "SIM0003"),
        ]
        while not (await events.next(PartStateChanged)).connected:
            pass
        sim.reader.present(0x12D687)
        assert await events.next(BadgeRead) == BadgeRead("0001234567", "sim://badge")
        sim.usb.plug("1-2.2", handheld("HH-0042"))
        assert await events.next(DevicePlugged) == DevicePlugged(6, UsbIdentity(0x1209, 0x0001, "HH-0042"))
    finally:
        await sim.slot_ports.cleanup()
        await sim.badge_reader.cleanup()
        sim.close()
