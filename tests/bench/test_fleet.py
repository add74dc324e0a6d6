"""`python -m bench fleet --quick` run small, so that it cannot rot: a few cabinets reconnect at once to
two workers on PostgreSQL and one process on SQLite, and the figures that must be 0 are."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A PostgreSQL cluster of its own and three server processes started: some 30 s here.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_ok__a_quick_fleet_reconnect_loses_and_doubles_nothing_on_either_engine() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "fleet", "--json", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert list(result) == ["sqlite", "postgresql"]
    for engine, workers in (("sqlite", 1), ("postgresql", 2)):
        figures = result[engine]
        assert (figures["cabinets"], figures["events"], figures["workers"]) == (20, 1000, workers)
        must_be_0 = {key: figures[key] for key in ("errors", "lost", "duplicated", "dead_lettered")}
        assert must_be_0 == {"errors": 0, "lost": 0, "duplicated": 0, "dead_lettered": 0}
        assert figures["events_per_s"] > 0
        assert figures["floor_events_per_s"] > 0
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
