"""The SlotPorts contract, run over every kind of hub a cabinet meets and every wiring, on the emulated bus.

Hub kinds (cabinetd/sim/usbtopology.py): USB 2 hubs that switch each port, USB 3 hubs (a USB 2 and a
SuperSpeed half sharing VBUS), and hubs that switch all their ports at once as a Raspberry Pi 4's own
ports do. Where the hub cannot switch the slot's port alone, the contract is a `PowerSwitchRefused`
that names the hub and touches nothing.
"""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import pytest

from cabinetd.hal.base import DevicePlugged, DeviceUnplugged, PortRecovery, UsbIdentity
from cabinetd.hal.drivers import build_slot_ports
from cabinetd.hal.errors import PowerSwitchRefused
from cabinetd.hal.usbhub import PortPath
from cabinetd.sim.usbdevices import handheld
from cabinetd.sim.usbtopology import bus_for_config
from testbed.recorder import EventRecorder
from testbed.usbrig import PortsRig, ports_rig, usb_config


@dataclass(frozen=True)
class Wiring:
    ports: dict[int, str]
    hub: str  # how errors name the hub in front of slot 1


WIRINGS = {
    "hub": Wiring({1: "1-1.1", 2: "1-1.4"}, hub="1-1"),
    "root-ports": Wiring({1: "1-1", 2: "1-2"}, hub="usb1"),
    "two-tiers": Wiring({1: "2-1.3.1", 2: "2-1.3.2"}, hub="2-1.3"),
}
HUBS = ("per-port", "usb3", "ganged")

ALICE = UsbIdentity(0x1209, 0x0001, "HH-0001")
BOB = UsbIdentity(0x1209, 0x0001, "HH-0002")


@dataclass(frozen=True)
class Variant:
    wiring: Wiring
    hubs: str
    udev: bool

    @property
    def ports(self) -> dict[int, str]:
        return self.wiring.ports

    @property
    def switches(self) -> bool:
        return self.hubs != "ganged"

    def refusal(self) -> str:
        return (
            f"slot 1 (USB {self.ports[1]}): hub {self.wiring.hub} cannot switch power per port "
            "(wHubCharacteristics 0x0000: ganged switching)"
        )


# Plug events from udev change only how a change is noticed, not the wiring: one wiring is enough.
VARIANTS = {
    f"{wiring}-{hubs}-{'udev' if udev else 'poll'}": Variant(WIRINGS[wiring], hubs, udev)
    for wiring in WIRINGS
    for hubs in HUBS
    for udev in ((False, True) if wiring == "hub" else (False,))
}


@pytest.fixture(params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest) -> Variant:
    return VARIANTS[request.param]


def rig_for(variant: Variant) -> AbstractAsyncContextManager[PortsRig]:
    return ports_rig(variant.ports, hubs=variant.hubs, udev=variant.udev)


def twin_powered(rig: PortsRig, path: str) -> bool | None:
    """Whether the SuperSpeed half of a USB 3 hub feeds the port; None for a hub with no such half."""
    partner = rig.bus.port(path).partner
    return None if partner is None else partner.powered


async def test_ok__plug_and_unplug_within_a_second(variant: Variant) -> None:
    async with rig_for(variant) as rig:
        assert rig.ports.slots == (1, 2)
        assert rig.ports.present(1) is None
        started = time.monotonic()
        rig.bus.plug(variant.ports[2], handheld("HH-0002"))
        assert await rig.events.next(DevicePlugged, 1.0) == DevicePlugged(2, BOB)
        assert time.monotonic() - started < 1.0
        assert rig.ports.present(2) == BOB
        assert rig.ports.present(1) is None

        started = time.monotonic()
        rig.bus.unplug(variant.ports[2])
        assert await rig.events.next(DeviceUnplugged, 1.0) == DeviceUnplugged(2)
        assert time.monotonic() - started < 1.0
        assert rig.ports.present(2) is None


async def test_ok__devices_present_at_start_are_known_after_prepare(variant: Variant) -> None:
    config = usb_config(variant.ports)
    bus = bus_for_config(config, hubs=variant.hubs, devices={1: handheld("HH-0001")})
    events = EventRecorder()
    ports = build_slot_ports(config, events, backend=bus)
    await ports.prepare()
    try:
        assert ports.present(1) == ALICE
        assert ports.present(2) is None
        assert events.drain() == []  # state at start is read with present(), not posted as news
    finally:
        await ports.cleanup()


