"""`GET /v1/releases/{id}/package`: the bytes for a cabinet the release was offered to, whole or
resumed with Range; refused without the cabinet's token, with an operator's, or to another cabinet."""

from __future__ import annotations

import hashlib

import pytest

from cabinetcloud.operators import Role
from cabinetcloud.releases import tables
from tests.cabinetcloud.releases_rig import Releases, releases, sqlite_releases

__all__ = ["releases", "sqlite_releases"]


def _offered(releases: Releases, **control: object) -> tuple[int, bytes]:
    deb = releases.deb(**control)
    release = releases.released(**control)
    reply = releases.fleet.client.post(
        f"/v1/admin/releases/{release['id']}/rollouts",
        json={"cabinets": ["sim-1"]},
        headers=releases.fleet.as_role(Role.OPERATOR),
    )
    assert reply.status_code == 201, reply.text
    return int(release["id"]), deb.read_bytes()


def test_ok__the_whole_package_and_the_rest_of_a_cut_download(releases: Releases) -> None:
    release_id, data = _offered(releases)
    path = f"/v1/releases/{release_id}/package"
    whole = releases.fleet.client.get(path, headers=releases.cabinet("sim-1"))
    assert (whole.status_code, whole.content, whole.headers["content-length"]) == (200, data, str(len(data)))
    assert (whole.headers["accept-ranges"], whole.headers["etag"]) == ("bytes", f'"{hashlib.sha256(data).hexdigest()}"')
    cut = len(data) // 3
    rest = releases.fleet.client.get(path, headers={**releases.cabinet("sim-1"), "Range": f"bytes={cut}-"})
    assert (rest.status_code, rest.headers["content-range"], rest.headers["content-length"]) == (
        206,
        f"bytes {cut}-{len(data) - 1}/{len(data)}",
        str(len(data) - cut),
    )
    assert data[:cut] + rest.content == data


def test_ok__ranges_across_chunks(sqlite_releases: Releases, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package of several chunks (made small here) is put back together at any offset."""
    from cabinetcloud.releases import download, uploads

    monkeypatch.setattr(uploads, "CHUNK_BYTES", 100)
    monkeypatch.setattr(download, "CHUNK_BYTES", 100)
    release_id, data = _offered(sqlite_releases, payload=bytes(range(256)) * 20)
    assert len(data) > 300
    path, cabinet = f"/v1/releases/{release_id}/package", sqlite_releases.cabinet("sim-1")
    with sqlite_releases.fleet.storage.reading() as conn:
        import sqlalchemy as sa

        chunks = conn.execute(sa.select(sa.func.count()).select_from(tables.release_chunks)).scalar_one()
    assert chunks == (len(data) + 99) // 100
    for header, expected in (
        ("bytes=150-", data[150:]),
        ("bytes=99-200", data[99:201]),
        ("bytes=-10", data[-10:]),
        ("bytes=0-0", data[:1]),
    ):
        reply = sqlite_releases.fleet.client.get(path, headers={**cabinet, "Range": header})
        assert (reply.status_code, reply.content) == (206, expected), header
    assert sqlite_releases.fleet.client.get(path, headers=cabinet).content == data


def test_fail__a_range_past_the_end(sqlite_releases: Releases) -> None:
    release_id, data = _offered(sqlite_releases)
    reply = sqlite_releases.fleet.client.get(
        f"/v1/releases/{release_id}/package",
        headers={**sqlite_releases.cabinet("sim-1"), "Range": f"bytes={len(data)}-"},
    )
    assert (reply.status_code, reply.headers["content-range"], reply.json()) == (
        416,
        f"bytes */{len(data)}",
        {"code": "range_not_satisfiable", "detail": f"'bytes={len(data)}-': the package is {len(data)} bytes"},
    )


def test_fail__without_a_cabinet_token_or_not_offered(releases: Releases) -> None:
    release_id, _ = _offered(releases)
    client, path = releases.fleet.client, f"/v1/releases/{release_id}/package"
    cases = [
        ({}, 401, "missing or unknown cabinet token"),
        ({"Authorization": "Bearer cab1_nothing"}, 401, "missing or unknown cabinet token"),
        (releases.fleet.as_role(Role.ADMIN), 403, "an operator's token is not accepted on cabinet routes"),
        (releases.cabinet("north-1"), 404, f"release {release_id} is not offered to cabinet 'north-1'"),
    ]
    for headers, status, detail in cases:
        reply = client.get(path, headers=headers)
        assert (reply.status_code, reply.json()["detail"]) == (status, detail)
    unknown = client.get("/v1/releases/4242/package", headers=releases.cabinet("sim-1"))
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "release 4242 is not offered to cabinet 'sim-1'")
