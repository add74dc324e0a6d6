"""The dashboard over a fleet with an operator of each role (rig.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cabinetcloud.storage import Storage
from testbed import cloudharness
from tests.cabinetcloud.dashboard.rig import Fleet, populate, serving, tell
from tests.cabinetcloud.fleet_story import DAY_END


@pytest.fixture
def fleet(storage: Storage) -> Fleet:
    """On each engine."""
    populate(storage)
    return serving(storage)


@pytest.fixture(scope="session")
def fleet_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fleet on SQLite, made once: seeding and four argon2 hashes cost more than the page tests."""
    path = tmp_path_factory.mktemp("dashboard-fleet") / "cloud.db"
    storage = cloudharness.migrated(f"sqlite:///{path}")
    populate(storage)
    storage.dispose()
    return path


@pytest.fixture
def sqlite_fleet(fleet_file: Path, tmp_path: Path) -> Iterator[Fleet]:
    """On SQLite only, for what is about the pages alone: a copy of the fleet each test may change."""
    copy = tmp_path / "cloud.db"
    shutil.copy(fleet_file, copy)
    storage = Storage(f"sqlite:///{copy}")
    yield serving(storage)
    storage.dispose()


@pytest.fixture(scope="session")
def story_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fleet's day of fleet_story.py on SQLite, told once."""
    root = tmp_path_factory.mktemp("dashboard-story")
    storage = cloudharness.migrated(f"sqlite:///{root / 'cloud.db'}")
    tell(storage, root)
    storage.dispose()
    return root / "cloud.db"


@pytest.fixture
def told(story_file: Path, tmp_path: Path) -> Iterator[Fleet]:
    """The day's fleet, looked at as of the day's end."""
    copy = tmp_path / "cloud.db"
    shutil.copy(story_file, copy)
    storage = Storage(f"sqlite:///{copy}")
    yield serving(storage, lambda: DAY_END)
    storage.dispose()
