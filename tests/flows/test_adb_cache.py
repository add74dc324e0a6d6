"""A stock Android handheld provisioned from the package cache with the cloud gone: the daemon's own
package cache downloads the work type's real, signed APKs while the cloud is there; then the cloud
goes away, the cabinet restarts, and a rent installs them on the handheld from the cache."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cabinetd.packages.retry import FetchPacing
from testbed.apkbuild import build_apk
from testbed.packageserver import PackageServer
from tests.flows.rig import ROSTER, Rig
from tests.flows.test_flows import screen, take_out
from tests.packages.rig import HOME, LABELS, STORE, TOKEN, app_entry

SERIAL = "A1-0001"
HOME_APK = build_apk(HOME, 240, "2.4.0", signed_by=STORE)
LABELS_APK = build_apk(LABELS, 312, "3.1.2", signed_by=STORE)


def _roster() -> list[dict[str, Any]]:
    roster = [dict(op) for op in ROSTER]
    apps = [app_entry(HOME_APK, HOME, 240), app_entry(LABELS_APK, LABELS, 312)]
    for op in roster:
        if op["id"] == "price-tags":
            op["data"] = {**op["data"], "device_models": ["pda-a1"], "apps": apps}
        if op["id"] == "picking":
            op["data"] = {**op["data"], "apps": apps[:1]}
    roster.append(
        {
            "entity": "device_models",
            "id": "pda-a1",
            "data": {"name": "A1", "slot_types": ["pda-standard"], "link": "adb"},
        }
    )
    roster.append({"entity": "devices", "id": SERIAL, "data": {"model": "pda-a1"}})
    roster += [{"entity": "devices", "id": f"SIM{n:04d}", "data": {"model": "pda-r1"}} for n in (5, 7)]
    return roster


@pytest.fixture
async def server() -> AsyncIterator[PackageServer]:
    server = PackageServer(TOKEN)
    server.add(HOME_APK)
    server.add(LABELS_APK)
    yield server
    server.close()


@pytest.fixture
async def rig(tmp_path: Path, server: PackageServer) -> AsyncIterator[Rig]:
    token = tmp_path / "cloud.token"
    token.write_text(TOKEN)
    token.chmod(0o600)

    def online(data: dict[str, Any]) -> None:
        data["cloud"] = {"url": server.url, "token_file": token}

    rig = Rig(tmp_path, occupied=[5, 7], roster=_roster(), rewire=online)
    rig.sim.insert(1, rig.sim.handheld(SERIAL, model="pda-a1", link="adb"))
    # A first try that finds the cloud busy (a loaded test machine) is asked again within a second,
    # not after the half minute a store's cabinet waits.
    packages = rig.cabinet.packages
    packages.pacing = packages.retries.pacing = FetchPacing(unreachable_base_s=0.5, unreachable_cap_s=1.0)
    yield rig
    await rig.stop()
    rig.sim.close()


async def test_ok__an_adb_handheld_is_provisioned_offline_from_the_packages_cached_while_online(
    rig: Rig, server: PackageServer
) -> None:
    await rig.start()
    try:
        await rig.until(lambda: len(rig.events("app_package_cached")) == 2, within=30)
    except AssertionError:
        raise AssertionError(f"not cached: {rig.cabinet.packages.report()}") from None
    asked = len(server.asked)
    server.close()  # the store's line is down from here on
    await rig.restart()
    await rig.until(lambda: all(rig.state(n) in ("ready", "charging") for n in (1, 5, 7)), within=30)
    assert sorted(held.package or "" for held in rig.cabinet.packages.held.values()) == [HOME, LABELS]
    rig.sim.badge("A1B2C3")  # Anna, price tags: only the stock model does that work
    await rig.until(lambda: screen(rig).get("step") == "door", within=10)
    assert screen(rig)["slot"] == 1
    android = rig.sim.androids[SERIAL]
    installed = {name: p.version_code for name, p in android.packages.items() if name != "com.android.settings"}
    assert installed == {HOME: 240, LABELS: 312}
    assert android.launched == [HOME]
    await take_out(rig, 1)
    provisioned = [e for e in rig.ledger.tail(50) if e.type == "device_provisioned"][-1]
    assert provisioned.device == SERIAL
    assert rig.cabinet.sync.status().online is False
    assert len(server.asked) == asked  # nothing was downloaded after the cloud went
