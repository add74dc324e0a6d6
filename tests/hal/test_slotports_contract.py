"""The SlotPorts contract, run over the hub kinds a cabinet is built with, on the emulated USB bus."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from cabinetd.hal.base import DevicePlugged, DeviceUnplugged, PortRecovery, UsbIdentity
from cabinetd.hal.drivers import build_slot_ports
from cabinetd.hal.errors import PortPowerError
from cabinetd.sim.usbbus import SimUsbBackend
from cabinetd.sim.usbdevices import handheld
from testbed.recorder import EventRecorder
from testbed.usbrig import ports_rig, usb_config


@dataclass(frozen=True)
class Wiring:
    ports: dict[int, str]
    hub: str  # how errors name the hub in front of slot 1
    usb3: bool = False


WIRINGS = {
    "usb2-hub": Wiring({1: "1-1.1", 2: "1-1.4"}, hub="1-1"),
    "usb3-hub": Wiring({1: "1-1.1", 2: "1-1.4"}, hub="1-1", usb3=True),
    "root-ports": Wiring({1: "1-1", 2: "1-2"}, hub="usb1"),
    "two-tiers": Wiring({1: "2-1.3.1", 2: "2-1.3.2"}, hub="2-1.3"),
}

ALICE = UsbIdentity(0x1209, 0x0001, "HH-0001")
BOB = UsbIdentity(0x1209, 0x0001, "HH-0002")


@pytest.fixture(params=sorted(WIRINGS))
def wiring(request: pytest.FixtureRequest) -> Wiring:
    return WIRINGS[request.param]


async def test_ok__plug_and_unplug_within_a_second(wiring: Wiring) -> None:
    async with ports_rig(wiring.ports, usb3=wiring.usb3) as rig:
        assert rig.ports.slots == (1, 2)
        assert rig.ports.present(1) is None
        started = time.monotonic()
        rig.bus.plug(wiring.ports[2], handheld("HH-0002"))
        assert await rig.events.next(DevicePlugged, 1.0) == DevicePlugged(2, BOB)
        assert time.monotonic() - started < 1.0
        assert rig.ports.present(2) == BOB
        assert rig.ports.present(1) is None

        started = time.monotonic()
        rig.bus.unplug(wiring.ports[2])
        assert await rig.events.next(DeviceUnplugged, 1.0) == DeviceUnplugged(2)
        assert time.monotonic() - started < 1.0
        assert rig.ports.present(2) is None


async def test_ok__devices_present_at_start_are_known_after_prepare(wiring: Wiring) -> None:
    config = usb_config(wiring.ports)
    bus = SimUsbBackend.for_config(config, usb3=wiring.usb3, devices={1: handheld("HH-0001")})
    events = EventRecorder()
    ports = build_slot_ports(config, events, backend=bus)
    await ports.prepare()
    try:
        assert ports.present(1) == ALICE
        assert ports.present(2) is None
        assert events.drain() == []  # state at start is read with present(), not posted as news
    finally:
        await ports.cleanup()


async def test_ok__power_off_and_on_read_back(wiring: Wiring) -> None:
    async with ports_rig(wiring.ports, usb3=wiring.usb3) as rig:
        rig.bus.plug(wiring.ports[1], handheld("HH-0001"))
        await rig.events.next(DevicePlugged)
        port = rig.bus.port(wiring.ports[1])

        await rig.ports.set_power(1, False)
        assert not port.powered
        assert await rig.events.next(DeviceUnplugged, 1.0) == DeviceUnplugged(1)
        assert rig.ports.present(1) is None

        await rig.ports.set_power(1, True)
        assert port.powered
        assert await rig.events.next(DevicePlugged, 1.0) == DevicePlugged(1, ALICE)
        assert rig.bus.port(wiring.ports[2]).powered  # the neighbour was never touched


async def test_ok__power_cycle_returns_the_device_without_news(wiring: Wiring) -> None:
    async with ports_rig(wiring.ports, usb3=wiring.usb3) as rig:
        device = handheld("HH-0001")
        rig.bus.plug(wiring.ports[1], device)
        await rig.events.next(DevicePlugged)
        port = rig.bus.port(wiring.ports[1])
        generation = port.generation

        assert await rig.ports.power_cycle(1) == ALICE
        assert port.powered
        assert port.generation == generation + 2  # off, then on: the device re-enumerated
        assert rig.ports.present(1) == ALICE
        rig.bus.plug(wiring.ports[2], handheld("HH-0002"))
        await rig.events.next(DevicePlugged)
        # The slot's own device never left: no unplug or plug for slot 1 was posted.
        assert [e for e in rig.events.events if getattr(e, "slot", None) == 1] == [DevicePlugged(1, ALICE)]


@pytest.mark.parametrize(("switching", "characteristics"), [("ganged", "0x0000"), ("none", "0x0002")])
async def test_fail__hub_without_per_port_switching(wiring: Wiring, switching: str, characteristics: str) -> None:
    async with ports_rig(wiring.ports, usb3=wiring.usb3, switching=switching) as rig:
        rig.bus.plug(wiring.ports[1], handheld("HH-0001"))
        await rig.events.next(DevicePlugged)
        for call in (rig.ports.set_power(1, False), rig.ports.power_cycle(1)):
            with pytest.raises(PortPowerError) as caught:
                await call
            assert str(caught.value) == (
                f"slot 1 (USB {wiring.ports[1]}): hub {wiring.hub} cannot switch power per port "
                f"(wHubCharacteristics {characteristics}: {switching} switching)"
            )
        assert rig.bus.port(wiring.ports[1]).powered
        assert rig.ports.present(1) == ALICE


async def test_ok__recover_leaves_an_answering_device_alone(wiring: Wiring) -> None:
    async with ports_rig(wiring.ports, usb3=wiring.usb3) as rig:
        rig.bus.plug(wiring.ports[1], handheld("HH-0001"))
        await rig.events.next(DevicePlugged)
        generation = rig.bus.port(wiring.ports[1]).generation
        assert await rig.ports.recover(1) is PortRecovery.ANSWERING
        assert rig.bus.port(wiring.ports[1]).generation == generation
        assert await rig.ports.recover(2) is PortRecovery.GONE


async def test_fail__unknown_slot(wiring: Wiring) -> None:
    async with ports_rig(wiring.ports, usb3=wiring.usb3) as rig:
        with pytest.raises(KeyError):
            rig.ports.present(9)
        with pytest.raises(KeyError):
            await rig.ports.set_power(9, False)
