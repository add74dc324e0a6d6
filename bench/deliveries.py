"""Outbound deliveries: how fast two workers empty a backlog, and how long a repair ticket takes from a
cabinet's failed self-test to the repair service holding it.

    python -m bench deliveries [--json] [--deliveries N] [--quick]

`rate`: a backlog of N signed webhook deliveries on PostgreSQL (a private cluster), sent by two
`cabinet-cloud deliveries run --until-idle` processes to a real HTTP receiver on loopback that
verifies every signature. Beside it, the floor: the same number of signed POSTs to the same receiver
from eight threads of one process, with no database at all. `lost` and `doubled` must be 0.

`ticket`: a cloud (`cabinet-cloud serve`, SQLite, its background jobs running) and a cabinet's sync
client online, at the cabinet's own pacing; the clock starts when the cabinet commits the return and
the repair ticket of a failed self-test to its ledger, and stops when the repair receiver holds the
ticket. Repeated; the median and the worst are given.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.catchup import _wait_healthy
from cabinetcloud.outbox import endpoints, publish, webhooks
from cabinetd.ledger import NewEvent, open_ledger
from cabinetd.sync.pacing import Pacing
from testbed import cloudharness
from testbed.receivers import webhook_receiver
from testbed.syncrig import cabinet_config, client_for

ROOT = Path(__file__).resolve().parents[1]


def _endpoint(storage: Any, url: str, types: list[str]) -> str:
    with storage.writing() as conn:
        values = {
            "store": "demo",
            "name": "bench",
            "kind": "webhook",
            "url": url,
            "allow_private": True,
            "event_types": types,
        }
        issued = endpoints.create(conn, values, datetime.now(UTC))
    assert issued.secret is not None
    return issued.secret


def _floor(url: str, secret: str, count: int) -> float:
    body = '{"type":"rental.overdue","timestamp":"2026-12-02T00:00:00Z","data":{}}'
    with httpx.Client(timeout=10) as client:

        def post(number: int) -> None:
            headers = webhooks.signed_headers([secret], f"msg_floor{number}", datetime.now(UTC), body)
            client.post(url, content=body, headers=headers).raise_for_status()

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(post, range(count)))
        return count / (time.perf_counter() - started)


def rate(count: int) -> dict[str, Any]:
    bin_dir = cloudharness.postgres_bin()
    if bin_dir is None:
        return {"skipped": "PostgreSQL is not installed"}
    cluster = cloudharness.PostgresCluster(bin_dir, durable=True).start()
    try:
        url = cluster.new_database()
        storage = cloudharness.seeded(cloudharness.migrated(url))
        with webhook_receiver() as receiver:
            receiver.secret = _endpoint(storage, receiver.url, ["rental.overdue"])
            now = datetime.now(UTC)
            with storage.writing() as conn:
                for number in range(count):
                    publish.publish(storage, conn, "demo", "rental.overdue", {"n": number}, f"bench{number}", now)
            command = [sys.executable, "-m", "cabinetcloud", "deliveries", "run", "--until-idle", "--db", url]
            started = time.perf_counter()
            workers = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL) for _ in range(2)]
            for worker in workers:
                worker.wait(timeout=600)
            seconds = time.perf_counter() - started
            received = len(receiver.received)
            held = len(receiver.accepted)
            unverified = sum(not r.verified for r in receiver.received)
            floor = _floor(receiver.url, receiver.secret, count)
        storage.dispose()
    finally:
        cluster.stop()
    return {
        "deliveries": count,
        "seconds": round(seconds, 2),
        "deliveries_per_s": round(count / seconds, 1),
        "floor_posts_per_s": round(floor, 1),
        "lost": count - held,
        "doubled": received - held,
        "unverified": unverified,
    }


async def _ticket_once(ledger: Any, client: Any, receiver: Any, serial: str, ticket: str) -> float:
    seen = len(receiver.received)
    started = time.perf_counter()
    evidence = {"scanner": {"passed": False, "evidence": "no decode of the test pattern"}}
    ledger.append_many(
        [
            NewEvent(
                "device_returned",
                {"rental_id": None, "usage": {}, "selftest": evidence, "unexpected": False},
                slot=1,
                device=serial,
            ),
            NewEvent("repair_ticket_opened", {"ticket_id": ticket, "evidence": evidence}, slot=1, device=serial),
        ]
    )
    while len(receiver.received) == seen:
        if time.perf_counter() - started > 60:
            raise RuntimeError(f"ticket {ticket} did not reach the receiver in 60 s: {client.status()}")
        await asyncio.sleep(0.005)
    return time.perf_counter() - started


def ticket(rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-ticket-") as tmp, webhook_receiver() as receiver:
        work = Path(tmp)
        url = f"sqlite:///{work / 'cloud.db'}"
        storage = cloudharness.seeded(cloudharness.migrated(url))
        receiver.secret = _endpoint(storage, receiver.url, ["repair_ticket.opened"])
        state_dir = work / "cabinet"
        state_dir.mkdir()
        cloudharness.write_token(state_dir / "cloud.token", cloudharness.enroll(storage))
        port = cloudharness.free_port()
        cloud = subprocess.Popen(
            [sys.executable, "-m", "cabinetcloud", "serve", "--db", url, "--port", str(port), "--log-level", "warning"],
            cwd=ROOT,
        )
        try:
            _wait_healthy(port, cloud)
            ledger = open_ledger(state_dir, "sim-1")
            pacing = Pacing(first_request_spread_s=0.0)  # the cabinet's own pacing otherwise
            client = client_for(cabinet_config(state_dir, f"http://127.0.0.1:{port}"), ledger, pacing=pacing)
            times = asyncio.run(_tickets(client, ledger, receiver, rounds))
            ledger.close()
        finally:
            cloud.terminate()
            cloud.wait(30)
        storage.dispose()
    return {
        "rounds": rounds,
        "median_s": round(statistics.median(times), 3),
        "worst_s": round(max(times), 3),
        "outbox_poll_s": Pacing().outbox_poll_s,
    }


async def _tickets(client: Any, ledger: Any, receiver: Any, rounds: int) -> list[float]:
    await client.prepare()
    task = asyncio.create_task(client.run())
    try:
        times = []
        for number in range(rounds):
            times.append(
                await _ticket_once(ledger, client, receiver, f"S1-000{number % 9 + 1}", f"bench-ticket-{number}")
            )
        return times
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.cleanup()


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench deliveries")
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="100 deliveries, 2 ticket rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.deliveries, args.rounds = 100, 2
    return {"rate": rate(args.deliveries), "ticket": ticket(args.rounds)}
