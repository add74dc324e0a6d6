"""`systemctl` for the package tests, on a machine without systemd as PID 1: `restart`, `stop` and
`is-active` of cabinetd.service, started the way the install test starts the installed daemon (as its
user, in its state directory, on the installed simulator config and the site file), which is what the
unit would run there. Only `restart` waits: until /health answers (a Type=notify unit's READY=1), the
daemon exits (the start job fails) or TimeoutStartSec passes.

Its own state (the daemon's pid and log) is in $CABINET_TEST_SERVICES; the daemon's port in
$CABINET_TEST_PORT.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

UNIT = "cabinetd.service"
TIMEOUT_START_S = 60.0
SERVICES = Path(os.environ["CABINET_TEST_SERVICES"])
PIDFILE = SERVICES / "cabinetd.pid"
DAEMON = [
    "/usr/sbin/runuser",
    "-u",
    "cabinetd",
    "--",
    "/usr/sbin/cabinetd",
    "run",
    "--config",
    "/usr/share/cabinetd/sim.toml",
]


def running() -> int | None:
    try:
        pid = int(PIDFILE.read_text())
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    return None if state in ("Z", "X") else pid


def stop() -> None:
    pid = running()
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while running() is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    if running() is not None:
        os.kill(pid, signal.SIGKILL)


def healthy() -> bool:
    url = f"http://127.0.0.1:{os.environ['CABINET_TEST_PORT']}/health"
    with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
        return bool(answer.status == 200)
    return False


def restart() -> int:
    stop()
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/var/lib/cabinetd", "LANG": "C.UTF-8"}
    with (SERVICES / "cabinetd.log").open("ab") as log:
        daemon = subprocess.Popen(
            DAEMON, cwd="/var/lib/cabinetd", env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    PIDFILE.write_text(str(daemon.pid))
    deadline = time.monotonic() + TIMEOUT_START_S
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            print(f"Job for {UNIT} failed because the control process exited with error code.", file=sys.stderr)
            return 1
        if healthy():
            return 0
        time.sleep(0.2)
    print(f"Job for {UNIT} failed because a timeout was exceeded.", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    command, unit = argv[0], argv[-1]
    if unit != UNIT:
        print(f"servicemanager: only {UNIT} is managed here, not {unit}", file=sys.stderr)
        return 1
    if command == "restart":
        return restart()
    if command == "stop":
        stop()
        return 0
    if command == "is-active":
        print("active" if running() is not None else "failed")
        return 0 if running() is not None else 3
    print(f"servicemanager: {command} not understood", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
