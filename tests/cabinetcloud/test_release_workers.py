"""Releases through `cabinet-cloud serve --workers 2` on PostgreSQL, the release key named by
CABINET_CLOUD_RELEASE_KEY: an upload through one process, the rollout, and the package downloaded in
pieces by a cabinet, each piece from whichever process takes the request, put back together whole."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from cabinetcloud import operators
from cabinetcloud.operators import Role
from cabinetcloud.releases.keys import RELEASE_KEY_ENV
from cabinetproto import releasesig
from testbed import cloudharness
from testbed.debs import build_deb, dpkg_deb
from tests.conftest import require_system

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_ok__upload_roll_out_and_download_across_workers(
    postgres: cloudharness.PostgresCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_system("dpkg-deb (the dpkg package)", dpkg_deb() is not None)
    private, public = releasesig.generate_key()
    (tmp_path / "release.key").write_bytes(private)
    (tmp_path / "release.pub").write_bytes(public)
    monkeypatch.setenv(RELEASE_KEY_ENV, str(tmp_path / "release.pub"))
    url = postgres.new_database()
    storage = cloudharness.seeded(cloudharness.migrated(url))
    cabinet = {"Authorization": f"Bearer {cloudharness.enroll(storage)}"}
    with storage.writing() as conn:
        operators.add(conn, "otto", Role.OPERATOR)
        operator = {"Authorization": f"Bearer {operators.issue_token(conn, 'otto', 'tests')[1]}"}
    storage.dispose()
    deb = build_deb(tmp_path, payload=bytes(range(256)) * 4000)
    data = deb.read_bytes()
    signature = releasesig.sign(releasesig.load_private_key(tmp_path / "release.key"), data)
    cloud = cloudharness.ServedCloud(url, tmp_path / "cloud.log", workers=2).start()
    try:
        with httpx.Client(base_url=cloud.url, timeout=30) as client:
            files = {"package": (deb.name, data), "signature": (deb.name + ".sig", signature)}
            uploaded = client.post("/v1/admin/releases", files=files, headers=operator)
            assert uploaded.status_code == 201, uploaded.text
            release_id = uploaded.json()["id"]
            rolled = client.post(
                f"/v1/admin/releases/{release_id}/rollouts", json={"cabinets": ["sim-1"]}, headers=operator
            )
            assert rolled.status_code == 201, rolled.text
            [offer] = [c for c in client.get("/v1/cabinets/sim-1/commands", headers=cabinet).json()]
            assert (offer["kind"], offer["args"]["sha256"]) == ("offer_update", hashlib.sha256(data).hexdigest())
            got = b""
            step = len(data) // 7 + 1
            while len(got) < len(data):
                last = min(len(got) + step, len(data)) - 1
                piece = client.get(
                    f"/v1/releases/{release_id}/package", headers={**cabinet, "Range": f"bytes={len(got)}-{last}"}
                )
                assert piece.status_code == 206, piece.text
                got += piece.content
            assert got == data
            releasesig.verify(releasesig.load_public_key(tmp_path / "release.pub"), got, signature)
    finally:
        assert cloud.stop() in (0, -15)
