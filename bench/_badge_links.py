"""Badge to unlock when the rent has to provision the handheld first, per device link.

    python -m bench badge --link adb [--json] [--rents N] [--apk-mb MB]

The cabinet and the timing are `bench badge`'s (the simulated cabinet in-process with the production
drivers, a pty badge reader, a mock lock pin probed at its edge). What differs is that every measured
rent provisions: two people of two work types that use the same two apps badge in turn, so each rent
finds the handheld last provisioned for the other work type and the daemon goes through the device
link before it unlocks. Three cases, in one run, each with its own rents:

- `aoa`: an agent handheld (the accessory protocol to the cabinet's own agent app);
- `adb_nothing`: a stock Android handheld over adb that already holds both apps in their versions:
  `pm list packages --show-versioncode`, `pm enable` of each, the check afterwards;
- `adb_one_app`: the same, with one app removed from the handheld before each rent, so the rent pushes
  its APK over the adb sync protocol and runs `pm install -r` (an APK of `--apk-mb`, 8 MB by default,
  the size of a typical store app).

The adb server is the simulated one on a loopback TCP port speaking the adb host protocol, so the
figures are our side of the link and the protocol's round trips, not a real device's install time
(dexopt) or a real cable's speed. Beside them, the floor: `bench badge`'s bare loop (pyserial read,
one durable SQLite commit, one pin write) measured in the same run.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.badge import SLOT, BareLoop, Edge, LockProbe, _rent_once, bench_config, percentiles, until
from cabinetd.cabinet import Cabinet
from cabinetd.hal.badgecodec import encode_rdm6300
from cabinetd.lifecycle import Subsystem
from cabinetd.sim.android import MANIFEST, STORE_SIGNER
from cabinetd.sim.cabinet import SimCabinet
from cabinetproto.enums import SlotState

BADGES = {"anna": "A1B2C3", "ben": "B2C3D4"}
WORK_OF = {"anna": "price-tags", "ben": "stock-count"}
ADB_SERIAL = "A1-0001"
HOME = "com.example.home"
LABELS = "com.example.labels"  # the app the one-app case takes away before each rent


def sized_apk(package: str, version_code: int, size: int) -> bytes:
    """An APK the simulated handheld can read (its manifest), padded with incompressible bytes to
    `size` so that the push costs what a real app's would."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as apk:
        manifest = {"package": package, "version_code": version_code, "signer_sha256": STORE_SIGNER}
        apk.writestr(MANIFEST, json.dumps(manifest))
        apk.writestr("classes.dex", os.urandom(size), compress_type=zipfile.ZIP_STORED)
    return buffer.getvalue()


