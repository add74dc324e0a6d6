"""`python -m bench deliveries --quick` run small, so that it cannot rot: two workers empty a backlog with
nothing lost, doubled or unsigned, and a failed self-test's ticket reaches the repair receiver."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_ok__a_quick_delivery_bench_loses_and_doubles_nothing() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "deliveries", "--json", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    rate = result["rate"]
    assert {key: rate[key] for key in ("lost", "doubled", "unverified")} == {"lost": 0, "doubled": 0, "unverified": 0}
    assert rate["deliveries_per_s"] > 0
    assert rate["floor_posts_per_s"] > 0
    ticket = result["ticket"]
    assert ticket["rounds"] == 2
    assert 0 < ticket["median_s"] <= ticket["worst_s"]
