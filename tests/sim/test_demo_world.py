"""`make demo` starts the simulated cabinet sim-1 with the demo stock (cabinetd/sim/worldfile.py) and the
demo fleet (config/fleet-demo.toml): among its handhelds one stock Android handheld the cabinet talks to
over adb and the others with the agent app over Android Open Accessory. This runs that world in the
real daemon code and checks that both kinds are reached over their own link."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cabinetd.cabinet import Cabinet
from cabinetd.sim.world import SimWorld
from cabinetd.sim.worldfile import demo_stock
from cabinetproto.links import DEFAULT_LINK
from tests.api.kiosk.daemon import FLEET, demo_roster
from tests.flows.rig import Rig

ADB_HANDHELD = ("A1-0001", 7)  # serial, slot
AGENT_HANDHELD = ("S1-0001", 1)


def test_ok__the_demo_stock_holds_handhelds_of_both_links_each_as_its_fleet_model_says() -> None:
    fleet = tomllib.loads(FLEET.read_text())
    links = {model["id"]: model.get("link", DEFAULT_LINK) for model in fleet["device_models"]}
    stock = demo_stock().devices
    assert {device.serial: device.link for device in stock} == {device.serial: links[device.model] for device in stock}
    in_slots = {
        link: sorted(d.serial for d in stock if d.link == link and d.slot is not None) for link in links.values()
    }
    assert in_slots == {"adb": ["A1-0001"], "aoa-agent": ["R1-0001", "R1-0002", "S1-0001", "S1-0002", "S1-0003"]}


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Rig]:
    rig = Rig(tmp_path, roster=demo_roster())
    rig.sim.close()
    rig.sim = SimWorld(rig.config)  # as `cabinetd run` builds it: the demo stock at the first start
    rig.cabinet = Cabinet(rig.config, sim=rig.sim, clock=rig.clock)
    await rig.start()
    slots = (ADB_HANDHELD[1], AGENT_HANDHELD[1])
    await rig.until(lambda: all(rig.state(n) in ("ready", "charging") for n in slots), within=10)
    yield rig
    await rig.stop()
    rig.sim.close()


async def test_ok__the_demo_reaches_its_stock_handheld_over_adb_and_the_others_over_the_agent(demo: Rig) -> None:
    core = demo.controller.core
    serial, slot = ADB_HANDHELD
    assert core.link_of(slot) == "adb"
    assert demo.state(slot) == "ready"  # identity and battery read through the fake adb server
    assert demo.controller.slots[slot].device == serial
    assert demo.sim.adb.devices[serial].usb == demo.sim.paths[slot]
    assert demo.sim.handhelds[serial].usb is demo.sim.handhelds[serial].normal  # never an accessory
    serial, slot = AGENT_HANDHELD
    assert core.link_of(slot) == "aoa-agent"
    assert demo.state(slot) == "ready"
    assert demo.controller.slots[slot].device == serial
    assert demo.sim.handhelds[serial].usb is demo.sim.handhelds[serial].accessory  # switched by the cabinet
    assert serial not in demo.sim.adb.devices
