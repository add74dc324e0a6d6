"""`/v1/admin/releases`: a signed cabinetd package is kept with what it says of itself; a tampered
package, another key's signature, a file that is not a .deb, another package, a version taken by
other bytes and a service without a release key are each refused with their own message."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cabinetcloud import audit
from cabinetcloud.operators import Role
from cabinetcloud.releases.tables import release_chunks
from cabinetproto import releasesig
from tests.cabinetcloud.operators_rig import Fleet, fleet
from tests.cabinetcloud.releases_rig import Releases, releases, sqlite_releases

__all__ = ["fleet", "releases", "sqlite_releases"]


def test_ok__a_signed_package_is_kept_with_its_control_fields(releases: Releases) -> None:
    deb = releases.deb(version="0.2.0-1", architecture="arm64")
    data = deb.read_bytes()
    reply = releases.upload(deb)
    assert reply.status_code == 201, reply.text
    kept = reply.json()
    signature = releasesig.encode_signature(releasesig.sign(releases.key, data))
    assert {key: kept[key] for key in ("package", "version", "architecture", "sha256", "size", "signature")} == {
        "package": "cabinetd",
        "version": "0.2.0-1",
        "architecture": "arm64",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "signature": signature,
    }
    assert kept["uploaded_by"] == "otto"
    listed = releases.fleet.client.get("/v1/admin/releases", headers=releases.fleet.as_role(Role.VIEWER))
    assert [release["id"] for release in listed.json()] == [kept["id"]]
    with releases.fleet.storage.reading() as conn:
        stored = conn.execute(sa.select(release_chunks.c.data).order_by(release_chunks.c.number)).scalars().all()
        events, _ = audit.page(conn, resource="release")
    assert b"".join(stored) == data
    assert [(event["action"], event["actor"], event["after"]["version"]) for event in events] == [
        ("upload", "otto", "0.2.0-1")
    ]


def test_ok__the_same_bytes_again_are_the_release_kept(releases: Releases) -> None:
    deb = releases.deb()
    first = releases.upload(deb)
    again = releases.upload(deb)
    assert (first.status_code, again.status_code, again.json()["id"]) == (201, 200, first.json()["id"])


def test_fail__other_bytes_under_a_version_already_kept(releases: Releases) -> None:
    kept = releases.released(version="0.3.0-1")
    rebuilt = releases.deb(version="0.3.0-1", payload=b"a rebuilt daemon\n")
    reply = releases.upload(rebuilt)
    assert reply.status_code == 409
    assert reply.json() == {
        "code": "version_taken",
        "detail": f"cabinetd_0.3.0-1_amd64.deb: cabinetd 0.3.0-1 (amd64) is release {kept['id']} already, with "
        f"other bytes (sha256 {kept['sha256']}): a new build needs a new version",
    }


def test_fail__a_tampered_package(releases: Releases) -> None:
    deb = releases.deb()
    data = deb.read_bytes()
    signature = releasesig.sign(releases.key, data)
    tampered = data[:-1] + bytes([data[-1] ^ 1])
    reply = releases.upload(deb, data=tampered, signature=signature)
    assert (reply.status_code, reply.json()) == (
        422,
        {"code": "bad_signature", "detail": f"{deb.name}: the signature does not verify with the release key"},
    )


def test_fail__a_signature_made_with_another_key(releases: Releases) -> None:
    deb = releases.deb()
    other = Ed25519PrivateKey.generate()
    reply = releases.upload(deb, signature=releasesig.sign(other, deb.read_bytes()))
    assert (reply.status_code, reply.json()["detail"]) == (
        422,
        f"{deb.name}: the signature does not verify with the release key",
    )


def test_fail__not_a_debian_package(sqlite_releases: Releases) -> None:
    fake = sqlite_releases.where / "cabinetd_0.2.0-1_amd64.deb"
    fake.write_bytes(b"PK\x03\x04 an app package, not a .deb")
    reply = sqlite_releases.upload(fake)
    assert (reply.status_code, reply.json()) == (
        422,
        {
            "code": "not_a_package",
            "detail": "cabinetd_0.2.0-1_amd64.deb is not a Debian package: it is not an ar archive",
        },
    )


def test_fail__another_package(sqlite_releases: Releases) -> None:
    deb = sqlite_releases.deb(package="cabinetd-kiosk")
    reply = sqlite_releases.upload(deb)
    assert (reply.status_code, reply.json()) == (
        422,
        {
            "code": "wrong_package",
            "detail": "cabinetd-kiosk_0.2.0-1_amd64.deb is the package 'cabinetd-kiosk', not 'cabinetd': "
            "only the cabinet's own is released",
        },
    )


def test_fail__a_short_signature_and_a_missing_one(sqlite_releases: Releases) -> None:
    deb = sqlite_releases.deb()
    short = sqlite_releases.upload(deb, signature=b"\x00" * 10)
    assert short.json()["detail"] == f"{deb.name}: an ed25519 signature is 64 bytes, this one is 10"
    client, headers = sqlite_releases.fleet.client, sqlite_releases.fleet.as_role(Role.ADMIN)
    missing = client.post("/v1/admin/releases", files={"package": (deb.name, deb.read_bytes())}, headers=headers)
    assert (missing.status_code, missing.json()["detail"]) == (
        422,
        "body.signature: missing: the .deb.sig file (or its base64)",
    )


def test_ok__the_signature_as_base64_text(sqlite_releases: Releases) -> None:
    deb = sqlite_releases.deb()
    text = releasesig.encode_signature(releasesig.sign(sqlite_releases.key, deb.read_bytes()))
    reply = sqlite_releases.fleet.client.post(
        "/v1/admin/releases",
        files={"package": (deb.name, deb.read_bytes())},
        data={"signature": text},
        headers=sqlite_releases.fleet.as_role(Role.ADMIN),
    )
    assert reply.status_code == 201, reply.text


def test_fail__uploads_are_the_fleets_roles_only(sqlite_releases: Releases) -> None:
    deb = sqlite_releases.deb()
    for role in (Role.VIEWER, Role.STORE_MANAGER):
        reply = sqlite_releases.upload(deb, role=role)
        assert (reply.status_code, reply.json()["detail"]) == (403, f"role {role.value} may not change the fleet")


def test_fail__a_service_without_a_release_key(fleet: Fleet) -> None:
    reply = fleet.client.post(
        "/v1/admin/releases",
        files={"package": ("x.deb", b"!<arch>\n"), "signature": ("x.deb.sig", b"\x00" * 64)},
        headers=fleet.as_role(Role.ADMIN),
    )
    assert (reply.status_code, reply.json()) == (
        409,
        {
            "code": "no_release_key",
            "detail": "this fleet service has no release public key: uploads are refused until `cabinet-cloud serve` "
            "is started with --release-key PATH (or CABINET_CLOUD_RELEASE_KEY)",
        },
    )


def test_fail__an_upload_that_is_not_multipart_or_has_no_length(sqlite_releases: Releases) -> None:
    client, headers = sqlite_releases.fleet.client, sqlite_releases.fleet.as_role(Role.ADMIN)
    plain = client.post("/v1/admin/releases", content=b"{}", headers={**headers, "Content-Type": "application/json"})
    assert (plain.status_code, plain.json()["code"]) == (415, "bad_content_type")

    def chunked() -> object:
        yield b"--x\r\n"

    streamed = client.post(
        "/v1/admin/releases", content=chunked(), headers={**headers, "Content-Type": "multipart/form-data; boundary=x"}
    )
    assert (streamed.status_code, streamed.json()["detail"]) == (411, "send the upload with a Content-Length")
