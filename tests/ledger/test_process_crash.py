"""SIGKILL at random points of a rent and return workload loses nothing that was reported."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from testbed.process_crash import check, soak

KILLS = 150


# 150 children forked and killed, the ledger checked and rebuilt after each: tens of seconds.
@pytest.mark.slow
def test_ok__no_reported_event_is_lost_to_sigkill(tmp_path: Path) -> None:
    seed = random.randrange(2**32)
    result = soak(tmp_path / "state", kills=KILLS, target=200, seed=seed)
    assert result.problems == [], f"seed {seed}: {result}"
    assert result.kills >= KILLS
    assert (result.rentals, result.returns) >= (200, 200)
    # Most kills land inside the workload rather than while the ledger opens.
    assert result.kills - result.kills_before_first_event >= KILLS // 2, result
    assert result.printed > 1000
    print(result)


def test_fail__the_check_sees_a_lost_event(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    result = soak(state_dir, kills=1, target=5, seed=1)
    assert result.problems == []
    printed = {(epoch, seq): event_id for epoch, seq, event_id in _events(state_dir)}
    conn = sqlite3.connect(state_dir / "ledger.sqlite3", isolation_level=None)
    conn.execute("DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)")
    conn.close()
    problems, *_ = check(state_dir, printed)
    assert problems[0].startswith("1 printed events missing, first ")


def _events(state_dir: Path) -> list[tuple[str, int, str]]:
    conn = sqlite3.connect(state_dir / "ledger.sqlite3")
    try:
        return conn.execute("SELECT epoch, seq, event_id FROM events").fetchall()
    finally:
        conn.close()
