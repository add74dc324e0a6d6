"""A power cut at every I/O operation of a 60-transaction run: with synchronous=FULL every commit
that returned survives and the file is sound; with NORMAL the same harness sees commits vanish."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from cabinetd.ledger.schema import Synchronous
from tests.ledger.powercut import Recovery, recover, run_workload

TRANSACTIONS = 60

# Every crash point of the run is booted and checked: tens of seconds for each setting.
pytestmark = pytest.mark.slow


@dataclass
class Outcome:
    crash_points: int
    acked: int
    points_losing_acked: int
    problems: list[str]


def cut_power_everywhere(tmp_path: Path, synchronous: Synchronous) -> Outcome:
    """Run once, then boot the durable image of every crash point (and of a cut after the run)."""
    run = run_workload(tmp_path / "run", synchronous, TRANSACTIONS)
    assert run.errors == []
    points = [(p.image, p.acked) for p in run.vfs.points] + [(len(run.vfs.images) - 1, len(run.acked))]
    outcomes: list[Recovery] = []
    for number, (image, acked) in enumerate(points):
        directory = tmp_path / f"boot-{number}"
        outcomes.append(recover(run.vfs.images[image], directory, run.acked[:acked]))
        shutil.rmtree(directory)
    return Outcome(
        crash_points=len(points),
        acked=len(run.acked),
        points_losing_acked=sum(1 for outcome in outcomes if outcome.lost),
        problems=sorted({problem for outcome in outcomes for problem in outcome.problems}),
    )


def test_ok__synchronous_full_loses_no_acknowledged_commit(tmp_path: Path) -> None:
    outcome = cut_power_everywhere(tmp_path, "FULL")
    assert outcome.problems == []
    assert outcome.points_losing_acked == 0, outcome
    assert outcome.acked == 84
    assert outcome.crash_points > 10 * TRANSACTIONS, outcome
    print(outcome)


def test_fail__synchronous_normal_loses_acknowledged_commits(tmp_path: Path) -> None:
    outcome = cut_power_everywhere(tmp_path, "NORMAL")
    assert outcome.problems == []  # the file stays sound: NORMAL loses recent commits, not integrity
    assert outcome.points_losing_acked > TRANSACTIONS, outcome
    print(outcome)
