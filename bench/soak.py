"""The soak: a real cabinet and a real cloud put through a working day's mishaps for some minutes.

    python -m bench soak [--json] [--minutes M] [--seed N] [--dir PATH] [--model-examples N]

`cabinetd run` (the simulated cabinet, config/sim.toml with a site file in a temporary directory) and
`cabinet-cloud serve` (SQLite, the demo fleet) run as processes, the faulty proxy of testbed/ between
them. Random staff badge, take and return devices through the simulator's `/sim/*` panel, while the
cabinet is SIGKILLed (between people and in the middle of a take or a return) and started again over
the same state directory, the cloud is stopped and started again, and the network drops, resets,
truncates and duplicates requests. At the end the network heals, the cabinet syncs, both stop, and
the soak compares the cabinet's ledger with the cloud's events and with where the devices are.

Must be 0: `open_rentals_in_a_slot`, `events_lost`, `events_duplicated`, `answers_5xx`; the command
exits 1 when one is not. `--model-examples N` also runs the stateful model (tests/flows/test_stateful.py)
with N random examples instead of its fixed CI days. docs/soak.md says what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Final

import httpx

from cabinetcloud.storage import Storage
from cabinetd.ledger.integrity import LEDGER_FILE
from cabinetd.sim.worldfile import FILE_NAME as WORLD_FILE
from testbed.cloudharness import cloud_event_ids
from testbed.soakrig import CABINET, ROOT, SoakError, SoakRig

SYNC_S: Final = 180.0  # the final sync: the backlog of a few minutes, through a healed network
SCREEN_S: Final = 8.0


class Soak:
    def __init__(self, rig: SoakRig, rng: random.Random) -> None:
        self.rig = rig
        self.rng = rng
        self.done: Counter[str] = Counter()
        self.kills = 0
        self.kills_survived = 0
        self.exits_on_its_own = 0
        self.outages = 0
        self.badges: list[str] = []
        self.others: list[str] = []

    # --- the day ---------------------------------------------------------------------------------

    def run(self, seconds: float) -> None:
        rig = self.rig
        rig.cloud.start()
        self.start_cabinet()
        self.badges, self.others = self.roster()
        deadline = time.monotonic() + seconds
        # However short the day, it has a kill in the middle of someone's visit and a restart.
        self.kill_during_a_visit()
        while time.monotonic() < deadline:
            roll = self.rng.random()
            if roll < 0.06:
                self.kill_and_restart()
            elif roll < 0.14:
                self.kill_during_a_visit()
            elif roll < 0.19:
                self.cloud_goes_down_or_up()
            else:
                self.visit()

    def roster(self) -> tuple[list[str], list[str]]:
        """The badges of staff who rent here, and the rest (other stores, technicians, a stranger),
        once the first sync has brought the roster."""
        deadline = time.monotonic() + SYNC_S
        while time.monotonic() < deadline:
            rows = [row for row in self.rig.get("/sim/staff") if row["active"]]
            if rows:
                renting = [row["badge"] for row in rows if row["role"] == "staff" and row["store"] == "demo"]
                return renting, [*(row["badge"] for row in rows if row["badge"] not in renting), "DEADBEEF"]
            self.rig.control("POST", "/sync/now")
            time.sleep(0.5)
        sync = self.rig.control("GET", "/sync")
        raise SoakError(f"the cabinet has no roster {SYNC_S:.0f} s after it started: {sync}")

    def start_cabinet(self) -> None:
        self.rig.cabinet.start()
        # As a technician would after a restart: skip the random wait before the first sync.
        with contextlib.suppress(httpx.TransportError):
            self.rig.control("POST", "/sync/now")

    def kill_and_restart(self) -> None:
        self.rig.cabinet.kill()
        self.kills += 1
        self.start_cabinet()
        self.kills_survived += 1

    def kill_during_a_visit(self) -> None:
        killer = threading.Timer(self.rng.uniform(0.0, 2.5), self.rig.cabinet.kill)
        killer.start()
        with contextlib.suppress(httpx.TransportError):
            self.visit()
        killer.join()
        self.kills += 1
        self.start_cabinet()
        self.kills_survived += 1

    def cloud_goes_down_or_up(self) -> None:
        if self.rig.cloud.exited() is None and self.rig.cloud.process is not None:
            self.rig.cloud.stop()
            self.outages += 1
        else:
            self.rig.cloud.start()

    def visit(self) -> None:
        """Someone taps their badge and does what the screen asks: take a device or put one back."""
        rig = self.rig
        if rig.cabinet.exited() is not None:
            self.exits_on_its_own += 1  # the daemon died without being killed: systemd would restart it
            self.start_cabinet()
        badge = self.rng.choice(self.others if self.rng.random() < 0.1 else self.badges)
        before = rig.get("/kiosk/state")["screen"]
        rig.post("/sim/badge", {"uid": badge})
        screen = self.screen_after(before)
        view, slot = screen.get("view"), screen.get("slot")
        if view == "dispensing" and slot is not None:
            self.act(f"/sim/slots/{slot}/take", None, "rent")
        elif view == "returning" and slot is not None:
            held = self.held_by(badge)
            if held is None:
                self.done["return without a held device"] += 1
                return
            self.act(f"/sim/slots/{slot}/put", {"serial": held}, "return")
        else:
            self.done[f"screen {view or 'unchanged'}"] += 1
        if view in ("pin", "maintenance", "returning", "dispensing"):
            rig.post("/kiosk/choose", {"choice": "cancel"})  # done, or walked away: end the session

    def act(self, path: str, body: dict[str, Any] | None, what: str) -> None:
        status = self.rig.post(path, body)
        self.done[what if status == 200 else f"{what} refused by the simulator ({status})"] += 1

    def screen_after(self, before: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + SCREEN_S
        while time.monotonic() < deadline:
            screen: dict[str, Any] = self.rig.get("/kiosk/state")["screen"]
            if screen["version"] != before["version"] and screen.get("view") not in (None, "idle"):
                return screen
            time.sleep(0.05)
        return {}

    def held_by(self, badge: str) -> str | None:
        """The device this badge's holder has out, from the ledger (read-only, beside the daemon)."""
        with _read_only(self.rig.state / LEDGER_FILE) as db:
            row = db.execute(
                "SELECT r.device FROM rentals r JOIN staff s ON s.staff_id = r.staff "
                "WHERE s.badge = ? AND r.status = 'open' ORDER BY r.started_at LIMIT 1",
                (badge,),
            ).fetchone()
        return None if row is None else str(row[0])

    # --- the end of the day ----------------------------------------------------------------------

    def final_sync(self) -> bool:
        rig = self.rig
        rig.network_heals()
        if rig.cloud.exited() is not None or rig.cloud.process is None:
            rig.cloud.start()
        if rig.cabinet.exited() is not None:
            self.exits_on_its_own += 1
            self.start_cabinet()
        deadline = time.monotonic() + SYNC_S
        while time.monotonic() < deadline:
            rig.control("POST", "/sync/now")
            status = rig.control("GET", "/sync")
            if status["pending_events"] == 0 and status["online"]:
                return True
            time.sleep(1.0)
        return False


