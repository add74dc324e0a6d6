"""A running simulated cabinet with its control socket, and `cabinetctl` run against it in-process.

The cabinet runs on the test's event loop (tests/flows/rig.py); `cabinetctl` is synchronous, so it
runs in a worker thread while the loop serves it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cabinetd import logbuffer
from cabinetd.ctl import main
from tests.flows.rig import Rig


@dataclass
class Said:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def lines(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines()]


class Ctl:
    """`cabinetctl --socket S ...` against the rig, output captured."""

    def __init__(self, rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
        self.rig = rig
        self.capsys = capsys
        self.socket = rig.cabinet.control.path

    async def __call__(self, *argv: str) -> Said:
        self.capsys.readouterr()
        code = await asyncio.to_thread(main, ["--socket", str(self.socket), *argv])
        got = self.capsys.readouterr()
        return Said(code, got.out, got.err)

    def technician_actions(self) -> list[tuple[str, int | None, str, dict[str, Any]]]:
        events = self.rig.ledger.tail(10_000)
        return [
            (e.payload["action"], e.slot, e.payload["technician"], e.payload["args"])
            for e in events
            if e.type == "technician_action"
        ]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times print in local time: make that UTC so that outputs can be compared exactly."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def recent_logs() -> Iterator[logbuffer.RecentLogs]:
    ring = logbuffer.recent()
    root = logging.getLogger()
    level = root.level
    root.addHandler(ring)
    root.setLevel(logging.INFO)  # as the daemon runs by default
    yield ring
    root.removeHandler(ring)
    root.setLevel(level)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    rig = Rig(tmp_path)
    await rig.start()
    await rig.until(lambda: all(rig.state(n) == "ready" for n in (1, 3, 5, 7)))
    yield rig
    await rig.stop()
    rig.sim.close()


@pytest.fixture
def ctl(rig: Rig, capsys: pytest.CaptureFixture[str]) -> Ctl:
    return Ctl(rig, capsys)
