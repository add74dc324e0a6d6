"""The cloud's SQLite files: private to the user that runs the cloud, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cabinetcloud.storage import Storage
from testbed import cloudharness


@pytest.fixture
def open_umask() -> Iterator[None]:
    # The usual umask, under which SQLite on its own creates the database 0644.
    old = os.umask(0o022)
    yield
    os.umask(old)


def modes(path: Path) -> dict[str, int]:
    files = (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
    return {file.name: stat.S_IMODE(file.stat().st_mode) for file in files}


def test_ok__the_database_and_its_wal_and_shm_are_created_owner_only(open_umask: None, tmp_path: Path) -> None:
    path = tmp_path / "cloud.db"
    storage = cloudharness.seeded(cloudharness.migrated(f"sqlite:///{path}"))  # PIN hashes written
    try:
        with storage.reading() as conn:
            conn.exec_driver_sql("SELECT 1")
            assert modes(path) == {"cloud.db": 0o600, "cloud.db-wal": 0o600, "cloud.db-shm": 0o600}
    finally:
        storage.dispose()


def test_ok__a_database_an_older_cloud_left_readable_is_made_owner_only(
    open_umask: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cloud.db"
    cloudharness.migrated(f"sqlite:///{path}").dispose()
    path.chmod(0o644)
    storage = Storage(f"sqlite:///{path}")
    storage.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"{path} was mode 0644: made 0600 (it holds the fleet's PIN hashes)" in caplog.messages
