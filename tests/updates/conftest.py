"""The updater rig, closed after each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.updates.rig import UpdateRig


@pytest.fixture
def updater(tmp_path: Path) -> Iterator[UpdateRig]:
    rig = UpdateRig(tmp_path)
    yield rig
    rig.close()
