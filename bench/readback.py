"""The read-back at a return, per device link: self-test, usage over the rental, end of the session.

    python -m bench readback [--json] [--runs N]

At a return the inspection flow asks the handheld three things in turn through the device link
(cabinetd/flows/inspection.py): `selftest(since=rental start)`, `usage(since)` and
`end_session(clear=work apps)`. This times each, and the three together, on the simulated cabinet
in-process with the production drivers (`bench badge --link`'s cabinet): an agent handheld over the
accessory protocol on the emulated USB bus, and a stock Android handheld over adb through the
simulated adb server on a loopback TCP port (`dumpsys battery`, `df`, `uptime`, `dumpsys dropbox`,
`dumpsys usagestats`, `pm clear` of each work app). The device's refresh loop keeps running beside it,
as in the field. Beside them, the floor: one `getprop ro.serialno` round trip over the same adb
server, the least a question to a stock handheld costs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import adbutils

from bench._badge_links import ADB_SERIAL, HOME, LABELS, Case
from bench.badge import SLOT, until
from cabinetd.cabinet import Cabinet
from cabinetd.lifecycle import Subsystem
from cabinetproto.enums import SlotState

STEPS = ("selftest", "usage", "end_session", "total")


async def _time_readbacks(case: Case, runs: int) -> dict[str, list[float]]:
    cabinet = Cabinet(case.config, sim=case.sim)
    parts: list[Subsystem] = [p for p in cabinet.subsystems if p is not cabinet.api]
    tasks: list[asyncio.Task[None]] = []
    samples: dict[str, list[float]] = {step: [] for step in STEPS}
    try:
        await parts[0].prepare()
        ledger = cabinet.ledger.ledger
        ledger.replace_replicas([{**op, "version": 1, "op": "upsert"} for op in case.roster], "bench")
        for part in parts[1:]:
            await part.prepare()
        tasks = [asyncio.create_task(part.run(), name=part.name) for part in parts]
        slot = cabinet.controller.slots[SLOT]
        await until(lambda: slot.state is SlotState.READY, "slot 1's device inspected and ready")
        link = cabinet.hardware.link
        since = datetime.now(UTC) - timedelta(hours=4)  # a shift's rental
        for run in range(runs + 2):  # the first two warm up
            start = time.perf_counter()
            await link.selftest(SLOT, since=since)
            tested = time.perf_counter()
            await link.usage(SLOT, since)
            used = time.perf_counter()
            await link.end_session(SLOT, clear=[HOME, LABELS])
            ended = time.perf_counter()
            if run >= 2:
                spans = (tested - start, used - tested, ended - used, ended - start)
                for step, seconds in zip(STEPS, spans, strict=True):
                    samples[step].append(seconds)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for part in reversed(parts):
            await part.cleanup()
        case.sim.close()
    return samples


def _floor(case: Case, runs: int) -> list[float]:
    """One shell round trip through the same simulated adb server, with nothing of ours around it."""
    client = adbutils.AdbClient(host=case.sim.adb.host, port=case.sim.adb.port)
    device = client.device(ADB_SERIAL)
    samples = []
    for _ in range(runs + 2):  # adbutils itself waits 10 ms as it closes each connection: in every figure
        start = time.perf_counter()
        device.shell("getprop ro.serialno")
        samples.append(time.perf_counter() - start)
    return samples[2:]


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(s * 1000 for s in samples)
    return {"p50_ms": round(statistics.median(ordered), 2), "max_ms": round(ordered[-1], 2)}


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench readback")
    parser.add_argument("--runs", type=int, default=20, help="read-backs to time per link (default 20)")
    options = parser.parse_args(argv)
    if options.runs < 1:
        parser.error("--runs must be at least 1")
    result: dict[str, Any] = {"runs": options.runs}
    with tempfile.TemporaryDirectory(prefix="bench-readback-") as name:
        for case_name, shown in (("aoa", "aoa-agent"), ("adb_nothing", "adb")):
            directory = Path(name) / case_name
            directory.mkdir()
            case = Case(case_name, directory, 64 * 1024)
            if case_name == "adb_nothing":
                result["floor_adb_round_trip"] = _ms(_floor(case, options.runs))
            samples = asyncio.run(_time_readbacks(case, options.runs))
            result[shown] = {step: _ms(samples[step]) for step in STEPS}
    return result
