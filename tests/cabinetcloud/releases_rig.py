"""A fleet that takes releases: the release key pair in a temporary directory, the app told the
public half, more enrolled cabinets than the demo's one, and real .deb files signed with the key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cabinetcloud import audit, auth
from cabinetcloud.operators import Role
from cabinetcloud.releases import rollouts, uploads
from cabinetcloud.storage import Storage
from cabinetproto import releasesig
from testbed.debs import build_deb, dpkg_deb
from tests.cabinetcloud.operators_rig import Fleet, serving
from tests.conftest import require_system

# Beside sim-1 (store demo, enrolled by the operators' rig): three more in demo, six in north.
MORE_CABINETS = {**{f"demo-{n}": "demo" for n in range(2, 5)}, **{f"north-{n}": "north" for n in range(1, 7)}}


@dataclass
class Releases:
    fleet: Fleet
    key: Ed25519PrivateKey
    where: Path
    cabinet_tokens: dict[str, str]

    def deb(self, **control: Any) -> Path:
        return build_deb(self.where, **control)

    def upload(
        self, deb: Path, *, signature: bytes | None = None, role: Role = Role.OPERATOR, data: bytes | None = None
    ) -> httpx.Response:
        body = deb.read_bytes() if data is None else data
        signed = releasesig.sign(self.key, body) if signature is None else signature
        files = {
            "package": (deb.name, body, "application/vnd.debian.binary-package"),
            "signature": (deb.name + ".sig", signed, "application/octet-stream"),
        }
        reply: httpx.Response = self.fleet.client.post(
            "/v1/admin/releases", files=files, headers=self.fleet.as_role(role)
        )
        return reply

    def released(self, **control: Any) -> dict[str, Any]:
        reply = self.upload(self.deb(**control))
        assert reply.status_code == 201, reply.text
        found: dict[str, Any] = reply.json()
        return found

    def cabinet(self, cabinet_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.cabinet_tokens[cabinet_id]}"}


def releasing(storage: Storage, where: Path) -> Iterator[Releases]:
    require_system("dpkg-deb (the dpkg package)", dpkg_deb() is not None)
    private, public = releasesig.generate_key()
    (where / "release.key").write_bytes(private)
    (where / "release.pub").write_bytes(public)
    key = releasesig.load_public_key(where / "release.pub")
    for fleet in serving(storage, release_key=key):
        tokens = {"sim-1": fleet.cabinet_token}
        with storage.writing() as conn:
            for cabinet_id, store in MORE_CABINETS.items():
                tokens[cabinet_id] = auth.enroll(conn, cabinet_id, store)
        yield Releases(fleet, releasesig.load_private_key(where / "release.key"), where, tokens)


@pytest.fixture
def releases(storage: Storage, tmp_path: Path) -> Iterator[Releases]:
    """On each engine."""
    yield from releasing(storage, tmp_path)


@pytest.fixture
def sqlite_releases(sqlite_storage: Storage, tmp_path: Path) -> Iterator[Releases]:
    """On SQLite only, for refusals that are the HTTP layer's alone."""
    yield from releasing(sqlite_storage, tmp_path)


def put_release(storage: Storage, where: Path, cabinets: list[str], now: datetime) -> tuple[int, int]:
    """A release signed by a key of its own, kept as an upload keeps it, rolled out to `cabinets` as an
    operator's rollout is: (release id, rollout id). For pages that show releases, not uploads."""
    private, public = releasesig.generate_key()
    (where / "put-release.key").write_bytes(private)
    key = releasesig.load_private_key(where / "put-release.key")
    deb = build_deb(where)
    data = deb.read_bytes()
    actor = audit.Actor(name="otto", via="token")
    upload = uploads.Upload(data=data, signature=releasesig.sign(key, data), name=deb.name)
    kept, _ = uploads.accept(storage, releasesig.parse_public_key(public, "release.pub"), upload, actor, now)
    target = rollouts.Target(kind="cabinets", cabinets=tuple(cabinets))
    return int(kept["id"]), rollouts.start(storage, int(kept["id"]), rollouts.Order(target), actor, now)
