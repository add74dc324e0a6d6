"""Slot USB port faults: devices that stop answering or do not come back, hubs that go away, only cut
data, do not switch at all, or are switched back on by the kernel (the sysfs `disable` fallback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cabinetd.hal.base import DevicePlugged, DeviceUnplugged, PartStateChanged, PortRecovery, UsbIdentity
from cabinetd.hal.errors import PortPowerError, PowerCycleIncomplete, PowerSwitchRefused
from cabinetd.hal.usbhub import PortPath, sysfs_disable_path
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


async def test_fail__hub_without_power_switching_is_refused() -> None:
    async with ports_rig(PORTS, hubs="no-switching") as rig:
        device = handheld("HH-0001")
        rig.bus.plug("1-1.1", device)
        await rig.events.next(DevicePlugged)
        device.make_unresponsive()
        for call in (rig.ports.set_power(1, False), rig.ports.power_cycle(1), rig.ports.recover(1)):
            with pytest.raises(PowerSwitchRefused) as caught:
                await call
            assert str(caught.value) == (
                "slot 1 (USB 1-1.1): hub 1-1 cannot switch power per port "
                "(wHubCharacteristics 0x0002: no power switching)"
            )
            assert caught.value.switching == "none"
        assert rig.bus.port("1-1.1").powered


async def test_fail__power_cycle_says_the_device_did_not_leave() -> None:
    async with ports_rig(PORTS) as rig:
        hub = rig.bus.port("1-1").device
        assert isinstance(hub, SimHub)
        hub.ignores_power = True  # reads the port back as off, and leaves it on
        device = handheld("HH-0001")
        rig.bus.plug("1-1.1", device)
        await rig.events.next(DevicePlugged)
        with pytest.raises(PowerCycleIncomplete) as caught:
            await rig.ports.power_cycle(1)
        assert str(caught.value) == (
            "slot 1 (USB 1-1.1): the device did not leave the bus within 1 s of its port being switched off; "
            "hub 1-1 reads the port off but does not cut it"
        )
        assert (caught.value.left, caught.value.came_back) == (False, False)
        assert rig.bus.port("1-1.1").powered  # switched back on all the same

        # recover() passes the hub's failure on: it is evidence, not a verdict on the device.
        device.make_unresponsive()
        with pytest.raises(PowerCycleIncomplete):
            await rig.ports.recover(1)


async def test_fail__power_cycle_says_the_device_did_not_come_back() -> None:
    # The device takes longer to enumerate (1.5 s) than the driver waits for it (1 s).
    async with ports_rig(PORTS, enumerate_delay_s=1.5) as rig:
        rig.bus.plug("1-1.1", handheld("HH-0001"))
        await rig.events.next(DevicePlugged, 3.0)
        with pytest.raises(PowerCycleIncomplete) as caught:
            await rig.ports.power_cycle(1)
        assert str(caught.value) == (
            "slot 1 (USB 1-1.1): the device left the bus but did not come back within 1 s "
            "of its port being switched on"
        )
        assert (caught.value.left, caught.value.came_back) == (True, False)
        assert rig.bus.port("1-1.1").powered


async def test_ok__power_cycle_of_an_empty_port_returns_nothing() -> None:
    async with ports_rig(PORTS) as rig:
        assert await rig.ports.power_cycle(1) is None
        assert rig.bus.port("1-1.1").powered


async def test_fail__kernel_switches_the_port_back_on_without_sysfs() -> None:
    async with ports_rig(PORTS, hubs="kernel-repowers") as rig:
        rig.bus.plug("1-1.1", handheld("HH-0001"))
        await rig.events.next(DevicePlugged)
        with pytest.raises(PortPowerError) as caught:
            await rig.ports.set_power(1, False)
        assert str(caught.value) == (
            "slot 1 (USB 1-1.1): hub 1-1 reads port power on after switching it off (status 0x0101)"
        )


async def test_ok__sysfs_disable_keeps_the_port_off_where_the_kernel_switches_it_back(tmp_path: Path) -> None:
    async with ports_rig(PORTS, hubs="kernel-repowers", sysfs=tmp_path) as rig:
        device = handheld("HH-0001")
        rig.bus.plug("1-1.1", device)
        await rig.events.next(DevicePlugged)
        disable = sysfs_disable_path(tmp_path, PortPath.parse("1-1"), 1)
        assert disable == tmp_path / "bus/usb/devices/1-1:1.0/1-1-port1/disable"
        assert disable.read_text() == "0"

        await rig.ports.set_power(1, False)
        assert disable.read_text() == "1"
        assert not rig.bus.port("1-1.1").powered
        assert await rig.events.next(DeviceUnplugged, 1.0) == DeviceUnplugged(1)

        await rig.ports.set_power(1, True)
        assert disable.read_text() == "0"
        assert rig.bus.port("1-1.1").powered
        assert await rig.events.next(DevicePlugged, 1.0) == DevicePlugged(1, ALICE)

        device.make_unresponsive()
        assert await rig.ports.recover(1) is PortRecovery.RECOVERED


def test_ok__sysfs_disable_path_of_a_root_port(tmp_path: Path) -> None:
    assert sysfs_disable_path(tmp_path, PortPath.parse("1-1").hub, 3) == (
        tmp_path / "bus/usb/devices/1-0:1.0/usb1-port3/disable"
    )
