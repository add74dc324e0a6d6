"""The daemon at rest: start to READY, resident memory and CPU while nobody uses the cabinet.

    python -m bench idle [--json] [--seconds N] [--warmup S] [--config PATH]

Starts `cabinetd run` with the simulated cabinet (config/sim.toml, a fresh state directory and a free
port) as a child process, as the service manager would: READY is the `READY=1` datagram on
NOTIFY_SOCKET. After READY the first inspection of the simulated devices runs; `--warmup` seconds
later the idle window starts, and CPU time (user + system, every thread) and RSS are read from /proc
over `--seconds`. The simulator's own threads (pty lock board, emulated USB bus) run in the daemon's
process and are counted: a real cabinet does not have them.

Budget (DESIGN.md §11): RSS ≤ 60 MB, CPU ≤ 1 % of a core, READY ≤ 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
BUDGET: Final = {"rss_mb": 60.0, "cpu_percent": 1.0, "ready_s": 1.5}
TICKS: Final = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def _status(pid: int) -> dict[str, str]:
    pairs = (line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: value.strip() for key, value in pairs}


def _mb(value: str) -> float:
    return round(int(value.split()[0]) / 1024, 1)  # "12345 kB"


def _site(directory: Path) -> Path:
    site = directory / "site.toml"
    site.write_text(
        f'[cabinet]\nstate_dir = "{directory}/state"\n'
        f'[api]\nport = {_free_port()}\ncontrol_socket = "{directory}/control.sock"\n'
        f'[cloud]\ntoken_file = "{directory}/state/cloud.token"\n'
        '[log]\nlevel = "warning"\n'
    )
    return site


def _wait_ready(notify: socket.socket, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"cabinetd exited with {process.returncode} before READY")
        notify.settimeout(max(0.01, min(0.1, deadline - time.monotonic())))
        try:
            message = notify.recv(4096).decode()
        except TimeoutError:
            continue
        if "READY=1" in message.split("\n"):
            return
    raise SystemExit(f"cabinetd sent no READY within {timeout} s")


def measure(config: Path, seconds: float, warmup: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as name:
        directory = Path(name)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(directory / "notify.sock"))
        env = {**os.environ, "NOTIFY_SOCKET": str(directory / "notify.sock")}
        command = [sys.executable, "-m", "cabinetd", "run", "--config", str(config), "--config", str(_site(directory))]
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE)
        try:
            _wait_ready(notify, process, timeout=30)
            ready_s = time.monotonic() - started
            ready_rss = _mb(_status(process.pid)["VmRSS"])
            time.sleep(warmup)
            cpu_before, window_start = _cpu_s(process.pid), time.monotonic()
            peak = 0.0
            while time.monotonic() - window_start < seconds:
                time.sleep(min(1.0, seconds))
                peak = max(peak, _mb(_status(process.pid)["VmRSS"]))
            elapsed = time.monotonic() - window_start
            cpu = (_cpu_s(process.pid) - cpu_before) / elapsed * 100
            status = _status(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            _, errors = process.communicate(timeout=30)
            notify.close()
    result = {
        "ready_s": round(ready_s, 3),
        "rss_mb": _mb(status["VmRSS"]),
        "rss_peak_mb": max(peak, _mb(status["VmHWM"])),
        "rss_at_ready_mb": ready_rss,
        "cpu_percent": round(cpu, 2),
        "threads": int(status["Threads"]),
        "idle_s": round(elapsed, 1),
        "warmup_s": warmup,
        "exit_code": process.returncode,
    }
    result["within_budget"] = all(result[key] <= limit for key, limit in BUDGET.items())
    result["budget"] = BUDGET
    if process.returncode != 0:
        result["stderr_tail"] = errors.decode(errors="replace")[-2000:]
    return result


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench idle")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the idle window (default 60)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds after READY before it (default 3)")
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "sim.toml")
    options = parser.parse_args(argv)
    return measure(options.config, options.seconds, options.warmup)
