"""`cabinet-cloud serve` as a real process: a cabinet's long poll held when the cloud is stopped gets its
page, not the 500 that cutting it off at the end of the graceful shutdown would give."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from testbed.cloudharness import FLEET_DEMO, free_port
from testbed.soakrig import ROOT, Process


def cloud_command(db: str, *words: str) -> list[str]:
    return [sys.executable, "-m", "cabinetcloud", *words, "--db", db]


def test_ok__a_long_poll_held_when_the_cloud_stops_gets_its_page(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cloud.sqlite3'}"
    subprocess.run(cloud_command(db, "seed", str(FLEET_DEMO)), cwd=ROOT, check=True, capture_output=True)
    token_file = tmp_path / "token"
    enrol = ["enroll", "--cabinet", "sim-1", "--store", "demo", "--token-file", str(token_file)]
    subprocess.run(cloud_command(db, *enrol), cwd=ROOT, check=True, capture_output=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    served = Process("cabinet-cloud", [*cloud_command(db, "serve", "--port", str(port))], url, tmp_path / "cloud.log")
    served.start()
    try:
        headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
        changes = f"{url}/v1/cabinets/sim-1/changes"
        head = httpx.get(changes, headers=headers, timeout=10).json()["cursor"]
        answers: list[httpx.Response] = []
        held = threading.Thread(
            target=lambda: answers.append(
                httpx.get(changes, params={"cursor": head, "wait": 25}, headers=headers, timeout=30)
            )
        )
        held.start()
        threading.Event().wait(1.0)  # the poll is held: nothing changed after the head
        assert served.process is not None
        served.process.send_signal(signal.SIGTERM)
        held.join(timeout=30)
        assert [(a.status_code, a.json()["ops"], a.json()["cursor"]) for a in answers] == [(200, [], head)]
        # uvicorn ends by raising the signal again once it has shut down: systemd counts that as clean.
        assert served.process.wait(timeout=15) in (0, -signal.SIGTERM)
    finally:
        served.stop()
