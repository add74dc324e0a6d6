"""Fixtures for the sync client: a state directory and its ledger; the cloud's storages.

What the sync tests share with the benchmarks (a cabinet config, fast pacing, running a client until
a condition holds) is in testbed/syncrig.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cabinetd.ledger import Ledger, open_ledger
from tests.cabinetcloud.conftest import postgres, sqlite_storage, storage

__all__ = ["postgres", "sqlite_storage", "storage"]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "cabinet"
    path.mkdir()
    return path


@pytest.fixture
def ledger(state_dir: Path) -> Iterator[Ledger]:
    opened = open_ledger(state_dir, "sim-1")
    yield opened
    opened.close()
