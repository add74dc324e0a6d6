"""Storages for the cloud tests: SQLite always, PostgreSQL from a private cluster (CI requires it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cabinetcloud.app import create_app
from cabinetcloud.storage import Storage
from cabinetd.ledger import Ledger, open_ledger
from testbed import cloudharness
from tests.conftest import require_system


@pytest.fixture(scope="session")
def postgres() -> Iterator[cloudharness.PostgresCluster]:
    bin_dir = cloudharness.postgres_bin()
    require_system("PostgreSQL (the postgresql package)", bin_dir is not None)
    assert bin_dir is not None
    yield cloudharness.shared_cluster(bin_dir)
    cloudharness.stop_shared_cluster()


def _storage_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'cloud.db'}"
    cluster: cloudharness.PostgresCluster = request.getfixturevalue("postgres")
    return cluster.new_database()


# The quick loop (`make check`) runs the cloud on SQLite; `make test` on both engines. A PostgreSQL
# case pays for a database of its own, which doubles what the cloud and sync tests cost.
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    """A migrated, empty cloud database, on each engine."""
    store = cloudharness.migrated(_storage_url(request.param, tmp_path, request))
    yield store
    store.dispose()


@pytest.fixture
def sqlite_storage(tmp_path: Path) -> Iterator[Storage]:
    store = cloudharness.migrated(f"sqlite:///{tmp_path / 'cloud.db'}")
    yield store
    store.dispose()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """A cabinet's ledger, for tests that upload what a real cabinet seals."""
    opened = open_ledger(tmp_path / "cabinet", "sim-1")
    yield opened
    opened.close()


@pytest.fixture
def cloud(storage: Storage) -> Iterator[TestClient]:
    """The cloud app over the demo fleet, with the token of the enrolled cabinet sim-1."""
    cloudharness.seeded(storage)
    token = cloudharness.enroll(storage)
    with TestClient(create_app(storage, max_wait_s=0.2, poll_s=0.05)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client
