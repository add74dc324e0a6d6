"""A fleet reconnecting after a cloud outage: every cabinet uploads its backlog at once.

    python -m bench fleet [--json] [--cabinets 1000] [--events 200] [--workers 4] [--engines sqlite,postgresql]
    python -m bench fleet --quick      # 20 cabinets of 50 events, 2 workers: what the test runs

Each cabinet opens a session and uploads its backlog (sealed events, chained, in batches of at most
500, gzip), all cabinets at the same moment, through the real HTTP API of `cabinet-cloud serve`: with
`--workers` processes on PostgreSQL (a private cluster with its default durability settings), and one
process on SQLite. A request that fails (no answer, a 5xx) counts as an error and is sent again after a
short backoff, as the cabinet's client would; a 409 after a lost reply resumes where the cloud stands.

Reported per engine: `events_per_s` (all events over `drain_s`, the time from the first request to
the last acknowledgement), `p50_ms`, `p95_ms`, `p99_ms` of the event batches' round trips,
`session_p99_ms`, `errors` (by kind in `errors_by_kind`, with the server's error lines), and, counted
in the database afterwards, `lost`, `duplicated` and `dead_lettered` (all must be 0). The servers'
projectors run beside the ingest: `projected_s` is when they had folded in every event, and
`projected_events` how many they hold (the events sent, each once). Beside them, measured in the same
run on the same database: `floor_events_per_s`, the same rows put into the events table by a bare batched INSERT, one
transaction per cabinet's batch, no HTTP and no checks; `ratio` is events_per_s / floor_events_per_s.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from cabinetcloud import auth, ingest, schema
from cabinetcloud.projections.tables import progress
from cabinetcloud.storage import Storage
from cabinetproto.chain import GENESIS_HASH, event_hash, iso_utc, uuid7
from cabinetproto.wire import MAX_BATCH_EVENTS, WireEvent
from testbed import cloudharness

STORE = "demo"
BACKOFF_S = (0.05, 0.1, 0.2, 0.5, 1.0)


def _chunks(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [events[start : start + MAX_BATCH_EVENTS] for start in range(0, len(events), MAX_BATCH_EVENTS)]


@dataclass
class Cabinet:
    cabinet_id: str
    token: str
    epoch: str
    events: list[dict[str, Any]]

    def batches(self) -> Iterator[tuple[int, bytes]]:
        """(from_seq, gzip body) of each batch, as the cabinet's client sends them."""
        for chunk in _chunks(self.events):
            body = {"epoch": self.epoch, "from_seq": chunk[0]["seq"], "events": chunk}
            yield chunk[0]["seq"], gzip.compress(json.dumps(body, separators=(",", ":")).encode(), 1)


def backlog(cabinet_id: str, count: int) -> tuple[str, list[dict[str, Any]]]:
    """`count` sealed events of a new epoch: technician actions with a little payload."""
    epoch, boot, prev = str(uuid7()), str(uuid7()), GENESIS_HASH
    events = []
    for seq in range(1, count + 1):
        event: dict[str, Any] = {
            "epoch": epoch,
            "seq": seq,
            "event_id": str(uuid7()),
            "type": "technician_action",
            "schema_version": 1,
            "occurred_at": iso_utc(datetime.now(UTC)),
            "mono_ns": seq * 1_000_000,
            "boot_id": boot,
            "cabinet_id": cabinet_id,
            "slot": None,
            "device": None,
            "staff": None,
            "payload": {"action": "slot_open", "args": {"slot": seq % 8 + 1, "n": seq}, "technician": "demo-tech"},
            "prev_hash": prev,
        }
        event["hash"] = prev = event_hash(prev, event)
        events.append(event)
    return epoch, events


