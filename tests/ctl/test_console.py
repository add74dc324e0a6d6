"""The installed `cabinetctl` against a real `cabinetd run` with the simulated cabinet, both as processes."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cabinetd.api.control import shapes
from cabinetd.ctl.client import EXIT_OK, EXIT_UNREACHABLE
from tests.flows.rig import ROOT

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def site(tmp_path: Path) -> Path:
    found = tmp_path / "site.toml"
    found.write_text(
        f'[cabinet]\nstate_dir = "{tmp_path}/state"\n'
        f'[api]\nport = {_free_port()}\ncontrol_socket = "{tmp_path}/control.sock"\n'
    )
    return found


@pytest.fixture
def daemon(site: Path, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    config = ["--config", str(ROOT / "config" / "sim.toml"), "--config", str(site)]
    process = subprocess.Popen(
        [str(BIN / "cabinetd"), "run", *config],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not (tmp_path / "control.sock").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"cabinetd did not start:\n{process.communicate()[0]}")
        time.sleep(0.05)
    yield process
    if process.poll() is None:
        process.kill()
        process.communicate()


def _cabinetctl(site: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    config = ["--config", str(ROOT / "config" / "sim.toml"), "--config", str(site)]
    return subprocess.run([str(BIN / "cabinetctl"), *config, *argv], capture_output=True, text=True, timeout=30)


# A real cabinetd process started and stopped around the commands: three to four seconds.
@pytest.mark.slow
def test_ok__cabinetctl_status_against_cabinetd_then_exit_3_once_it_stopped(
    daemon: subprocess.Popen[str], site: Path, tmp_path: Path
) -> None:
    said = _cabinetctl(site, "status")
    assert (said.returncode, said.stderr) == (EXIT_OK, "")
    lines = said.stdout.splitlines()
    assert lines[0] == "cabinet      sim-1 (store demo, simulated)"
    assert lines[2] == "cloud        offline: sync is not configured"
    assert lines[-1].startswith("slots        8 slots: ")
    status = shapes.Status.model_validate_json(_cabinetctl(site, "status", "--json").stdout)
    assert [s.slot for s in status.slots] == list(range(1, 9))

    daemon.send_signal(signal.SIGTERM)
    daemon.communicate(timeout=15)
    assert daemon.returncode == 0
    assert not (tmp_path / "control.sock").exists()  # the daemon removed its socket
    said = _cabinetctl(site, "status")
    assert (said.returncode, said.stdout) == (EXIT_UNREACHABLE, "")
    path = tmp_path / "control.sock"
    assert said.stderr == f"cabinetctl: cannot reach cabinetd: no socket at {path} (is the daemon running?)\n"
