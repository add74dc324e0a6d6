"""`make demo`: the whole system on one machine, from the checkout, with embedded defaults.

    python -m cabinetd.demo [--state DIR] [--cloud-port N] [--kiosk-port N]

1. the reference cloud (`cabinet-cloud serve`) on SQLite in DIR (default .state/), seeded from
   config/fleet-demo.toml (seeding again changes nothing);
2. the simulated cabinet sim-1 enrolled to it: its token is written to DIR/sim/cloud.token once, and a
   second run keeps it (and the ledger, and the simulated world) from the first;
3. the daemon with config/sim.toml and a small site file pointing `cloud.url` at that cloud.

It prints the kiosk, the simulator and the cloud's address and three badges to try, then waits. Ctrl-C
(or SIGTERM) stops the daemon first, so that its last events are written, then the cloud. The children
run in their own sessions so that the terminal's Ctrl-C reaches only this script, which stops them in
that order.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Final

import httpx

log = logging.getLogger("cabinetd.demo")

ROOT: Final = Path(__file__).resolve().parent.parent
FLEET: Final = ROOT / "config" / "fleet-demo.toml"
SIM_CONFIG: Final = ROOT / "config" / "sim.toml"
CABINET: Final = "sim-1"
STORE: Final = "demo"
# Who to try: one who rents, one holding nothing of another work type, one from another store.
BADGES_TO_TRY: Final = ("demo-anna", "demo-bo", "north-erik")
START_S: Final = 30.0
STOP_S: Final = 10.0


class DemoError(Exception):
    """A step of the demo's start-up failed; the message says which and why."""


class Part:
    """One child process of the demo, with the URL it answers on."""

    def __init__(self, name: str, command: list[str], url: str, health: str, log_path: Path) -> None:
        self.name = name
        self.command = command
        self.url = url
        self.health = health
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with contextlib.suppress(httpx.TransportError):
            httpx.get(self.url + self.health, timeout=1)
            raise DemoError(f"something already answers on {self.url}: is another demo running?")
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DemoError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + self.health, timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise DemoError(f"{self.name} did not answer on {self.url} within {START_S:.0f} s; see {self.log_path}")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int | None:
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s: killing it", self.name, STOP_S)
                process.kill()
                process.wait()
        return process.returncode


