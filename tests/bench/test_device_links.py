"""`python -m bench badge --link adb` and `python -m bench readback` run small, so that they cannot rot:
every measured rent provisions over its link (the one-app case installs each time: the benchmark
itself refuses figures of anything else), and the read-back runs over both links."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _bench(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "bench", *args, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_ok__badge_to_unlock_is_measured_for_each_link_with_a_provisioning_rent() -> None:
    result = _bench("badge", "--link", "adb", "--rents", "3", "--apk-mb", "0.25")
    assert list(result) == ["n", "apk_mb", "aoa", "adb_nothing", "adb_one_app", "floor"]
    for case in ("aoa", "adb_nothing", "adb_one_app", "floor"):
        figures = result[case]
        assert isinstance(figures, dict)
        assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    one_app = result["adb_one_app"]
    assert isinstance(one_app, dict)
    assert one_app["vs_aoa_p50"] > 0


def test_ok__the_read_back_at_a_return_is_measured_per_link() -> None:
    result = _bench("readback", "--runs", "2")
    assert list(result) == ["runs", "aoa-agent", "floor_adb_round_trip", "adb"]
    for link in ("aoa-agent", "adb"):
        steps = result[link]
        assert isinstance(steps, dict)
        assert list(steps) == ["selftest", "usage", "end_session", "total"]
        assert all(0 < steps[step]["p50_ms"] <= steps["total"]["max_ms"] for step in steps)


def test_fail__a_link_the_cabinet_does_not_have_is_refused_by_name() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "badge", "--link", "serial"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "invalid choice: 'serial'" in done.stderr
