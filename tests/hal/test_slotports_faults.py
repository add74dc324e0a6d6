"""Slot USB port faults: devices that stop answering, hubs that go away or only cut data."""

from __future__ import annotations

import pytest

from cabinetd.hal.base import DevicePlugged, DeviceUnplugged, PartStateChanged, PortRecovery, UsbIdentity
from cabinetd.hal.errors import PortPowerError
from cabinetd.sim.usbdevices import SimHub, handheld
from testbed.usbrig import ports_rig

PORTS = {1: "1-1.1", 2: "1-1.2"}
ALICE = UsbIdentity(0x1209, 0x0001, "HH-0001")


async def test_fail__unresponsive_device_is_power_cycled_back() -> None:
    async with ports_rig(PORTS) as rig:
        device = handheld("HH-0001")
        rig.bus.plug("1-1.1", device)
        await rig.events.next(DevicePlugged)
        device.make_unresponsive()
        generation = rig.bus.port("1-1.1").generation

        assert await rig.ports.recover(1) is PortRecovery.RECOVERED
        assert device.responsive
        assert rig.bus.port("1-1.1").generation == generation + 2
        assert rig.ports.present(1) == ALICE
        assert rig.events.drain() == []  # the same device, still in its slot: nothing to report


async def test_fail__device_unresponsive_when_plugged_gets_its_serial_after_the_cycle() -> None:
    async with ports_rig(PORTS) as rig:
        device = handheld("HH-0001")
        device.make_unresponsive()
        rig.bus.plug("1-1.1", device)
        # Still enumerated (the kernel has its descriptors) but it cannot give its serial number.
        assert await rig.events.next(DevicePlugged) == DevicePlugged(1, UsbIdentity(0x1209, 0x0001, None))

        assert await rig.ports.recover(1) is PortRecovery.RECOVERED
        assert await rig.events.next(DevicePlugged) == DevicePlugged(1, ALICE)
        assert rig.ports.present(1) == ALICE


async def test_fail__device_still_silent_after_its_one_cycle() -> None:
    async with ports_rig(PORTS) as rig:
        device = handheld("HH-0001")
        rig.bus.plug("1-1.1", device)
        await rig.events.next(DevicePlugged)
        device.make_unresponsive(survives_power_cycle=True)
        port = rig.bus.port("1-1.1")

        assert await rig.ports.recover(1) is PortRecovery.UNRESPONSIVE
        generation = port.generation
        # Once per device: asking again does not cycle the port again.
        assert await rig.ports.recover(1) is PortRecovery.UNRESPONSIVE
        assert port.generation == generation

        # A person takes it out and puts a device back: that one gets its own cycle.
        rig.bus.unplug("1-1.1")
        await rig.events.next(DeviceUnplugged)
        rig.bus.plug("1-1.1", device)
        await rig.events.next(DevicePlugged)
        assert await rig.ports.recover(1) is PortRecovery.UNRESPONSIVE
        assert port.generation > generation + 2


async def test_fail__hub_that_cuts_only_data_does_not_revive_the_device() -> None:
    async with ports_rig(PORTS) as rig:
        rig.bus.unplug("1-1")
        rig.bus.plug("1-1", SimHub(4, cuts_data_only=True, clock=rig.bus.clock))
        device = handheld("HH-0001")
        rig.bus.plug("1-1.1", device)
        await rig.events.next(DevicePlugged)
        device.make_unresponsive()

        # The port reads back as switched off and on, the device re-enumerates, but it never lost
        # power, so it is as stuck as before.
        assert await rig.ports.recover(1) is PortRecovery.UNRESPONSIVE
        assert not device.responsive


async def test_fail__hub_unplugged_and_back() -> None:
    async with ports_rig(PORTS) as rig:
        rig.bus.plug("1-1.1", handheld("HH-0001"))
        await rig.events.next(DevicePlugged)
        [hub_state] = rig.ports.parts()
        assert (hub_state.part, hub_state.connected) == ("USB hub 1-1", True)

        hub = rig.bus.unplug("1-1")
        assert await rig.events.next(DeviceUnplugged, 1.0) == DeviceUnplugged(1)
        assert await rig.events.next(PartStateChanged, 1.0) == PartStateChanged(
            "USB hub 1-1", False, "not on the bus"
        )
        assert not rig.ports.parts()[0].connected
        with pytest.raises(PortPowerError) as caught:
            await rig.ports.set_power(1, False)
        assert str(caught.value) == "slot 1 (USB 1-1.1): hub 1-1 is not connected"
        assert await rig.ports.recover(1) is PortRecovery.GONE

        assert hub is not None
        rig.bus.plug("1-1", hub)  # the handheld is still in it
        assert await rig.events.next(DevicePlugged, 1.0) == DevicePlugged(1, ALICE)
        assert rig.ports.parts()[0].connected


async def test_ok__power_cycle_waits_for_slow_enumeration() -> None:
    async with ports_rig(PORTS, enumerate_delay_s=0.3) as rig:
        rig.bus.plug("1-1.1", handheld("HH-0001"))
        await rig.events.next(DevicePlugged)
        assert await rig.ports.power_cycle(1) == ALICE


async def test_fail__device_taken_out_during_power_cycle() -> None:
    async with ports_rig(PORTS) as rig:
        device = handheld("HH-0001")
        rig.bus.plug("1-1.1", device)
        await rig.events.next(DevicePlugged)
        device.make_unresponsive()
        rig.bus.unplug("1-1.1")  # gone before the driver looks
        assert await rig.ports.recover(1) is PortRecovery.GONE
        assert await rig.events.next(DeviceUnplugged, 1.0) == DeviceUnplugged(1)


async def test_ok__device_swapped_between_polls_is_unplug_then_plug() -> None:
    async with ports_rig(PORTS) as rig:
        rig.bus.plug("1-1.1", handheld("HH-0001"))
        await rig.events.next(DevicePlugged)
        with rig.bus.lock:  # both before the next poll
            rig.bus.unplug("1-1.1")
            rig.bus.plug("1-1.1", handheld("HH-0002"))
        bob = UsbIdentity(0x1209, 0x0001, "HH-0002")
        assert await rig.events.next(DevicePlugged) == DevicePlugged(1, bob)
        assert rig.events.events == [DevicePlugged(1, ALICE), DeviceUnplugged(1), DevicePlugged(1, bob)]
