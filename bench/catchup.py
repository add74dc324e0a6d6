"""Catch-up after an outage: events queued offline, then the cloud started; seconds until it holds them all.

    python -m bench catchup [--json] [--events N] [--engines sqlite,postgresql]

The cloud runs as its own process (`python -m cabinetcloud serve`), the sync client in this one,
both on loopback. The clock starts when the cloud process is launched and stops when the cabinet's
ledger has recorded the acknowledgement of its last event (the cloud commits before it acknowledges).
Then the cloud's tables are counted: `lost` and `duplicated` must be 0. PostgreSQL runs in a private
cluster with its default durability settings.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from cabinetd.ledger import open_ledger
from cabinetd.sync.pacing import Pacing
from testbed import cloudharness
from testbed.syncrig import cabinet_config, client_for, run_until

PACING = Pacing(backoff_base_s=0.05, backoff_cap_s=1.0, first_request_spread_s=0.0, outbox_poll_s=0.2)


def _wait_healthy(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"cabinet-cloud exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("cabinet-cloud did not answer /health within 30 s")


def _one(url: str, events: int, work: Path) -> dict[str, Any]:
    storage = cloudharness.migrated(url)
    cloudharness.seeded(storage)
    state_dir = work / "cabinet"
    state_dir.mkdir()
    cloudharness.write_token(state_dir / "cloud.token", cloudharness.enroll(storage))
    ledger = open_ledger(state_dir, "sim-1")
    cloudharness.fill_ledger(ledger, events)
    port = cloudharness.free_port()
    started = time.monotonic()
    cloud = subprocess.Popen(
        [sys.executable, "-m", "cabinetcloud", "serve", "--db", url, "--port", str(port), "--log-level", "warning"],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    try:
        _wait_healthy(port, cloud)
        client = client_for(cabinet_config(state_dir, f"http://127.0.0.1:{port}"), ledger, pacing=PACING)

        def done() -> bool:
            state = ledger.sync_state()
            return state.acked_seq == state.last_seq

        asyncio.run(run_until(client, done, timeout_s=600))
        seconds = time.monotonic() - started
    finally:
        cloud.terminate()
        cloud.wait(30)
    held = cloudharness.cloud_event_ids(storage)
    mine = {event.event_id for event in ledger.events_after(0, events + 1, 1 << 40)}
    ledger.close()
    storage.dispose()
    return {
        "seconds": round(seconds, 2),
        "lost": len(mine - set(held)),
        "duplicated": len(held) - len(set(held)),
    }


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench catchup")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"events": args.events}
    lost = duplicated = 0
    for engine in args.engines.split(","):
        with tempfile.TemporaryDirectory(prefix=f"catchup-{engine}-") as tmp:
            work = Path(tmp)
            if engine == "sqlite":
                figures = _one(f"sqlite:///{work / 'cloud.db'}", args.events, work)
            else:
                bin_dir = cloudharness.postgres_bin()
                if bin_dir is None:
                    result[f"{engine}_s"] = None
                    result[f"{engine}_skipped"] = "PostgreSQL is not installed"
                    continue
                cluster = cloudharness.PostgresCluster(bin_dir, durable=True).start()
                try:
                    figures = _one(cluster.new_database(), args.events, work)
                finally:
                    cluster.stop()
        result[f"{engine}_s"] = figures["seconds"]
        result[f"{engine}_events_per_s"] = round(args.events / figures["seconds"])
        lost += figures["lost"]
        duplicated += figures["duplicated"]
    result["lost"] = lost
    result["duplicated"] = duplicated
    return result