@contextlib.contextmanager
def _read_only(path: Path) -> Any:
    db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        yield db
    finally:
        db.close()


def tally(rig: SoakRig) -> dict[str, int]:
    """After both stopped: the ledger against the cloud and against where the devices are."""
    with _read_only(rig.state / LEDGER_FILE) as db:
        ours = {str(row[0]) for row in db.execute("SELECT event_id FROM events")}
        open_rentals = {str(row[0]) for row in db.execute("SELECT device FROM rentals WHERE status = 'open'")}
    world = json.loads((rig.state / WORLD_FILE).read_text())
    in_slots = {device["serial"] for device in world["devices"] if device.get("slot") is not None}
    storage = Storage(rig.db)
    try:
        theirs = Counter(cloud_event_ids(storage, CABINET))
    finally:
        storage.dispose()
    return {
        "events_in_ledger": len(ours),
        "open_rentals": len(open_rentals),
        "open_rentals_in_a_slot": len(open_rentals & in_slots),
        "events_lost": len(ours - set(theirs)),
        "events_duplicated": sum(count - 1 for count in theirs.values() if count > 1),
    }


def run_model(examples: int) -> dict[str, Any]:
    """The stateful model's random hunt, in a pytest of its own (bench imports nothing from tests/)."""
    env = {**os.environ, "CABINET_DAY_EXAMPLES": str(examples)}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "timeout=0"]
    started = time.monotonic()
    done = subprocess.run(
        [*argv, "tests/flows/test_stateful.py"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    last = (done.stdout.strip().splitlines() or [""])[-1]
    return {
        "examples": examples,
        "passed": done.returncode == 0,
        "seconds": round(time.monotonic() - started, 1),
        "summary": last,
    }


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench soak")
    parser.add_argument("--minutes", type=float, default=2.0, help="how long the day lasts (default 2)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one)")
    parser.add_argument("--dir", type=Path, default=None, help="keep the cabinet and the cloud here")
    parser.add_argument("--model-examples", type=int, default=0, help="also run the stateful model this long")
    options = parser.parse_args(argv)
    seed = options.seed if options.seed is not None else random.randrange(2**32)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as scratch:
        directory = options.dir or Path(scratch)
        rig = SoakRig(directory, seed)
        soak = Soak(rig, random.Random(seed))
        try:
            soak.run(options.minutes * 60)
            synced = soak.final_sync()
        finally:
            rig.close()
        figures = tally(rig)
        answers_5xx = rig.answers_5xx()
    result: dict[str, Any] = {
        "seed": seed,
        "minutes": options.minutes,
        "seconds": round(time.monotonic() - started, 1),
        "operations": sum(soak.done.values()),
        "by_kind": dict(soak.done),
        "kills": soak.kills,
        "kills_survived": soak.kills_survived,
        "exits_on_its_own": soak.exits_on_its_own,
        "cloud_outages": soak.outages,
        "network_faults": {str(k): v for k, v in rig.proxy.injected.items() if k != "pass"},
        "final_sync_done": synced,
        **figures,
        "answers_5xx": sum(answers_5xx.values()),
        "answers_5xx_by_side": answers_5xx,
    }
    must_be_0 = ("open_rentals_in_a_slot", "events_lost", "events_duplicated", "answers_5xx")
    result["ok"] = synced and all(result[key] == 0 for key in must_be_0)
    if options.model_examples:
        result["model"] = run_model(options.model_examples)
        result["ok"] = result["ok"] and result["model"]["passed"]
    return result
