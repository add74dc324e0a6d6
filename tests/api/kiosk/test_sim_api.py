"""The simulator API: its answers, its refusals (409 on a locked door, changing nothing), and the
simulated world kept across a clean stop and a crash of the daemon."""

from __future__ import annotations

import json
import signal
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cabinetd import configfile
from cabinetd.cabinet import Cabinet
from cabinetd.sim.cabinet import SimCabinet
from cabinetd.sim.worldfile import FILE_NAME, SimWorldError, demo_stock, load
from tests.api.kiosk.daemon import ANNA, DINA, ROOT, Daemon


@pytest.fixture(scope="module")
def untouched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One cabinet for the requests that must change nothing (and are checked to change nothing)."""
    daemon = Daemon(tmp_path_factory.mktemp("untouched"))
    daemon.seed()
    daemon.start()
    daemon.settled()
    yield daemon
    daemon.close()


def physical(world: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Doors, locks and who is where; batteries move on their own while charging."""
    slots = [(s["slot"], s["door"], s["lock"], s["device"]) for s in world["slots"]]
    return slots + [(d["serial"], d["slot"], d["selftest"], d["responsive"]) for d in world["devices"]]


def contents(world: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What a restart keeps: doors and who is where (locks are commanded locked at every start)."""
    return [row[:2] + row[3:] if isinstance(row[0], int) else row for row in physical(world)]


def rent_from_slot_1(cabinet: Daemon) -> None:
    assert cabinet.sim("badge", {"uid": ANNA}).status_code == 200
    cabinet.until(lambda s: s["screen"].get("step") == "door")
    assert cabinet.sim("slots/1/take").status_code == 200
    cabinet.until(lambda s: s["screen"]["view"] == "done")


def test_ok__state_lists_every_slot_with_door_lock_device_and_battery(untouched: Daemon) -> None:
    world = untouched.world()
    assert [s["slot"] for s in world["slots"]] == list(range(1, 9))
    assert world["slots"][0] == {
        "slot": 1, "door": "closed", "lock": "locked", "led": False, "device": "S1-0001", "battery": 96
    }
    assert world["slots"][2] == {
        "slot": 3, "door": "closed", "lock": "locked", "led": False, "device": None, "battery": None
    }
    assert {d["serial"]: d["selftest"] for d in world["devices"]}["S1-0003"] == "fail:scanner"


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        ("slots/1/take", {}, "slot 1: the lock is not released"),
        ("slots/3/put", {"serial": "S1-0009"}, "slot 3: the lock is not released"),
        ("slots/3/door", {"open": True}, "slot 3: the lock is not released"),
        ("slots/3/take", {}, "slot 3 holds no device"),
        ("slots/1/put", {"serial": "S1-0009"}, "slot 1 already holds S1-0001"),
        ("slots/3/put", {"serial": "S1-0002"}, "device S1-0002 is in slot 2"),
    ],
)
def test_fail__what_the_world_does_not_allow_answers_409_and_changes_nothing(
    untouched: Daemon, path: str, body: dict[str, Any], error: str
) -> None:
    before = physical(untouched.world())
    reply = untouched.sim(path, body)
    assert (reply.status_code, reply.json()) == (409, {"error": error})
    assert physical(untouched.world()) == before
    assert untouched.kiosk()["screen"]["view"] == "idle"


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("slots/99/take", {}, 404, "no slot 99 in this cabinet"),
        ("devices/X-1", {"battery": 50}, 404, "no device X-1 in the simulated world"),
        ("devices/S1-0001", {"battery": 120}, 400, "battery: Input should be less than or equal to 100"),
        (
            "devices/S1-0001",
            {"selftest": "fail:nose"},
            400,
            "must be 'pass' or 'fail:CHECK' with CHECK one of battery_health, touchscreen, scanner, camera, "
            "wifi, storage, drop_counter, got 'fail:nose'",
        ),
        (
            "badge",
            {"uid": "not-hex"},
            400,
            "'not-hex' is not a badge id: write the number printed on the card (10 digits, 0011828047), 8 or 10 "
            "hex digits (00B47B4F, 5900B47B4F), facility,card (180,31567) or 0x and hex; or 1 to 10 hex digits "
            "of card data",
        ),
        ("badge", {"uid": "1A2B3C", "hold_s": 2}, 400, "hold_s: Extra inputs are not permitted"),
        ("slots/3/door", {}, 400, "open: Field required"),
    ],
)
def test_fail__bad_requests_name_what_is_wrong(
    untouched: Daemon, path: str, body: dict[str, Any], status: int, error: str
) -> None:
    before = physical(untouched.world())
    reply = untouched.sim(path, body)
    assert (reply.status_code, reply.json()) == (status, {"error": error})
    assert physical(untouched.world()) == before


# A daemon process of its own, started for this test: two to three seconds.
@pytest.mark.slow
def test_ok__a_forced_door_is_open_with_its_lock_locked_and_raises_the_alarm(cabinet: Daemon) -> None:
    world = cabinet.sim("slots/5/door", {"open": True, "force": True}).json()
    assert world["slots"][4] | {"battery": 0} == {
        "slot": 5, "door": "open", "lock": "locked", "led": None, "device": "R1-0001", "battery": 0
    }
    cabinet.until(lambda s: "door_forced" in s["cabinet"]["slots"][4]["alarms"])
    world = cabinet.sim("slots/5/door", {"open": False}).json()
    assert world["slots"][4]["door"] == "closed"
    cabinet.until(lambda s: s["cabinet"]["slots"][4]["alarms"] == [])


# A daemon process of its own, started for this test: two to three seconds.
@pytest.mark.slow
def test_ok__a_released_lock_lets_the_door_open_until_it_is_shut_again(cabinet: Daemon) -> None:
    cabinet.sim("badge", {"uid": ANNA})
    cabinet.until(lambda s: s["screen"].get("step") == "door")
    time.sleep(0.7)  # past the lock's 0.5 s pulse: the latch let go of the door, and it stays free
    assert cabinet.world()["slots"][0]["lock"] == "released"
    world = cabinet.sim("slots/1/take").json()
    assert world["slots"][0] | {"led": None} == {  # the LED blinks until the daemon sees the door shut
        "slot": 1, "door": "closed", "lock": "locked", "led": None, "device": None, "battery": None
    }
    out = {d["serial"]: d for d in world["devices"]}["S1-0001"]
    assert (out["slot"], out["charging"]) == (None, False)
    state = cabinet.until(lambda s: s["screen"]["view"] == "done")
    assert state["cabinet"]["slots"][0]["state"] == "empty"
    assert cabinet.world()["slots"][0]["led"] is False


# A daemon process of its own, started for this test: two to three seconds.
@pytest.mark.slow
def test_ok__badge_and_device_settings_reach_the_daemon_through_the_real_drivers(cabinet: Daemon) -> None:
    world = cabinet.sim("devices/S1-0002", {"battery": 75, "selftest": "fail:wifi", "responsive": False}).json()
    device = {d["serial"]: d for d in world["devices"]}["S1-0002"]
    assert (device["battery"], device["selftest"], device["responsive"]) == (75, "fail:wifi", False)
    assert cabinet.sim("badge", {"uid": "7a8b9c"}).status_code == 200  # Chen: lower case is the same badge
    state = cabinet.until(lambda s: s["session"] is not None)
    assert state["session"]["name"] == "Chen Zhao"


# The daemon is stopped or killed and started again: five to six seconds.
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["stop", "crash"])
def test_ok__the_world_survives_a_restart_of_the_daemon(cabinet: Daemon, sig: int) -> None:
    rent_from_slot_1(cabinet)  # S1-0001 leaves with Anna
    cabinet.sim("devices/S1-0002", {"battery": 70})
    cabinet.sim("devices/R1-0001", {"selftest": "fail:camera"})
    cabinet.sim("slots/8/door", {"open": True, "force": True})
    before = contents(cabinet.world())
    cabinet.stop(sig)

    saved = json.loads((cabinet.state / FILE_NAME).read_text())
    assert {d["serial"]: d["slot"] for d in saved["devices"]}["S1-0001"] is None
    cabinet.start()
    world = cabinet.world()
    assert contents(world) == before
    devices = {d["serial"]: d for d in world["devices"]}
    assert devices["S1-0002"]["battery"] >= 70
    assert devices["S1-0001"]["charging"] is False
    state = cabinet.settled()
    assert state["cabinet"]["slots"][0]["state"] == "empty"  # the ledger and the world agree: no difference
    assert "door_left_open" in state["cabinet"]["slots"][7]["alarms"]  # found open at start
    cabinet.sim("badge", {"uid": ANNA})
    state = cabinet.until(lambda s: s["screen"]["view"] == "returning")
    assert [held["device"] for held in state["session"]["held"]] == ["S1-0001"]


def test_ok__the_panel_and_the_roster_for_its_badge_buttons(untouched: Daemon) -> None:
    cabinet = untouched
    page = cabinet.http.get("/sim")
    assert page.status_code == 200
    assert "Simulated cabinet" in page.text
    assert cabinet.http.get("/kiosk/static/sim.js").status_code == 200
    staff = {member["badge"]: member for member in cabinet.http.get("/sim/staff").json()}
    assert staff[ANNA] == {
        "badge": ANNA, "name": "Anna Li", "store": "demo", "work_type": "price-tags", "role": "staff", "active": True
    }
    assert staff[DINA]["active"] is False


def test_ok__no_simulator_routes_without_the_simulated_world(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(f'[cabinet]\nstate_dir = "{tmp_path}/state"\n[api]\ncontrol_socket = "{tmp_path}/c.sock"\n')
    config = configfile.load([ROOT / "config" / "sim.toml", site])
    sim = SimCabinet(config)  # a plain simulated cabinet, as the flow tests use: no world, no /sim
    try:
        paths = {getattr(route, "path", "") for route in Cabinet(config, sim=sim).api.app.routes}
    finally:
        sim.close()
    assert {"/", "/kiosk/events"} <= paths
    assert not {path for path in paths if path.startswith("/sim")}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{", "not JSON: Expecting property name enclosed in double quotes at line 1"),
        ('{"devices": [{"serial": "A", "model": "m", "selftest": "broken"}]}', "devices.0.selftest: Value error"),
        ('{"version": 2}', "version 2, this simulator reads version 1"),
    ],
)
def test_fail__a_damaged_world_file_is_named_with_what_is_wrong(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / FILE_NAME
    path.write_text(text)
    with pytest.raises(SimWorldError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}: {error}")


def test_ok__the_demo_stock_is_the_demo_fleets_devices_with_an_empty_slot_in_each_module() -> None:
    fleet = tomllib.loads((ROOT / "config" / "fleet-demo.toml").read_text())
    known = {device["serial"]: (device["model"], device["store"]) for device in fleet["devices"]}
    stock = demo_stock().devices
    assert {device.serial: (device.model, "demo") for device in stock}.items() <= known.items()
    slots = {device.slot for device in stock}
    assert {3, 8}.isdisjoint(slots)
    assert [device.serial for device in stock if device.selftest != "pass"] == ["S1-0003"]
    # Charging: below the lowest battery threshold of the work types that take the model.
    lowest = {
        model: min(wt["battery_threshold"] for wt in fleet["work_types"] if model in wt["device_models"])
        for model in ("pda-s1", "pda-r1", "pda-a1")
    }
    assert sorted(device.serial for device in stock if device.battery < lowest[device.model]) == ["R1-0002", "S1-0002"]