def roster(model: str, link: str, apps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = [
        {"entity": "device_models", "id": model, "data": {"name": model, "slot_types": ["pda-standard"], "link": link}}
    ]
    for person, work_type in WORK_OF.items():
        ops.append({"entity": "work_types", "id": work_type, "data": {
            "name": work_type, "rental_limit_minutes": 240, "battery_threshold": 40, "device_models": [model],
            "apps": apps, "home_app": HOME, "max_devices_per_staff": 1}})
        ops.append({"entity": "staff", "id": person, "data": {
            "badge": BADGES[person], "name": person, "store": "demo", "work_type": work_type, "active": True}})
    return ops


class Case:
    """One cabinet with one handheld in slot 1, and what to do to it before each rent."""

    def __init__(self, name: str, directory: Path, apk_bytes: int) -> None:
        self.name = name
        self.config = bench_config(directory)
        stock = name.startswith("adb")
        self.sim = SimCabinet(self.config, occupied=[] if stock else [SLOT])
        apps = []
        for package, code in ((HOME, 240), (LABELS, 312)):
            apk = sized_apk(package, code, apk_bytes)
            digest = hashlib.sha256(apk).hexdigest()
            apps.append({"package": package, "version": str(code), "version_code": code,
                         "url": f"https://apps.example/{package}.apk", "sha256": digest})
            self.sim.packages.mkdir(parents=True, exist_ok=True)
            (self.sim.packages / f"{digest}.apk").write_bytes(apk)
        model = "pda-a1" if stock else "pda-s1"
        self.roster = roster(model, "adb" if stock else "aoa-agent", apps)
        if stock:
            self.roster.append({"entity": "devices", "id": ADB_SERIAL, "data": {"model": model}})
            self.sim.insert(SLOT, self.sim.handheld(ADB_SERIAL, model=model, link="adb"))
        self.taken_away = 0  # how often the one-app case found the app back (the last rent installed it)
        self.before_rent: Callable[[], None] = lambda: None
        if name == "adb_one_app":
            self.before_rent = self._take_the_app_away

    def _take_the_app_away(self) -> None:
        if self.sim.androids[ADB_SERIAL].packages.pop(LABELS, None) is not None:
            self.taken_away += 1


async def measure(case: Case, rents: int, gap_s: float, floor: BareLoop) -> tuple[list[float], list[float]]:
    sim, config = case.sim, case.config
    module = next(m for m in config.modules if any(s.number == SLOT for s in m.slots))
    lock_pin = next(s.lock.pin for s in module.slots if s.number == SLOT)
    probe: LockProbe = sim.locks.pin_factory.pin(lock_pin, pin_class=LockProbe)
    edge = Edge(asyncio.get_running_loop())
    probe.on_change = edge.seen
    cabinet = Cabinet(config, sim=sim)
    parts: list[Subsystem] = [p for p in cabinet.subsystems if p is not cabinet.api]
    tasks: list[asyncio.Task[None]] = []
    samples: list[float] = []
    floor_samples: list[float] = []
    frames = [encode_rdm6300(int(BADGES[person], 16)) for person in WORK_OF]
    try:
        await parts[0].prepare()
        ledger = cabinet.ledger.ledger
        ledger.replace_replicas([{**op, "version": 1, "op": "upsert"} for op in case.roster], "bench")
        for part in parts[1:]:
            await part.prepare()
        tasks = [asyncio.create_task(part.run(), name=part.name) for part in parts]
        slot = cabinet.controller.slots[SLOT]
        await until(lambda: slot.state is SlotState.READY, "slot 1's device inspected and ready")
        for turn in range(4):  # warm-up: both work types provisioned once, caches filled
            case.before_rent()
            await _rent_once(cabinet, sim.reader, edge, frames[turn % 2], gap_s)
        last_seq = ledger.tail(1)[-1].seq
        turn = 0
        while len(samples) < rents:
            floor_samples.append(floor.read_once(frames[0]))
            case.before_rent()
            samples.append(await _rent_once(cabinet, sim.reader, edge, frames[turn % 2], gap_s))
            turn += 1
        written = [e.type for e in ledger.tail(100 * rents) if e.seq > last_seq]
        for task in tasks:
            if task.done():
                task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for part in reversed(parts):
            await part.cleanup()
        sim.close()
    # The measured path, checked: every rent provisioned the handheld and then started.
    if written.count("device_provisioned") != rents or written.count("dispense_started") != rents:
        raise RuntimeError(f"{case.name}: the rents did not all provision: {sorted(set(written))}")
    if case.before_rent == case._take_the_app_away and case.taken_away < rents:
        raise RuntimeError(f"{case.name}: {LABELS} was installed back by {case.taken_away} of {rents} rents")
    return samples, floor_samples


def _figures(samples: list[float]) -> dict[str, float]:
    p50, p99, worst = percentiles(samples)
    return {"p50_ms": round(p50, 2), "p99_ms": round(p99, 2), "max_ms": round(worst, 2)}


def run(rents: int, gap_s: float, apk_mb: float, base: Path | None) -> dict[str, Any]:
    results: dict[str, Any] = {"n": rents, "apk_mb": apk_mb}
    floor_all: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-badge-link-", dir=base) as name:
        floor = BareLoop(Path(name))
        try:
            for case_name in ("aoa", "adb_nothing", "adb_one_app"):
                directory = Path(name) / case_name
                directory.mkdir()
                case = Case(case_name, directory, int(apk_mb * 1024 * 1024))
                samples, floor_samples = asyncio.run(measure(case, rents, gap_s, floor))
                results[case_name] = _figures(samples)
                floor_all += floor_samples
        finally:
            floor.close()
    results["floor"] = _figures(floor_all)
    aoa_p50 = results["aoa"]["p50_ms"]
    for case_name in ("adb_nothing", "adb_one_app"):
        results[case_name]["vs_aoa_p50"] = round(results[case_name]["p50_ms"] / aoa_p50, 2)
    return results
