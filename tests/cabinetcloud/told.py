"""The story of fleet_story.py told into a cloud on each engine, once per test module that takes
the fixture: `_told = pytest.fixture(scope="module", params=ENGINES, name="told")(tell)`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cabinetcloud.projections import catch_up
from testbed import cloudharness
from tests.cabinetcloud.fleet_history import Clock, Fleet
from tests.cabinetcloud.fleet_story import story

ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)]


def tell(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """The story told into the cloud, projected as it went along: once per engine and module (a
    test that changes it puts it back)."""
    root = tmp_path_factory.mktemp("story")
    if request.param == "sqlite":
        url = f"sqlite:///{root / 'cloud.db'}"
    else:
        url = request.getfixturevalue("postgres").new_database()
    storage = cloudharness.seeded(cloudharness.migrated(url))
    fleet = Fleet(storage, Clock(), root)
    story(fleet, root)
    catch_up(storage, fleet.clock.now)
    yield fleet
    fleet.close()
    storage.dispose()
