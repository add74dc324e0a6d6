"""The flow tests' cabinet: the simulated one, started, with its stocked slots (1, 3, 5, 7) at rest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.flows.rig import Rig


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    rig = Rig(tmp_path)
    await rig.start()
    await rig.until(lambda: all(rig.state(n) in ("ready", "charging") for n in (1, 3, 5, 7)))
    yield rig
    await rig.stop()
    rig.sim.close()