async def test_ok__power_off_and_on_read_back_on_every_half(variant: Variant) -> None:
    async with rig_for(variant) as rig:
        device = handheld("HH-0001")
        rig.bus.plug(variant.ports[1], device)
        await rig.events.next(DevicePlugged)
        port = rig.bus.port(variant.ports[1])
        if not variant.switches:
            with pytest.raises(PowerSwitchRefused) as caught:
                await rig.ports.set_power(1, False)
            assert str(caught.value) == variant.refusal()
            assert (caught.value.hub, caught.value.switching) == (variant.wiring.hub, "ganged")
            assert port.powered
            assert port.vbus
            return

        await rig.ports.set_power(1, False)
        assert not port.powered
        assert not port.vbus  # on a USB 3 hub only both halves off cut VBUS
        assert twin_powered(rig, variant.ports[1]) is (False if variant.hubs == "usb3" else None)
        assert await rig.events.next(DeviceUnplugged, 1.0) == DeviceUnplugged(1)
        assert rig.ports.present(1) is None

        await rig.ports.set_power(1, True)
        assert port.powered
        assert port.vbus
        assert twin_powered(rig, variant.ports[1]) is (True if variant.hubs == "usb3" else None)
        assert await rig.events.next(DevicePlugged, 1.0) == DevicePlugged(1, ALICE)
        assert rig.bus.port(variant.ports[2]).powered  # the neighbour was never touched


async def test_ok__power_cycle_returns_the_device_without_news(variant: Variant) -> None:
    async with rig_for(variant) as rig:
        rig.bus.plug(variant.ports[1], handheld("HH-0001"))
        await rig.events.next(DevicePlugged)
        port = rig.bus.port(variant.ports[1])
        generation = port.generation
        if not variant.switches:
            with pytest.raises(PowerSwitchRefused) as caught:
                await rig.ports.power_cycle(1)
            assert str(caught.value) == variant.refusal()
            assert port.generation == generation
            assert rig.ports.present(1) == ALICE
            return

        assert await rig.ports.power_cycle(1) == ALICE
        assert port.powered
        assert port.generation == generation + 2  # off, then on: the device re-enumerated
        assert rig.ports.present(1) == ALICE
        rig.bus.plug(variant.ports[2], handheld("HH-0002"))
        await rig.events.next(DevicePlugged)
        # The slot's own device never left: no unplug or plug for slot 1 was posted.
        assert [e for e in rig.events.events if getattr(e, "slot", None) == 1] == [DevicePlugged(1, ALICE)]


async def test_ok__a_silent_device_comes_back_from_its_power_cycle(variant: Variant) -> None:
    """On a USB 3 hub this needs both halves off: with VBUS still fed by one, the device stays hung."""
    async with rig_for(variant) as rig:
        device = handheld("HH-0001")
        rig.bus.plug(variant.ports[1], device)
        await rig.events.next(DevicePlugged)
        device.make_unresponsive()
        if not variant.switches:
            # Nothing is switched; the device is judged on its silence by whoever asked.
            with pytest.raises(PowerSwitchRefused) as caught:
                await rig.ports.recover(1)
            assert str(caught.value) == variant.refusal()
            assert not device.responsive
            with pytest.raises(PowerSwitchRefused):
                await rig.ports.recover(1)  # the same answer every time: no cycle was spent
            return
        assert await rig.ports.recover(1) is PortRecovery.RECOVERED
        assert device.responsive


async def test_ok__recover_leaves_an_answering_device_alone(variant: Variant) -> None:
    async with rig_for(variant) as rig:
        rig.bus.plug(variant.ports[1], handheld("HH-0001"))
        await rig.events.next(DevicePlugged)
        generation = rig.bus.port(variant.ports[1]).generation
        assert await rig.ports.recover(1) is PortRecovery.ANSWERING
        assert rig.bus.port(variant.ports[1]).generation == generation
        assert await rig.ports.recover(2) is PortRecovery.GONE


async def test_fail__unknown_slot(variant: Variant) -> None:
    async with rig_for(variant) as rig:
        with pytest.raises(KeyError):
            rig.ports.present(9)
        with pytest.raises(KeyError):
            await rig.ports.set_power(9, False)


def test_ok__usb3_halves_sit_at_the_same_ports_on_the_next_bus() -> None:
    bus = bus_for_config(usb_config(WIRINGS["two-tiers"].ports), hubs="usb3")
    usb2 = bus.port("2-1.3.1")
    assert usb2.partner is bus.port(PortPath(3, (1, 3, 1)))
    assert usb2.hub.container_id is not None
    assert usb2.hub.container_id == bus.port("3-1.3.1").hub.container_id
    assert bus.port("2-1").hub.container_id is None  # root hubs give none
