"""`cabinetd run` with the simulated cabinet as a child process, for the kiosk and simulator tests.

The ledger is seeded with the demo fleet's roster (config/fleet-demo.toml) before the daemon starts, as
the sync client would have left it, so that these tests need no cloud. Work types get a download for
their apps here (the seed file names only package and version), so that renting provisions.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from cabinetd.ledger.integrity import open_ledger
from cabinetd.sim import worldfile
from cabinetd.sim.worldfile import WorldRecord
from cabinetproto.badges import BADGE_FORMAT
from cabinetproto.chain import uuid7
from cabinetproto.pins import hash_pin

ROOT = Path(__file__).resolve().parents[3]
FLEET = ROOT / "config" / "fleet-demo.toml"
SHA = hashlib.sha256(b"app").hexdigest()

# Badges of config/fleet-demo.toml's staff.
# The roster forms of config/fleet-demo.toml's badges (NOBODY is card data no roster entry matches).
ANNA, BO, CHEN, DINA = "0001715004", "0005070447", "0008031132", "171,52719"
TECH, ERIK, NOBODY = "0012648430", "0001234567", "5A5A5A"


@dataclass(frozen=True)
class Rental:
    staff: str
    device: str
    slot: int
    due_at: datetime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def demo_roster() -> list[dict[str, Any]]:
    """The fleet file as the cloud's change feed would hand it to cabinet sim-1 (store "demo")."""
    fleet = tomllib.loads(FLEET.read_text())
    ops: list[dict[str, Any]] = []

    def op(entity: str, key: str, data: dict[str, Any]) -> None:
        ops.append({"entity": entity, "id": key, "version": 1, "op": "upsert", "data": data})

    def named(entry: dict[str, Any]) -> dict[str, Any]:
        # As the cloud stores a seed name: the plain one (the first language's), and the table.
        name = entry["name"]
        if isinstance(name, str):
            return {"name": name, "names": {}}
        return {"name": next(iter(name.values())), "names": name}

    for n, wt in enumerate(fleet["work_types"]):
        apps = [
            {**app, "version_code": 100 + n, "url": f"https://apps.example/{app['package']}.apk", "sha256": SHA}
            for app in wt.get("apps", [])
        ]
        op("work_types", wt["id"], {
            **named(wt), "apps": apps, "battery_threshold": wt["battery_threshold"],
            "rental_limit_minutes": wt["rental_limit_minutes"], "max_devices_per_staff": wt.get("device_limit", 1),
            "device_models": wt["device_models"],
        })
    for model in fleet["device_models"]:
        link = model.get("link", "aoa-agent")
        op("device_models", model["id"], {**named(model), "slot_types": [model["slot_type"]], "link": link})
    for device in fleet["devices"]:
        op("devices", device["serial"], {"model": device["model"], "active": device.get("active", True)})
    for staff in fleet["staff"]:
        pin = staff.get("pin")
        op("staff", staff["id"], {
            "badge": staff["badge"], "badge_format": BADGE_FORMAT,
            "name": staff["name"], "store": staff["store"], "work_type": staff["work_type"],
            "role": staff.get("role", "staff"), "active": staff.get("active", True),
            "pin_hash": hash_pin(pin, b"kiosk-test-salt!") if pin else None,
        })
    return ops


class Daemon:
    """One simulated cabinet; `start()` waits until its local API answers."""

    def __init__(self, directory: Path, *, cloud_url: str | None = None, **timeouts: float) -> None:
        self.directory = directory
        self.state = directory / "state"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = directory / "cabinetd.log"
        self.process: subprocess.Popen[bytes] | None = None
        # People badge again within seconds in these tests; the reader's repeat window would eat that.
        timeouts = {"badge_repeat_s": 0.05, **timeouts}
        lines = [
            f'[cabinet]\nstate_dir = "{self.state}"\n',
            f'[api]\nport = {self.port}\ncontrol_socket = "{directory}/control.sock"\n',
            f'[cloud]\ntoken_file = "{self.state}/cloud.token"\n' + (f'url = "{cloud_url}"\n' if cloud_url else ""),
            "[timeouts]\n" + "".join(f"{key} = {float(value)}\n" for key, value in timeouts.items()),
        ]
        self.site = directory / "site.toml"
        self.site.write_text("".join(lines))
        self.http = httpx.Client(base_url=self.url, timeout=15)

    def seed(self, *, rentals: Sequence[Rental] = (), world: WorldRecord | None = None) -> None:
        """The roster, rentals already open (the device is out with the person), and the simulated
        world to start from (the demo stock when None)."""
        ledger = open_ledger(self.state, "sim-1")
        try:
            ledger.replace_replicas(demo_roster(), "kiosk-test")
            for rental in rentals:
                payload = {"rental_id": str(uuid7()), "due_at": rental.due_at.isoformat()}
                ledger.append("device_rented", payload, slot=rental.slot, device=rental.device, staff=rental.staff)
        finally:
            ledger.close()
        if world is not None:
            worldfile.save(self.state / worldfile.FILE_NAME, world)

    def start(self, *, timeout: float = 15.0) -> None:
        command = [sys.executable, "-m", "cabinetd", "run", "--config", str(ROOT / "config" / "sim.toml"),
                   "--config", str(self.site)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"cabinetd exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if self.http.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"cabinetd did not answer within {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return 0 if process is None else process.returncode
        os.kill(process.pid, sig)
        try:
            return process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError("cabinetd did not stop within 10 s") from None

    def close(self) -> None:
        self.stop()
        self.http.close()

    # --- the simulator and the kiosk over HTTP ----------------------------------------------------

    def sim(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.http.post(f"/sim/{path}", json=body or {})

    def world(self) -> dict[str, Any]:
        found: dict[str, Any] = self.http.get("/sim/state").json()
        return found

    def kiosk(self) -> dict[str, Any]:
        found: dict[str, Any] = self.http.get("/kiosk/state").json()
        return found

    def until(self, what: Any, timeout: float = 10.0) -> dict[str, Any]:
        """Poll the kiosk's state until `what(state)` holds; returns that state."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.kiosk()
            if what(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; the kiosk shows {state['screen']}")
            time.sleep(0.05)

    def settled(self, timeout: float = 15.0) -> dict[str, Any]:
        """The cabinet once every slot holding a device has been checked (first start: found, inspected)."""
        return self.until(
            lambda s: all(slot["state"] in ("empty", "ready", "charging", "faulty") for slot in s["cabinet"]["slots"]),
            timeout,
        )
