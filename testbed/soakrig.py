"""The soak's processes (bench/soak.py): a real `cabinet-cloud serve` on SQLite and a real `cabinetd run`
on the simulated cabinet, in one directory, with the faulty proxy between the cabinet and the cloud.

The cabinet is started, SIGKILLed and started again over the same state directory (its ledger and
its simulated world); the cloud is stopped and started for outages. Every HTTP answer the soak gets
from the cabinet, and every answer the cloud gives through the proxy, is counted by status.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Final

import httpx

from testbed.cloudharness import FLEET_DEMO, free_port
from testbed.faulty_proxy import Fault, FaultPlan, FaultyProxy

ROOT: Final = FLEET_DEMO.parents[1]
SIM_CONFIG: Final = FLEET_DEMO.parent / "sim.toml"
CABINET: Final = "sim-1"
START_S: Final = 60.0
STOP_S: Final = 15.0
# The network between the store and the office on a bad day; the proxy's own 503s are not the cloud's.
NETWORK_FAULTS: Final = {
    Fault.PASS: 0.85,
    Fault.LOST_REPLY: 0.04,
    Fault.RESET: 0.03,
    Fault.TRUNCATE: 0.03,
    Fault.DUPLICATE: 0.03,
    Fault.ERROR_5XX: 0.02,
}


class SoakError(Exception):
    """A part of the soak could not be started; the message names it and its log."""


class Process:
    """One child process that answers HTTP on `url` + `/health` once it is up."""

    def __init__(self, name: str, argv: list[str], url: str, log_path: Path) -> None:
        self.name, self.argv, self.url, self.log_path = name, argv, url, log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(self.argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SoakError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise SoakError(f"{self.name} did not answer on {self.url} within {START_S:.0f} s; see {self.log_path}")

    def exited(self) -> int | None:
        """The exit status if the process ended by itself (or was killed), else None."""
        return None if self.process is None else self.process.poll()

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class SoakRig:
    def __init__(self, directory: Path, seed: int) -> None:
        self.directory = directory
        self.state = directory / "cabinet"
        self.state.mkdir(parents=True)
        self.db = f"sqlite:///{directory / 'cloud.sqlite3'}"
        self.statuses: Counter[int] = Counter()  # every answer the soak got from the cabinet
        cloud_port, kiosk_port = free_port(), free_port()
        self.cloud = Process(
            "cabinet-cloud",
            [*self._cloud("serve"), "--port", str(cloud_port), "--log-level", "warning"],
            f"http://127.0.0.1:{cloud_port}",
            directory / "cloud.log",
        )
        self._cloud_once("seed", str(FLEET_DEMO))
        token = self.state / "cloud.token"
        self._cloud_once("enroll", "--cabinet", CABINET, "--store", "demo", "--token-file", str(token))
        self.proxy = FaultyProxy(cloud_port, FaultPlan(weights=dict(NETWORK_FAULTS), seed=seed, hang_s=5.0))
        self.proxy.start()
        self.control_socket = self.state / "control.sock"
        site = directory / "site.toml"
        site.write_text(
            f'[cabinet]\nstate_dir = "{self.state}"\n'
            f'[api]\nport = {kiosk_port}\ncontrol_socket = "{self.control_socket}"\n'
            f'[cloud]\nurl = "{self.proxy.url}"\ntoken_file = "{token}"\n'
        )
        run = [sys.executable, "-m", "cabinetd", "run", "--config", str(SIM_CONFIG), "--config", str(site)]
        self.cabinet = Process("cabinetd", run, f"http://127.0.0.1:{kiosk_port}", directory / "cabinetd.log")

    def _cloud(self, *words: str) -> list[str]:
        return [sys.executable, "-m", "cabinetcloud", *words, "--db", self.db]

    def _cloud_once(self, *words: str) -> None:
        done = subprocess.run(self._cloud(*words), cwd=ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SoakError(f"cabinet-cloud {words[0]} failed: {done.stderr.strip()}")

    def network_heals(self) -> None:
        """No more faults on the way to the cloud (the final sync)."""
        self.proxy.plan = FaultPlan()

    def close(self) -> None:
        # The proxy before the cloud: a long poll it still holds for a cabinet that has gone would
        # otherwise be counted among the cloud's answers when the cloud cuts it short.
        self.cabinet.stop()
        self.proxy.stop()
        self.cloud.stop()

    # --- talking to the cabinet ------------------------------------------------------------------

    def _counted(self, response: httpx.Response) -> Any:
        self.statuses[response.status_code] += 1
        return response.json() if response.content else None

    def get(self, path: str) -> Any:
        return self._counted(httpx.get(self.cabinet.url + path, timeout=10))

    def post(self, path: str, body: dict[str, Any] | None = None) -> int:
        response = httpx.post(self.cabinet.url + path, json=body or {}, timeout=30)
        self._counted(response)
        return response.status_code

    def control(self, method: str, path: str) -> Any:
        transport = httpx.HTTPTransport(uds=str(self.control_socket))
        with httpx.Client(transport=transport, base_url="http://cabinet", timeout=10) as client:
            return self._counted(client.request(method, path))

    def answers_5xx(self) -> dict[str, int]:
        """5xx answers from the cabinet's APIs and from the cloud (the proxy's injected 503s aside)."""
        return {
            "cabinet": sum(count for status, count in self.statuses.items() if status >= 500),
            "cloud": sum(count for status, count in self.proxy.answered.items() if status >= 500),
        }