def fleet(storage: Storage, cabinets: int, events: int) -> list[Cabinet]:
    made = []
    with storage.writing() as conn:
        for number in range(1, cabinets + 1):
            cabinet_id = f"bench-{number:04d}"
            token = auth.enroll(conn, cabinet_id, STORE)
            epoch, sealed = backlog(cabinet_id, events)
            made.append(Cabinet(cabinet_id, token, epoch, sealed))
    return made


def floor_events_per_s(storage: Storage, cabinets: list[Cabinet]) -> float:
    """The same rows into the same table by a bare batched INSERT, then taken out again."""
    now = datetime.now(UTC)
    batches = [
        [ingest._event_row(WireEvent.model_validate(event), now) for event in chunk]
        for cabinet in cabinets
        for chunk in _chunks(cabinet.events)
    ]
    started = time.perf_counter()
    for rows in batches:
        with storage.writing() as conn:
            conn.execute(sa.insert(schema.events), rows)
    seconds = time.perf_counter() - started
    with storage.writing() as conn:
        conn.execute(sa.delete(schema.events))
    return sum(len(rows) for rows in batches) / seconds


@dataclass
class Swarm:
    """What the cabinets saw: round trips and errors."""

    batch_ms: list[float] = field(default_factory=list)
    session_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)  # "503", "ReadTimeout": how many
    last_ack: float = 0.0

    async def _post(self, client: httpx.AsyncClient, path: str, spent: list[float], **kwargs: Any) -> httpx.Response:
        for attempt in range(len(BACKOFF_S) * 20):
            started = time.perf_counter()
            try:
                reply = await client.post(path, **kwargs)
            except httpx.TransportError as exc:
                kind = type(exc).__name__
            else:
                if reply.status_code < 500:
                    spent.append((time.perf_counter() - started) * 1000)
                    return reply
                kind = str(reply.status_code)
            self.errors[kind] = self.errors.get(kind, 0) + 1
            await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
        raise RuntimeError(f"{path}: no answer after many tries")

    async def upload(self, client: httpx.AsyncClient, cabinet: Cabinet) -> None:
        headers = {"Authorization": f"Bearer {cabinet.token}"}
        prefix = f"/v1/cabinets/{cabinet.cabinet_id}"
        last = cabinet.events[-1]
        session = {"epoch": cabinet.epoch, "last_seq": last["seq"], "last_hash": last["hash"]}
        session |= {"software_version": "bench", "schema_version": 1}
        reply = await self._post(client, f"{prefix}/session", self.session_ms, json=session, headers=headers)
        acked = reply.json()["acked_seq"]
        batch_headers = {**headers, "Content-Type": "application/json", "Content-Encoding": "gzip"}
        for from_seq, body in cabinet.batches():
            if from_seq <= acked:
                continue
            reply = await self._post(client, f"{prefix}/events", self.batch_ms, content=body, headers=batch_headers)
            if reply.status_code == 409:  # the cloud kept a batch whose reply was lost
                acked = reply.json()["expected_seq"] - 1
                continue
            if reply.status_code != 200:
                raise RuntimeError(f"{cabinet.cabinet_id}: {reply.status_code} {reply.text}")
            acked = reply.json()["acked_seq"]
        self.last_ack = time.perf_counter()


def percentile(values: list[float], share: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


async def reconnect(url: str, cabinets: list[Cabinet]) -> tuple[Swarm, float]:
    """The swarm's figures, and when it started (perf_counter)."""
    swarm = Swarm()
    limits = httpx.Limits(max_connections=len(cabinets), max_keepalive_connections=len(cabinets))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=300) as client:
        started = time.perf_counter()
        await asyncio.gather(*(swarm.upload(client, cabinet) for cabinet in cabinets))
    return swarm, started


def projected_at(storage: Storage, total: int, timeout_s: float = 600.0) -> tuple[float, int]:
    """When the servers' projectors had folded in every event (perf_counter), and how many they hold."""
    deadline = time.perf_counter() + timeout_s
    while True:
        with storage.reading() as conn:
            done = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(progress.c.projected_seq), 0))).scalar_one()
        if int(done) >= total or time.perf_counter() > deadline:
            return time.perf_counter(), int(done)
        time.sleep(0.1)


