"""The updater rig, closed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.flows.rig import Rig
from tests.updates.rig import UpdateRig


@pytest.fixture
def updater(tmp_path: Path) -> Iterator[UpdateRig]:
    rig = UpdateRig(tmp_path)
    yield rig
    rig.close()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """The simulated cabinet, started (tests/flows/rig.py)."""
    rig = Rig(tmp_path)
    await rig.start()
    await rig.until(lambda: all(rig.state(n) in ("ready", "charging") for n in (1, 3, 5, 7)))
    yield rig
    await rig.stop()
    rig.sim.close()
