"""The simulated cabinet's USB bus as config/sim.toml picks it: each kind of hub, end to end from a
handheld put into a slot to the production driver's power cycle (or its refusal)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cabinetd import configfile
from cabinetd.config import CabinetConfig
from cabinetd.hal.base import DevicePlugged, DeviceRefresh, UsbIdentity
from cabinetd.hal.errors import PowerSwitchRefused
from cabinetd.sim.cabinet import SimCabinet
from cabinetd.sim.usbtopology import HUB_KINDS, bus_for_config
from testbed.recorder import EventRecorder
from testbed.usbrig import usb_config

SIM_TOML = Path(__file__).resolve().parents[2] / "config" / "sim.toml"


def sim_config(tmp_path: Path, hubs: str, plug_events: str) -> CabinetConfig:
    site = tmp_path / "site.toml"
    site.write_text(f'[cabinet]\nstate_dir = "{tmp_path}"\n[usb.sim]\nhubs = "{hubs}"\nplug_events = "{plug_events}"\n')
    return configfile.load([SIM_TOML, site])


def _ignore(refresh: DeviceRefresh) -> None:
    """The device link is not started here."""


@pytest.mark.parametrize("plug_events", ["udev", "poll"])
@pytest.mark.parametrize("hubs", ["per-port", "usb3", "ganged"])
async def test_ok__sim_toml_hub_kinds_end_to_end(tmp_path: Path, hubs: str, plug_events: str) -> None:
    cabinet = SimCabinet(sim_config(tmp_path, hubs, plug_events), occupied=[])
    events = EventRecorder()
    ports = cabinet.build(events, _ignore).ports
    await ports.prepare()
    try:
        assert ports.plug_events == ("udev" if plug_events == "udev" else "polling")  # type: ignore[attr-defined]
        cabinet.insert(2, cabinet.handheld("SIM0042"))
        assert await events.next(DevicePlugged, 1.0) == DevicePlugged(2, UsbIdentity(0x1209, 0x0001, "SIM0042"))
        if hubs == "ganged":
            with pytest.raises(PowerSwitchRefused) as caught:
                await ports.power_cycle(2)
            assert str(caught.value) == (
                "slot 2 (USB 1-1.2): hub 1-1 cannot switch power per port "
                "(wHubCharacteristics 0x0000: ganged switching)"
            )
        else:
            assert await ports.power_cycle(2) == UsbIdentity(0x1209, 0x0001, "SIM0042")
        if hubs == "usb3":
            partner = cabinet.usb.port("1-1.2").partner
            assert partner is not None
            assert partner.hub is cabinet.usb.port("2-1.2").hub
    finally:
        await ports.cleanup()
        cabinet.close()


def test_fail__unknown_hub_kind() -> None:
    with pytest.raises(ValueError, match="unknown kind of hub 'usb4'; one of " + ", ".join(HUB_KINDS)):
        bus_for_config(usb_config({1: "1-1.1"}), hubs="usb4")


def test_fail__usb3_needs_the_next_bus_free() -> None:
    expected = "USB 3 hubs need the bus after each slot's bus free for their SuperSpeed half: {1, 2}"
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        bus_for_config(usb_config({1: "1-1.1", 2: "2-1.1"}), hubs="usb3")