def counted(storage: Storage, cabinets: list[Cabinet]) -> dict[str, int]:
    sent = {(cabinet.cabinet_id, event["event_id"]) for cabinet in cabinets for event in cabinet.events}
    with storage.reading() as conn:
        kept = [tuple(row) for row in conn.execute(sa.select(schema.events.c.cabinet_id, schema.events.c.event_id))]
        dead = conn.execute(sa.select(sa.func.count()).select_from(schema.dead_letters)).scalar_one()
    return {"lost": len(sent - set(kept)), "duplicated": len(kept) - len(set(kept)), "dead_lettered": int(dead)}


def measure(url: str, work: Path, *, cabinets: int, events: int, workers: int) -> dict[str, Any]:
    storage = cloudharness.seeded(cloudharness.migrated(url))
    made = fleet(storage, cabinets, events)
    floor = floor_events_per_s(storage, made)
    cloud = cloudharness.ServedCloud(url, work / "cloud.log", workers=workers).start()
    total = cabinets * events
    try:
        swarm, started = asyncio.run(reconnect(cloud.url, made))
        projected, projected_events = projected_at(storage, total)
    finally:
        cloud.stop()
    drain_s = swarm.last_ack - started
    rate = total / drain_s
    result: dict[str, Any] = {
        "cabinets": cabinets,
        "events": total,
        "workers": workers,
        "events_per_s": round(rate),
        "drain_s": round(drain_s, 2),
        # The workers' projectors run beside the ingest: all of it in the views, each event once.
        "projected_s": round(projected - started, 2),
        "projected_events": projected_events,
        "p50_ms": round(percentile(swarm.batch_ms, 0.50), 1),
        "p95_ms": round(percentile(swarm.batch_ms, 0.95), 1),
        "p99_ms": round(percentile(swarm.batch_ms, 0.99), 1),
        "session_p99_ms": round(percentile(swarm.session_ms, 0.99), 1),
        "errors": sum(swarm.errors.values()),
        "errors_by_kind": swarm.errors,
        # What the server said of them (a 5xx is logged with its cause).
        "server_errors": [line for line in (work / "cloud.log").read_text().splitlines() if "ERROR" in line][:5],
        **counted(storage, made),
        "floor_events_per_s": round(floor),
        "ratio": round(rate / floor, 3),
    }
    storage.dispose()
    return result


@contextmanager
def database(engine: str, work: Path) -> Iterator[str | None]:
    if engine == "sqlite":
        yield f"sqlite:///{work / 'cloud.db'}"
        return
    bin_dir = cloudharness.postgres_bin()
    if bin_dir is None:
        yield None
        return
    cluster = cloudharness.PostgresCluster(bin_dir, durable=True).start()
    try:
        yield cluster.new_database()
    finally:
        cluster.stop()


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench fleet")
    parser.add_argument("--cabinets", type=int, default=1000)
    parser.add_argument("--events", type=int, default=200, help="backlog of each cabinet")
    parser.add_argument("--workers", type=int, default=4, help="serve processes on PostgreSQL")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--quick", action="store_true", help="20 cabinets of 50 events, 2 workers")
    args = parser.parse_args(argv)
    if args.quick:
        args.cabinets, args.events, args.workers = 20, 50, 2
    result: dict[str, Any] = {}
    for engine in args.engines.split(","):
        with tempfile.TemporaryDirectory(prefix=f"fleet-{engine}-") as tmp, database(engine, Path(tmp)) as url:
            if url is None:
                result[engine] = {"skipped": "PostgreSQL is not installed"}
                continue
            workers = args.workers if engine == "postgresql" else 1
            result[engine] = measure(url, Path(tmp), cabinets=args.cabinets, events=args.events, workers=workers)
    return result
