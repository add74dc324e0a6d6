"""Stock Android handhelds managed by the fleet's Headwind MDM (device model link `mdm:headwind+adb`),
through the real daemon code against a fake Headwind server on a loopback port: the rent moves the
device into its work type's configuration and then checks it over adb; with the MDM failing, the
store's policy decides: provision from the cabinet's own packages, or hand out nothing and say why."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.headwind import FakeHeadwind
from tests.flows.rig import Rig
from tests.flows.test_adb_handhelds import APPS, HOME, SERIAL
from tests.flows.test_adb_handhelds import _roster as adb_roster
from tests.flows.test_flows import screen


def _roster() -> list[dict[str, Any]]:
    roster = adb_roster()
    for op in roster:
        if op["entity"] == "device_models" and op["id"] == "pda-a1":
            op["data"] = {**op["data"], "link": "mdm:headwind+adb"}
    return roster


def _with_headwind(server: FakeHeadwind, secret: Path, policy: str) -> Callable[[dict[str, Any]], None]:
    def rewire(config: dict[str, Any]) -> None:
        config["mdm"] = {
            "headwind": {
                "url": server.url,
                "login": server.login,
                "password_file": str(secret),
                "policy": policy,
                "timeout_s": 0.5,
                "configurations": {"price-tags": "Price tags"},
            }
        }

    return rewire


@pytest.fixture
def headwind() -> Iterator[FakeHeadwind]:
    server = FakeHeadwind(configurations={1: "Default", 7: "Price tags"})
    server.add_device(SERIAL, configuration_id=1)
    yield server
    server.close()


async def _cabinet(tmp_path: Path, server: FakeHeadwind, policy: str) -> Rig:
    secret = tmp_path / "headwind.password"
    secret.write_text(server.password)
    rig = Rig(tmp_path, occupied=[5, 7], roster=_roster(), rewire=_with_headwind(server, secret, policy))
    rig.sim.packages.mkdir(parents=True)
    for entry, apk in APPS:
        (rig.sim.packages / f"{entry['sha256']}.apk").write_bytes(apk)
    rig.sim.insert(1, rig.sim.handheld(SERIAL, model="pda-a1", link="adb"))
    await rig.start()
    await rig.until(lambda: rig.state(1) in ("ready", "charging"), within=10)
    return rig


async def _badge_and_see(rig: Rig, view: str) -> None:
    rig.sim.badge("A1B2C3")  # Anna, price tags: only the MDM-managed model does that work
    await rig.until(lambda: screen(rig).get("view") == view or screen(rig).get("step") == view, within=10)


async def test_ok__the_rent_moves_the_device_into_its_configuration_and_checks_it_over_adb(
    tmp_path: Path, headwind: FakeHeadwind
) -> None:
    rig = await _cabinet(tmp_path, headwind, "refuse")
    try:
        assert rig.controller.core.link_of(1) == "mdm:headwind+adb"
        await _badge_and_see(rig, "door")
        assert screen(rig)["slot"] == 1
        assert headwind.moves == [(SERIAL, "Price tags")]
        assert headwind.devices[SERIAL]["configurationId"] == 7
        assert HOME in rig.sim.androids[SERIAL].packages  # verified (and completed) over adb
        provisioned = [e for e in rig.ledger.tail(50) if e.type == "device_provisioned"]
        assert [(e.device, e.payload["work_type"]) for e in provisioned] == [(SERIAL, "price-tags")]
    finally:
        await rig.stop()
        rig.sim.close()


async def test_ok__with_the_mdm_answering_500_a_fallback_store_provisions_from_its_own_packages(
    tmp_path: Path, headwind: FakeHeadwind
) -> None:
    headwind.fail_with = 500
    rig = await _cabinet(tmp_path, headwind, "fallback")
    try:
        await _badge_and_see(rig, "door")
        assert headwind.moves == []
        assert {HOME, APPS[1][0]["package"]} <= set(rig.sim.androids[SERIAL].packages)
        assert rig.events("device_provisioned", "dispense_started")[-2:] == ["device_provisioned", "dispense_started"]
    finally:
        await rig.stop()
        rig.sim.close()


@pytest.mark.parametrize(("fault", "reason"), [("hangs", "no answer in 0.5 s"), ("500", "HTTP 500")])
async def test_fail__with_the_mdm_failing_a_refusing_store_hands_out_nothing_and_records_why(
    tmp_path: Path, headwind: FakeHeadwind, fault: str, reason: str
) -> None:
    if fault == "hangs":
        headwind.hang_s = 1.5
    else:
        headwind.fail_with = 500
    rig = await _cabinet(tmp_path, headwind, "refuse")
    try:
        await _badge_and_see(rig, "refused")
        assert screen(rig)["reason"] == "no_device_available"
        failed = [e for e in rig.ledger.tail(50) if e.type == "provisioning_failed"]
        assert [(e.slot, e.device, e.payload["work_type"]) for e in failed] == [(1, SERIAL, "price-tags")]
        assert f"slot 1, device {SERIAL}: MDM: headwind: unreachable: " in failed[0].payload["reason"]
        assert reason in failed[0].payload["reason"]
        assert rig.events("dispense_started") == []
        assert HOME not in rig.sim.androids[SERIAL].packages  # nothing installed behind the policy's back
    finally:
        await rig.stop()
        rig.sim.close()