class Demo:
    def __init__(self, state: Path, *, cloud_port: int = 8000, kiosk_port: int = 8080) -> None:
        self.state = state.resolve()
        self.db = f"sqlite:///{self.state / 'cloud.sqlite3'}"
        self.token_file = self.state / "sim" / "cloud.token"
        cloud_url = f"http://127.0.0.1:{cloud_port}"
        self.site = self.state / "demo-site.toml"
        self.cloud = Part(
            "cabinet-cloud",
            [*self._cloud_command("serve"), "--port", str(cloud_port), "--log-level", "warning"],
            cloud_url,
            "/health",
            self.state / "cloud.log",
        )
        self.cabinet = Part(
            "cabinetd",
            [sys.executable, "-m", "cabinetd", "run", "--config", str(SIM_CONFIG), "--config", str(self.site)],
            f"http://127.0.0.1:{kiosk_port}",
            "/health",
            self.state / "cabinetd.log",
        )
        self.kiosk_port = kiosk_port

    def _cloud_command(self, *words: str) -> list[str]:
        return [sys.executable, "-m", "cabinetcloud", *words, "--db", self.db]

    def _cloud_once(self, *words: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self._cloud_command(*words), cwd=ROOT, capture_output=True, text=True, check=False)

    def prepare(self) -> None:
        """Seed the cloud and enrol the cabinet (both idempotent), and write the cabinet's site file."""
        (self.state / "sim").mkdir(parents=True, exist_ok=True)
        seeded = self._cloud_once("seed", str(FLEET))
        if seeded.returncode != 0:
            raise DemoError(f"seeding the cloud from {FLEET} failed:\n{seeded.stderr.strip()}")
        if not self.token_file.exists():
            token = ["--cabinet", CABINET, "--token-file", str(self.token_file)]
            enrolled = self._cloud_once("enroll", *token, "--store", STORE)
            if enrolled.returncode != 0 and "already enrolled" in enrolled.stderr:
                enrolled = self._cloud_once("rotate", *token)  # its token was lost: issue a new one
            if enrolled.returncode != 0:
                raise DemoError(f"enrolling {CABINET} failed:\n{enrolled.stderr.strip()}")
        self.site.write_text(
            "# Written by `make demo`: the simulated cabinet's state here, synced with the demo cloud.\n"
            f'[cabinet]\nstate_dir = "{self.state / "sim"}"\n'
            f'[api]\nport = {self.kiosk_port}\ncontrol_socket = "{self.state / "sim" / "control.sock"}"\n'
            f'[cloud]\nurl = "{self.cloud.url}"\ntoken_file = "{self.token_file}"\n'
        )

    def start(self) -> None:
        self.prepare()
        self.cloud.start()
        self.cabinet.start()
        self.sync_now()
        self.wait_for_roster()

    def sync_now(self) -> None:
        """A technician's `sync now` over the control socket: a cabinet waits a random part of a minute
        before its first request (a fleet coming back must not arrive all at once); a demo need not."""
        socket_path = self.state / "sim" / "control.sock"
        try:
            with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket_path)), timeout=5) as control:
                control.post("http://cabinet/sync/now").raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("could not ask the cabinet to sync now (%s): it will within a minute", exc)

    def wait_for_roster(self, timeout: float = 20.0) -> bool:
        """True once the cabinet holds the fleet's work types (they came with the first sync)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                if httpx.get(f"{self.cabinet.url}/kiosk/state", timeout=2).json()["cabinet"]["ready"]:
                    return True
            time.sleep(0.2)
        log.warning("the cabinet has no roster from the cloud after %.0f s; see %s", timeout, self.cabinet.log_path)
        return False

    def stop(self) -> None:
        for part in (self.cabinet, self.cloud):  # the cabinet first: it may still be sending events
            code = part.stop()
            if code not in (None, 0, -signal.SIGTERM):
                log.warning("%s exited with %s; see %s", part.name, code, part.log_path)

    def running(self) -> bool:
        return self.cloud.running() and self.cabinet.running()

    def greeting(self) -> str:
        staff = {member["id"]: member for member in tomllib.loads(FLEET.read_text())["staff"]}
        lines = [
            "",
            f"  kiosk (the touchscreen):  {self.cabinet.url}/",
            f"  simulator panel:          {self.cabinet.url}/sim",
            f"  cloud (sync API):         {self.cloud.url}/docs",
            "",
            "  badges to try (on the simulator panel, or POST /sim/badge {\"uid\": ...}):",
        ]
        for key in BADGES_TO_TRY:
            member = staff[key]
            lines.append(f"    {member['badge']:<21} {member['name']} ({member['store']}, {member['work_type']})")
        lines += ["", f"  state and logs in {self.state}; Ctrl-C stops everything.", ""]
        return "\n".join(lines)


def _stop_on(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cabinetd.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--state", type=Path, default=ROOT / ".state", help="where everything is kept (.state/)")
    parser.add_argument("--cloud-port", type=int, default=8000)
    parser.add_argument("--kiosk-port", type=int, default=8080)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="demo: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not every request of the start-up checks
    demo = Demo(args.state, cloud_port=args.cloud_port, kiosk_port=args.kiosk_port)
    signal.signal(signal.SIGTERM, _stop_on)
    try:
        demo.start()
        print(demo.greeting(), flush=True)
        while demo.running():
            time.sleep(0.5)
        log.error("a part of the demo stopped by itself; see the logs in %s", demo.state)
        return 1
    except DemoError as exc:
        log.error("%s", exc)
        return 1
    except KeyboardInterrupt:
        log.info("stopping")
        return 0
    finally:
        demo.stop()


if __name__ == "__main__":
    sys.exit(main())
