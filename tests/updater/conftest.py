from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.updater.rig import Rig, make_rig


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    with make_rig(tmp_path) as made:
        monkeypatch.setenv("PATH", f"{made.bin}:{os.environ['PATH']}")
        yield made
