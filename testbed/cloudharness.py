"""What the cloud and sync tests share: a private PostgreSQL cluster, storages, a uvicorn server."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from cabinetcloud import auth
from cabinetcloud.seed import seed_file
from cabinetcloud.storage import Storage

FLEET_DEMO = Path(__file__).resolve().parents[1] / "config" / "fleet-demo.toml"


def postgres_bin() -> Path | None:
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        return None
    return Path(max(found, key=lambda path: int(Path(path).parts[4]))).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresCluster:
    """A throwaway cluster on loopback, owned by the `postgres` user when we run as root."""

    def __init__(self, bin_dir: Path, *, durable: bool = False) -> None:
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="cabinet-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.durable = durable
        self._names = itertools.count(1)

    def _run(self, *argv: str) -> None:
        command = list(argv)
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresCluster:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"
        )
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c max_connections=200"
        if not self.durable:
            # Tests check behaviour, not durability; the benchmark keeps PostgreSQL's defaults.
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "-w", "start"
        )
        return self

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def new_database(self) -> str:
        import psycopg

        name = f"cabinet_test_{next(self._names)}"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"


_cluster: PostgresCluster | None = None
_cluster_lock = threading.Lock()


def shared_cluster(bin_dir: Path) -> PostgresCluster:
    """One cluster for the whole session, whichever conftest asks first."""
    global _cluster
    with _cluster_lock:
        if _cluster is None:
            _cluster = PostgresCluster(bin_dir).start()
        return _cluster


def stop_shared_cluster() -> None:
    global _cluster
    with _cluster_lock:
        if _cluster is not None:
            _cluster.stop()
            _cluster = None


def migrated(url: str) -> Storage:
    storage = Storage(url)
    storage.migrate()
    return storage


def seeded(storage: Storage, path: Path = FLEET_DEMO) -> Storage:
    seed_file(path, storage.writing)
    return storage


def enroll(storage: Storage, cabinet_id: str = "sim-1", store: str = "demo") -> str:
    with storage.writing() as conn:
        return auth.enroll(conn, cabinet_id, store)


def write_token(path: Path, token: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


class ServerThread:
    """A real uvicorn server for an app, on loopback, in a thread."""

    def __init__(self, app: Any, **config: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1, **config
            )
        )
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the cloud server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def fill_ledger(ledger: Any, count: int, *, start: int = 0) -> None:
    """Append `count` real events (technician actions with a little payload) in batches."""
    from cabinetd.ledger import NewEvent

    done = 0
    while done < count:
        size = min(500, count - done)
        ledger.append_many(
            [
                NewEvent(
                    "technician_action",
                    {
                        "action": "slot_open",
                        "args": {"slot": (start + done + i) % 8 + 1, "n": start + done + i},
                        "technician": "demo-tech",
                    },
                )
                for i in range(size)
            ]
        )
        done += size


def wire_events(ledger: Any, after: int = 0, limit: int = 500) -> list[dict[str, Any]]:
    return [event.to_wire() for event in ledger.events_after(after, limit, 1 << 30)]


def cloud_event_ids(storage: Storage, cabinet_id: str = "sim-1") -> list[str]:
    """Every event id the cloud keeps or dead-lettered for a cabinet, with repeats if any."""
    import sqlalchemy as sa

    from cabinetcloud import schema

    with storage.reading() as conn:
        kept = conn.execute(sa.select(schema.events.c.event_id).where(schema.events.c.cabinet_id == cabinet_id))
        dead = conn.execute(
            sa.select(schema.dead_letters.c.event_id).where(schema.dead_letters.c.cabinet_id == cabinet_id)
        )
        return [*kept.scalars(), *dead.scalars()]


class ServedCloud:
    """`cabinet-cloud serve` as its own process (with `workers` uvicorn worker processes), on loopback."""

    def __init__(self, db: str, log_path: Path, *, workers: int = 1) -> None:
        self.db, self.log_path, self.workers = db, log_path, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 120.0) -> ServedCloud:
        argv = ["serve", "--db", self.db, "--port", str(self.port), "--workers", str(self.workers)]
        root = Path(__file__).resolve().parents[1]
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cabinetcloud", *argv, "--log-level", "info"],
                cwd=root,
                env={**os.environ, "PYTHONPATH": str(root)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        # Every worker up, not only the first: a booting worker accepts nothing yet.
        while self.log_path.read_text(errors="replace").count("Application startup complete.") < self.workers:
            if self.process.poll() is not None:
                raise RuntimeError(f"cabinet-cloud exited with {self.process.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"cabinet-cloud's {self.workers} workers did not start; see {self.log_path}")
            time.sleep(0.1)
        return self

    def worker_pids(self) -> list[int]:
        """The serving processes: the uvicorn workers (children of the server), or the server itself."""
        assert self.process is not None
        if self.workers == 1:
            return [self.process.pid]
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                cmdline = (stat.parent / "cmdline").read_bytes()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid and b"spawn_main" in cmdline:
                found.append(int(stat.parent.name))
        return sorted(found)

    def stop(self) -> int | None:
        """SIGTERM, as systemd stops it; the exit status, or None when it had to be killed."""
        process, self.process = self.process, None
        if process is None:
            return None
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return None
