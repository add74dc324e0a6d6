"""`make demo`'s start-up script: the cloud, the enrolled simulated cabinet, a rent and a return that
reach the cloud, the kiosk's banner when the cloud goes away, Ctrl-C, and a second run on the same state."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from cabinetd.demo import Demo
from tests.api.kiosk.conftest import VIEWPORT, Shots
from tests.api.kiosk.daemon import ANNA, ROOT, free_port

# The whole demo (a cloud, a cabinet, a browser) started per test: ten to twenty seconds apiece.
pytestmark = pytest.mark.slow


def kiosk_until(client: httpx.Client, what: Any, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state: dict[str, Any] = client.get("/kiosk/state").json()
        if what(state):
            return state
        assert time.monotonic() < deadline, f"timed out; the kiosk shows {state['screen']}"
        time.sleep(0.05)


def cloud_events(demo: Demo) -> list[dict[str, Any]]:
    """What the cloud holds from sim-1, fetched back with the cabinet's own token."""
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(demo.state / "sim" / "control.sock"))) as control:
        epoch = control.get("http://cabinet/sync").json()["epoch"]
    token = demo.token_file.read_text().strip()
    reply = httpx.get(
        f"{demo.cloud.url}/v1/cabinets/sim-1/events",
        params={"epoch": epoch, "after": 0, "limit": 1000},
        headers={"Authorization": f"Bearer {token}"},
    )
    reply.raise_for_status()
    events: list[dict[str, Any]] = reply.json()["events"]
    return events


def test_ok__a_rent_and_a_return_reach_the_cloud_and_the_kiosk_says_when_it_is_gone(
    tmp_path: Path, browser: Browser
) -> None:
    demo = Demo(tmp_path / "state", cloud_port=free_port(), kiosk_port=free_port())
    page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
    shot = Shots(page, tmp_path)
    kiosk = httpx.Client(base_url=demo.cabinet.url, timeout=15)
    try:
        demo.start()
        kiosk_until(kiosk, lambda s: s["cabinet"]["online"] and s["cabinet"]["ready"])
        page.goto(demo.cabinet.url + "/")
        expect(page.locator("#link-state")).to_have_text("在线")
        expect(page.locator("#offline-banner")).to_be_hidden()
        expect(page.locator("#ready li[data-work-type='price-tags']")).to_contain_text("1 台可借")
        # The seed's Chinese name, through the cloud's change feed and the cabinet's replica.
        expect(page.locator("#ready li[data-work-type='price-tags']")).to_contain_text("价签")
        shot("idle-online")

        kiosk.post("/sim/badge", json={"uid": ANNA})
        slot = kiosk_until(kiosk, lambda s: s["screen"].get("step") == "door")["screen"]["slot"]
        assert kiosk.post(f"/sim/slots/{slot}/take", json={}).status_code == 200
        kiosk_until(kiosk, lambda s: s["screen"]["view"] == "done")
        time.sleep(2.1)  # the badge reader counts the same badge within 2 s as one read
        kiosk.post("/sim/badge", json={"uid": ANNA})
        back = kiosk_until(kiosk, lambda s: s["screen"]["view"] == "returning")["screen"]["slot"]
        assert kiosk.post(f"/sim/slots/{back}/put", json={"serial": "S1-0001"}).status_code == 200
        kiosk_until(kiosk, lambda s: s["screen"]["view"] == "returned")

        deadline = time.monotonic() + 20
        while True:
            events = cloud_events(demo)
            rented = [e for e in events if e["type"] == "device_rented" and e["staff"] == "demo-anna"]
            rental = rented[0]["payload"]["rental_id"] if rented else None
            returned = [e for e in events if e["type"] == "device_returned" and e["payload"]["rental_id"] == rental]
            if rented and returned:
                break
            assert time.monotonic() < deadline, [e["type"] for e in events][-10:]
            time.sleep(0.25)
        assert rented[0]["device"] == returned[0]["device"] == "S1-0001"
    finally:
        page.close()
        kiosk.close()
        demo.stop()


def test_ok__the_kiosk_shows_the_offline_banner_when_the_cloud_stops(tmp_path: Path, browser: Browser) -> None:
    demo = Demo(tmp_path / "state", cloud_port=free_port(), kiosk_port=free_port())
    page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
    kiosk = httpx.Client(base_url=demo.cabinet.url, timeout=15)
    try:
        demo.start()
        kiosk_until(kiosk, lambda s: s["cabinet"]["online"])
        page.goto(demo.cabinet.url + "/")
        expect(page.locator("#offline-banner")).to_be_hidden()
        demo.cloud.stop()
        expect(page.locator("#offline-banner")).to_be_visible(timeout=10_000)
        expect(page.locator("#link-state")).to_have_text("离线")
        Shots(page, tmp_path)("offline-banner")
    finally:
        page.close()
        kiosk.close()
        demo.stop()


def run_demo(state: Path, cloud_port: int, kiosk_port: int) -> tuple[str, int]:
    """One `make demo` until it is up, then Ctrl-C; returns what it printed and its exit code."""
    command = [sys.executable, "-m", "cabinetd.demo", "--state", str(state),
               "--cloud-port", str(cloud_port), "--kiosk-port", str(kiosk_port)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    printed = []
    for line in process.stdout:
        printed.append(line)
        if "Ctrl-C stops everything" in line:
            break
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=30)
    return "".join(printed) + rest, process.returncode


def test_ok__ctrl_c_stops_everything_and_a_second_run_reuses_the_first_ones_state(tmp_path: Path) -> None:
    state, ports = tmp_path / "state", (free_port(), free_port())
    first, code = run_demo(state, *ports)
    assert code == 0, first
    assert f"kiosk (the touchscreen):  http://127.0.0.1:{ports[1]}/" in first
    assert f"simulator panel:          http://127.0.0.1:{ports[1]}/sim" in first
    for badge in ("0001715004", "0005070447", "0001234567"):
        assert badge in first
    assert "no roster" not in first  # the cabinet had the fleet's roster before the greeting
    for port in ports:  # nothing left listening
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
        except httpx.TransportError:
            continue
        raise AssertionError(f"port {port} still answers after Ctrl-C")
    token = (state / "sim" / "cloud.token").read_text()

    second, code = run_demo(state, *ports)
    assert code == 0, second
    assert "no roster" not in second
    assert "enrolling" not in second
    assert (state / "sim" / "cloud.token").read_text() == token  # the same enrolment
    assert "restored from" in (state / "cabinetd.log").read_text()  # the simulated world of the first run
