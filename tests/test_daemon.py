"""The daemon's life cycle: preparation order, READY, the watchdog, stopping, dying subsystems."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cabinetd.daemon import EXIT_FAILED, EXIT_OK, Daemon
from cabinetd.lifecycle import SetupError, Subsystem
from cabinetd.sdnotify import Notifier

ROOT = Path(__file__).resolve().parent.parent


class NotifyListener:
    """The service manager's side of NOTIFY_SOCKET: a datagram socket that keeps what it is told."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.messages: list[tuple[float, str]] = []

    def drain(self) -> list[str]:
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                break
            self.messages.append((time.monotonic(), data.decode()))
        return [text for _, text in self.messages]

    def wait_for(self, field: str, timeout_s: float = 10.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for text in self.drain():
                if field in text.split("\n"):
                    return text
            time.sleep(0.01)
        raise AssertionError(f"no {field} within {timeout_s} s; got {self.drain()}")


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[NotifyListener]:
    found = NotifyListener(tmp_path / "notify.sock")
    yield found
    found.sock.close()


class Part(Subsystem):
    """A subsystem whose run loop ticks until told to stall or to die; it records its life cycle."""

    stall_after_s = 0.3

    def __init__(
        self, name: str, journal: list[str], *, fail_prepare: bool = False, cannot_start: str | None = None
    ) -> None:
        super().__init__()
        self.name = name
        self.journal = journal
        self.fail_prepare = fail_prepare
        self.cannot_start = cannot_start
        self.stall = False
        self.die = False

    async def prepare(self) -> None:
        self.journal.append(f"prepare {self.name}")
        if self.fail_prepare:
            raise OSError(f"{self.name}: port gone")
        if self.cannot_start is not None:
            raise SetupError(self.cannot_start)

    async def run(self) -> None:
        while True:
            if self.die:
                raise RuntimeError(f"{self.name} lost its port")
            if not self.stall:
                self.tick()
            await asyncio.sleep(0.02)

    async def cleanup(self) -> None:
        self.journal.append(f"cleanup {self.name}")


async def test_ok__ready_after_preparation_and_reverse_cleanup_on_sigterm(
    listener: NotifyListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    journal: list[str] = []
    parts = [Part("ledger", journal), Part("locks", journal), Part("reader", journal)]
    daemon = Daemon(parts, notifier=Notifier(str(listener.path)), ready_status="cabinet c1 ready")

    async def when_ready_send_sigterm() -> None:
        while not any("READY=1" in m for m in listener.drain()):  # noqa: ASYNC110 - polling a socket
            await asyncio.sleep(0.01)
        journal.append("READY seen")
        os.kill(os.getpid(), signal.SIGTERM)

    sender = asyncio.create_task(when_ready_send_sigterm())
    assert await daemon.run() == EXIT_OK
    await sender
    assert journal == [
        "prepare ledger",
        "prepare locks",
        "prepare reader",
        "READY seen",
        "cleanup reader",
        "cleanup locks",
        "cleanup ledger",
    ]
    sent = listener.drain()
    assert sent[-2] == "READY=1\nSTATUS=cabinet c1 ready"
    assert sent[-1] == "STOPPING=1\nSTATUS=stopping"
    assert [m for m in sent if m.startswith("STATUS=preparing")] == [
        "STATUS=preparing ledger",
        "STATUS=preparing locks",
        "STATUS=preparing reader",
    ]


async def test_ok__watchdog_pings_at_half_the_period_and_stop_when_a_part_stalls(
    listener: NotifyListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # pings every 0.1 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    journal: list[str] = []
    reader = Part("reader", journal)
    daemon = Daemon([Part("locks", journal), reader], notifier=Notifier(str(listener.path)))
    task = asyncio.create_task(daemon.run())

    async def pings_during(seconds: float) -> list[float]:
        listener.messages.clear()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            listener.drain()
            await asyncio.sleep(0.01)
        return [at for at, text in listener.messages if text == "WATCHDOG=1"]

    healthy = await pings_during(1.0)
    gaps = sorted(b - a for a, b in itertools.pairwise(healthy))
    assert len(healthy) >= 6
    assert 0.05 < gaps[len(gaps) // 2] < 0.2

    reader.stall = True
    await pings_during(0.5)  # past stall_after_s (0.3 s)
    assert await pings_during(0.5) == []
    assert daemon.stalled() == ["reader"]

    reader.stall = False
    assert len(await pings_during(0.4)) >= 2
    daemon.request_stop("test")
    assert await task == EXIT_OK


async def test_fail__a_dying_subsystem_ends_the_daemon_non_zero(
    listener: NotifyListener, caplog: pytest.LogCaptureFixture
) -> None:
    journal: list[str] = []
    reader = Part("reader", journal)
    daemon = Daemon([Part("locks", journal), reader], notifier=Notifier(str(listener.path)))
    task = asyncio.create_task(daemon.run())
    await asyncio.sleep(0.1)
    reader.die = True
    assert await asyncio.wait_for(task, 5) == EXIT_FAILED
    assert journal[-2:] == ["cleanup reader", "cleanup locks"]
    assert "reader died: RuntimeError('reader lost its port')" in caplog.text
    assert listener.drain()[-1] == "STOPPING=1\nSTATUS=stopping"


async def test_fail__a_failed_preparation_cleans_up_what_was_prepared(
    listener: NotifyListener, caplog: pytest.LogCaptureFixture
) -> None:
    journal: list[str] = []
    parts = [Part("ledger", journal), Part("locks", journal, fail_prepare=True), Part("reader", journal)]
    daemon = Daemon(parts, notifier=Notifier(str(listener.path)))
    assert await daemon.run() == EXIT_FAILED
    assert journal == ["prepare ledger", "prepare locks", "cleanup locks", "cleanup ledger"]
    assert "cannot prepare locks" in caplog.text
    assert not any("READY=1" in m for m in listener.drain())


async def test_fail__a_part_that_cannot_start_here_is_one_line_without_a_traceback(
    listener: NotifyListener, caplog: pytest.LogCaptureFixture
) -> None:
    journal: list[str] = []
    why = "modules[0].lock (gpio): no GPIO pin library works on this computer (LGPIOFactory: none)"
    parts = [Part("ledger", journal), Part("locks", journal, cannot_start=why), Part("reader", journal)]
    daemon = Daemon(parts, notifier=Notifier(str(listener.path)))
    assert await daemon.run() == EXIT_FAILED
    assert journal == ["prepare ledger", "prepare locks", "cleanup locks", "cleanup ledger"]
    errors = [record for record in caplog.records if record.levelname == "ERROR"]
    assert [record.getMessage() for record in errors] == [f"cannot prepare locks: {why}"]
    assert errors[0].exc_info is None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# A real cabinetd process, up until it serves and then stopped: about four seconds.
@pytest.mark.slow
def test_ok__cabinetd_run_serves_then_stops_on_sigterm(tmp_path: Path, listener: NotifyListener) -> None:
    port = free_port()
    site = tmp_path / "site.toml"
    site.write_text(
        f'[cabinet]\nstate_dir = "{tmp_path}/state"\n[api]\nport = {port}\n'
        f'control_socket = "{tmp_path}/control.sock"\n'
    )
    env = {
        **os.environ,
        "NOTIFY_SOCKET": str(listener.path),
        "WATCHDOG_USEC": "1000000",
        "CABINETD_CONFIG_DIR": str(tmp_path / "etc"),
    }
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cabinetd", "run", "--config", str(ROOT / "config/sim.toml"), "--config", str(site)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = listener.wait_for("READY=1")
        assert f"local API on http://127.0.0.1:{port}/" in ready
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
        assert health["status"] == "ok"
        assert health["cabinet_id"] == "sim-1"
        listener.wait_for("WATCHDOG=1")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        assert listener.wait_for("STOPPING=1") == "STOPPING=1\nSTATUS=stopping"
        assert proc.stderr is not None
        assert "stopping: SIGTERM" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
