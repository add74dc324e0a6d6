"""Stock Android handhelds end to end through the real daemon code: a cabinet holding agent handhelds
and one over adb, rented (provisioned from the package directory), returned (self-test and usage
read over adb, work apps cleared), and one that cannot be provisioned is not handed out."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cabinetd.sim.android import sim_apk
from tests.flows.rig import ROSTER, Rig
from tests.flows.test_flows import put_back, screen, take_out

SERIAL = "A1-0001"
HOME = "com.example.home"
LABELS = "com.example.labels"


def _app(package: str, version_code: int) -> tuple[dict[str, Any], bytes]:
    apk = sim_apk(package, version_code)
    digest = hashlib.sha256(apk).hexdigest()
    entry = {
        "package": package,
        "version": str(version_code),
        "version_code": version_code,
        "url": f"https://apps.example/{package}.apk",
        "sha256": digest,
    }
    return entry, apk


APPS = [_app(HOME, 240), _app(LABELS, 312)]


def _roster() -> list[dict[str, Any]]:
    """The flow tests' roster with price tags done on a stock Android model too, and the fleet's device list."""
    roster = [dict(op) for op in ROSTER]
    for op in roster:
        if op["id"] == "price-tags":
            op["data"] = {**op["data"], "device_models": ["pda-a1"], "apps": [entry for entry, _ in APPS]}
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
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    rig = Rig(tmp_path, occupied=[5, 7], roster=_roster())  # agent handhelds in the rugged slots
    rig.sim.packages.mkdir(parents=True)
    for entry, apk in APPS:
        (rig.sim.packages / f"{entry['sha256']}.apk").write_bytes(apk)
    rig.sim.insert(1, rig.sim.handheld(SERIAL, model="pda-a1", link="adb"))
    await rig.start()
    await rig.until(lambda: all(rig.state(n) in ("ready", "charging") for n in (1, 5, 7)), within=10)
    yield rig
    await rig.stop()
    rig.sim.close()


async def test_ok__an_adb_handheld_is_rented_provisioned_and_returned_beside_agent_handhelds(rig: Rig) -> None:
    android = rig.sim.androids[SERIAL]
    assert rig.controller.core.link_of(1) == "adb"
    assert rig.controller.core.link_of(5) == "aoa-agent"
    rig.sim.badge("A1B2C3")  # Anna, price tags: only the stock model does that work
    await rig.until(lambda: screen(rig).get("step") == "door", within=10)
    assert screen(rig)["slot"] == 1
    assert {name: p.version_code for name, p in android.packages.items() if name != "com.android.settings"} == {
        HOME: 240,
        LABELS: 312,
    }
    assert android.launched == [HOME]
    await take_out(rig, 1)
    started = datetime.fromisoformat(rig.ledger.held_by("anna")[0].started_at).timestamp()
    # The labels app opened during the rental (the device prints whole seconds: a second in, out again).
    android.worked(started, started + 2, [LABELS], drain=0)
    await asyncio.sleep(max(0.0, started + 2.5 - time.time()))  # the return reads usage up to its own now
    back = await put_back(rig, SERIAL, model="pda-a1")
    assert screen(rig)["passed"] is True
    returned = [e for e in rig.ledger.tail(50) if e.type == "device_returned"][-1]
    assert sorted(returned.payload["selftest"]) == [
        "anrs",
        "battery_health",
        "battery_temperature",
        "crashes",
        "storage",
        "uptime",
    ]
    usage = returned.payload["usage"]
    assert [(a["package"], a["launches"]) for a in usage["apps"]] == [(LABELS, 1)]
    assert usage["screen_on_minutes"] == pytest.approx(2 / 60, abs=0.05)
    assert not android.packages[LABELS].has_data  # cleared for the next person
    assert rig.state(back) in ("ready", "charging")
    assert rig.events("device_provisioned", "dispense_started", "device_rented", "device_returned")[-4:] == [
        "device_provisioned",
        "dispense_started",
        "device_rented",
        "device_returned",
    ]


async def test_fail__an_adb_handheld_that_cannot_take_the_apps_is_not_handed_out_and_why_is_recorded(
    rig: Rig,
) -> None:
    rig.sim.androids[SERIAL].install_failure = "INSTALL_FAILED_INSUFFICIENT_STORAGE"
    rig.sim.badge("A1B2C3")
    await rig.until(lambda: screen(rig).get("view") == "refused", within=10)
    assert screen(rig)["reason"] == "no_device_available"
    failed = [e for e in rig.ledger.tail(50) if e.type == "provisioning_failed"]
    assert [(e.slot, e.device, e.payload["work_type"]) for e in failed] == [(1, SERIAL, "price-tags")]
    assert failed[0].payload["reason"].endswith("(com.example.home): INSTALL_FAILED_INSUFFICIENT_STORAGE")
    assert rig.events("dispense_started") == []
    assert rig.state(1) in ("ready", "charging")


async def test_fail__an_adb_handheld_whose_key_is_not_authorised_is_faulty_with_the_reason(rig: Rig) -> None:
    rig.sim.remove(1)
    await rig.until(lambda: rig.state(1) == "empty")
    rig.sim.insert(1, rig.sim.handheld(SERIAL))
    rig.sim.adb.devices[SERIAL].state = "unauthorized"
    await rig.until(lambda: rig.state(1) == "faulty", within=10)
    ticket = [e for e in rig.ledger.tail(50) if e.type == "repair_ticket_opened"][-1]
    assert ticket.device == SERIAL
    assert "unauthorised: it has not accepted this cabinet's adb key" in str(ticket.payload["evidence"])
