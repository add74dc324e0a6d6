"""`python -m bench soak` run for a few seconds, so that it cannot rot: the real daemon and cloud
start, a kill lands in someone's visit, the final sync runs, and the figures that must be 0 are."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Two real processes started (the cabinet twice), a roster and a final sync: about a minute here.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_ok__a_short_soak_survives_its_kill_and_loses_no_event(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "soak", "--json", "--minutes", "0.05", "--seed", "7", "--dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    result = json.loads(done.stdout)
    assert result["kills"] >= 1
    assert result["kills_survived"] == result["kills"]
    assert result["final_sync_done"] is True
    assert result["events_in_ledger"] > 0
    figures = {key: result[key] for key in ("open_rentals_in_a_slot", "events_lost", "events_duplicated")}
    assert figures == {"open_rentals_in_a_slot": 0, "events_lost": 0, "events_duplicated": 0}
    assert result["answers_5xx_by_side"]["cabinet"] == 0
    # The exit status says what "ok" says.
    assert done.returncode == (0 if result["ok"] else 1)
