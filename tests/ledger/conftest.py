from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cabinetd.ledger import Ledger, open_ledger
from tests.ledger.helpers import CABINET, StepClock


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def ledger(state_dir: Path, clock: StepClock) -> Iterator[Ledger]:
    opened = open_ledger(state_dir, CABINET, clock=clock, boot_id="boot-1")
    yield opened
    opened.close()
