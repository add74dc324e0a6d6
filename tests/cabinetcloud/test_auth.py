"""Cabinet tokens: 401 and 403, revoke and rotate, only the hash stored, and the CLI that hands them out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from cabinetcloud import schema
from cabinetcloud.__main__ import main
from cabinetcloud.app import create_app
from cabinetcloud.storage import Storage
from testbed import cloudharness

PATHS = ["/v1/cabinets/sim-1/snapshot", "/v1/cabinets/sim-1/commands", "/v1/cabinets/sim-1/changes"]


@pytest.fixture
def cloud(storage: Storage) -> TestClient:
    cloudharness.seeded(storage)
    return TestClient(create_app(storage, max_wait_s=0.1, poll_s=0.05))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("header", [None, "Bearer cab1_wrong", "Basic c2ltLTE6eA==", "Bearer "])
def test_fail__a_missing_or_unknown_token_gets_401(
    cloud: TestClient, storage: Storage, path: str, header: str | None
) -> None:
    cloudharness.enroll(storage)
    reply = cloud.get(path, headers={} if header is None else {"Authorization": header})
    assert reply.status_code == 401
    assert reply.json() == {"code": "unauthorized", "detail": "missing or unknown cabinet token"}
    assert reply.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", PATHS)
def test_fail__a_token_on_another_cabinets_path_gets_403(cloud: TestClient, storage: Storage, path: str) -> None:
    cloudharness.enroll(storage)
    with storage.writing() as conn:
        conn.execute(sa.insert(schema.stores).values(id="other", name="Other"))
    intruder = cloudharness.enroll(storage, "sim-2", "other")
    reply = cloud.get(path, headers={"Authorization": f"Bearer {intruder}"})
    assert reply.status_code == 403
    assert reply.json() == {"code": "forbidden", "detail": "this token does not belong to cabinet 'sim-1'"}


def test_ok__only_the_hash_is_kept_and_revoke_and_rotate_take_effect_at_once(
    cloud: TestClient, storage: Storage
) -> None:
    token = cloudharness.enroll(storage)
    with storage.reading() as conn:
        dump = [tuple(row) for row in conn.execute(sa.select(schema.cabinets))]
    assert token not in repr(dump)
    ok = {"Authorization": f"Bearer {token}"}
    assert cloud.get(PATHS[0], headers=ok).status_code == 200
    assert main(["rotate", "--db", storage.url, "--cabinet", "sim-1"]) == 0
    assert cloud.get(PATHS[0], headers=ok).status_code == 401
    assert main(["revoke", "--db", storage.url, "--cabinet", "sim-1"]) == 0
    with storage.reading() as conn:
        row = conn.execute(sa.select(schema.cabinets).where(schema.cabinets.c.id == "sim-1")).one()
    assert (row.token_hash, row.revoked_at is not None) == (None, True)


def test_ok__enroll_shows_the_token_once_or_writes_it_0600(
    sqlite_storage: Storage, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", sqlite_storage.url]
    cloudharness.seeded(sqlite_storage)
    assert main(["enroll", *db, "--cabinet", "sim-1", "--store", "demo"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("cab1_")
    assert len(out.strip()) > 40
    assert err == "cabinet sim-1: this token is shown once; put it in the cabinet's token file (mode 0600)\n"
    assert main(["enroll", *db, "--cabinet", "sim-1", "--store", "demo"]) == 1
    assert capsys.readouterr().err == (
        "cabinet-cloud: cabinet 'sim-1' is already enrolled: rotate its token (cabinet-cloud rotate) instead\n"
    )
    token_file = tmp_path / "cloud.token"
    assert main(["rotate", *db, "--cabinet", "sim-1", "--token-file", str(token_file)]) == 0
    assert capsys.readouterr().out == f"cabinet sim-1: token written to {token_file}\n"
    assert os.stat(token_file).st_mode & 0o777 == 0o600
    assert main(["enroll", *db, "--cabinet", "x-9", "--store", "nowhere"]) == 1
    assert capsys.readouterr().err == (
        "cabinet-cloud: store 'nowhere' is not known: seed it first (cabinet-cloud seed FILE.toml)\n"
    )
    assert main(["revoke", *db, "--cabinet", "x-9"]) == 1
    assert capsys.readouterr().err == "cabinet-cloud: cabinet 'x-9' is not known\n"
