"""offer_update on the cabinet: a release downloaded from the loopback release server, checked, and
refused for each thing that can be wrong with it."""

from __future__ import annotations

import hashlib
import json

import pytest

from cabinetproto.releasesig import encode_signature, generate_key, load_private_key, parse_public_key, sign, verify
from cabinetproto.wire import CommandOutcome
from tests.updates.rig import INSTALLED, UpdateRig


async def _offer(rig: UpdateRig, release: str, version: str, **changes: object) -> CommandOutcome:
    package = rig.server.packages[release]
    return await rig.updates.offer(rig.command(release, package, version, **changes))


async def _refused(rig: UpdateRig) -> dict[str, object]:
    await rig.until(lambda: rig.updates.downloading is None)
    return rig.last("update_refused")


def _files(rig: UpdateRig) -> list[str]:
    directory = rig.config.updates.directory
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


async def test_ok__a_good_release_goes_to_the_handoff_request(updater: UpdateRig) -> None:
    package = updater.publish("rel-7", "0.2.0")
    outcome = await _offer(updater, "rel-7", "0.2.0")
    assert outcome == CommandOutcome(True, "release rel-7 (0.2.0): downloading; it installs at the next quiet moment")
    await updater.until(lambda: updater.updates.ready is not None)
    assert updater.types() == ["update_offered", "update_downloaded"]
    assert updater.last("update_downloaded") == {
        "release": "rel-7",
        "version": "0.2.0",
        "sha256": hashlib.sha256(package).hexdigest(),
        "size": len(package),
    }
    updater.updates.step()
    assert updater.types() == ["update_offered", "update_downloaded", "update_installing"]
    assert updater.last("update_installing") == {"release": "rel-7", "version": "0.2.0", "from_version": INSTALLED}
    directory = updater.config.updates.directory
    assert _files(updater) == ["rel-7.deb", "rel-7.deb.sig", "request.json"]
    assert (directory / "rel-7.deb").read_bytes() == package
    public = parse_public_key((updater.tmp / "release-key.pub").read_bytes(), "release-key.pub")
    verify(public, package, (directory / "rel-7.deb.sig").read_bytes())  # the raw 64 bytes
    assert json.loads((directory / "request.json").read_text()) == {
        "release": "rel-7",
        "version": "0.2.0",
        "from_version": INSTALLED,
        "sha256": hashlib.sha256(package).hexdigest(),
        "allow_downgrade": False,
        "package": "rel-7.deb",
        "requested_at": "2026-11-02T03:00:00Z",
    }
    assert updater.server.ranges == [None]


async def test_fail__a_tampered_package_is_not_the_offered_sha256(updater: UpdateRig) -> None:
    package = updater.publish("rel-7", "0.2.0")
    command = updater.command("rel-7", package, "0.2.0")
    updater.server.packages["rel-7"] = package[:-1] + bytes([package[-1] ^ 0xFF])
    assert (await updater.updates.offer(command)).ok
    refused = await _refused(updater)
    tampered = hashlib.sha256(updater.server.packages["rel-7"]).hexdigest()
    assert refused == {
        "release": "rel-7",
        "version": "0.2.0",
        "reason": "sha256",
        "detail": f"release rel-7: sha256 {tampered}, the offer says {hashlib.sha256(package).hexdigest()}",
    }
    assert _files(updater) == []  # a refused file is deleted


async def test_fail__a_tampered_package_offered_with_its_own_sha256_fails_the_signature(updater: UpdateRig) -> None:
    """The cloud's word for the sha256 is not enough: only the release key's signature is."""
    package = updater.publish("rel-7", "0.2.0")
    signature = encode_signature(sign(updater.key, package))
    tampered = package[:-1] + bytes([package[-1] ^ 0xFF])
    updater.server.packages["rel-7"] = tampered
    assert (await updater.updates.offer(updater.command("rel-7", tampered, "0.2.0", signature=signature))).ok
    refused = await _refused(updater)
    assert (refused["reason"], refused["detail"]) == (
        "signature",
        "release rel-7: the signature does not verify with the release key",
    )
    assert _files(updater) == []


async def test_fail__signed_with_another_key(updater: UpdateRig) -> None:
    package = updater.publish("rel-7", "0.2.0")
    other, _ = generate_key()
    (updater.tmp / "other.key").write_bytes(other)
    wrong = encode_signature(sign(load_private_key(updater.tmp / "other.key"), package))
    assert (await updater.updates.offer(updater.command("rel-7", package, "0.2.0", signature=wrong))).ok
    refused = await _refused(updater)
    assert (refused["reason"], refused["detail"]) == (
        "signature",
        "release rel-7: the signature does not verify with the release key",
    )


async def test_fail__a_signature_that_is_not_base64_is_refused_before_any_download(updater: UpdateRig) -> None:
    updater.publish("rel-7", "0.2.0")
    outcome = await _offer(updater, "rel-7", "0.2.0", signature="not base64!")
    assert outcome == CommandOutcome(False, "refused (signature): release rel-7: the signature is not base64")
    assert updater.types() == ["update_offered", "update_refused"]
    assert updater.server.ranges == []


async def test_fail__a_downgrade_without_leave_is_refused_before_any_download(updater: UpdateRig) -> None:
    updater.publish("rel-6", "0.0.9")
    outcome = await _offer(updater, "rel-6", "0.0.9")
    detail = "release rel-6: version 0.0.9 is older than the installed 0.1.0; offer it with allow_downgrade to go back"
    assert outcome == CommandOutcome(False, f"refused (downgrade): {detail}")
    assert updater.last("update_refused") == {
        "release": "rel-6",
        "version": "0.0.9",
        "reason": "downgrade",
        "detail": detail,
    }
    assert updater.server.ranges == []


async def test_ok__a_downgrade_with_the_operators_leave(updater: UpdateRig) -> None:
    updater.publish("rel-6", "0.0.9")
    assert (await _offer(updater, "rel-6", "0.0.9", allow_downgrade=True)).ok
    await updater.until(lambda: updater.updates.ready is not None)
    updater.updates.step()
    request = json.loads((updater.config.updates.directory / "request.json").read_text())
    assert (request["version"], request["allow_downgrade"]) == ("0.0.9", True)
    assert updater.last("update_offered") == {"release": "rel-6", "version": "0.0.9", "allow_downgrade": True}


async def test_fail__the_installed_version_again(updater: UpdateRig) -> None:
    updater.publish("rel-5", INSTALLED)
    outcome = await _offer(updater, "rel-5", INSTALLED)
    assert outcome == CommandOutcome(False, "refused (same_version): release rel-5: version 0.1.0 is the one installed")


async def test_fail__the_package_says_another_version_than_the_offer(updater: UpdateRig) -> None:
    """An older package offered as a newer version: its own control file decides."""
    updater.publish("rel-8", "0.0.5")
    assert (await _offer(updater, "rel-8", "0.3.0")).ok
    refused = await _refused(updater)
    assert (refused["reason"], refused["detail"]) == (
        "package",
        "release rel-8: the package's version is '0.0.5', the offer says '0.3.0'",
    )


async def test_fail__not_a_cabinetd_package(updater: UpdateRig) -> None:
    updater.publish("rel-9", "0.2.0", package="cabinetd-kiosk")
    assert (await _offer(updater, "rel-9", "0.2.0")).ok
    refused = await _refused(updater)
    assert (refused["reason"], refused["detail"]) == (
        "package",
        "release rel-9: the package is 'cabinetd-kiosk', not 'cabinetd'",
    )


async def test_fail__signed_bytes_that_are_no_debian_package(updater: UpdateRig) -> None:
    junk = b"!<arch>\nnot really a package" * 100
    updater.server.packages["rel-10"] = junk
    assert (await updater.updates.offer(updater.command("rel-10", junk, "0.2.0"))).ok
    refused = await _refused(updater)
    assert refused["reason"] == "package"
    assert str(refused["detail"]).startswith("release rel-10: rel-10.deb is not a Debian package: dpkg-deb")


async def test_fail__a_truncated_download(updater: UpdateRig) -> None:
    package = updater.publish("rel-7", "0.2.0")
    updater.server.short_by = 1000
    assert (await _offer(updater, "rel-7", "0.2.0")).ok
    refused = await _refused(updater)
    assert refused == {
        "release": "rel-7",
        "version": "0.2.0",
        "reason": "truncated",
        "detail": f"release rel-7: the cloud's package ends at {len(package) - 1000} of {len(package)} bytes",
    }
    assert _files(updater) == []


async def test_ok__a_cut_download_resumes_where_it_stopped(updater: UpdateRig) -> None:
    package = updater.publish("rel-7", "0.2.0")
    updater.server.cut_after, updater.server.cuts = 65536, 2
    assert (await _offer(updater, "rel-7", "0.2.0")).ok
    await updater.until(lambda: updater.updates.ready is not None, move_clock=True)
    assert updater.server.ranges == [None, "bytes=65536-", "bytes=131072-"]
    assert (updater.config.updates.directory / "rel-7.deb").read_bytes() == package


async def test_fail__a_download_that_never_gets_further(updater: UpdateRig) -> None:
    package = updater.publish("rel-7", "0.2.0")
    updater.server.cut_after, updater.server.cuts = 0, 100
    assert (await _offer(updater, "rel-7", "0.2.0")).ok
    await updater.until(lambda: updater.updates.downloading is None, move_clock=True)
    refused = updater.last("update_refused")
    assert refused["reason"] == "download"
    assert str(refused["detail"]).startswith(f"release rel-7: 0 of {len(package)} bytes after 6 tries in a row: GET ")


async def test_ok__the_download_waits_while_a_person_is_at_the_cabinet(updater: UpdateRig) -> None:
    updater.publish("rel-7", "0.2.0")
    updater.cabinet.session = True
    assert (await _offer(updater, "rel-7", "0.2.0")).ok
    await updater.clock.advance(60)
    assert updater.server.ranges == []
    updater.cabinet.session = False
    await updater.until(lambda: updater.updates.ready is not None, move_clock=True)
    assert updater.server.ranges == [None]


async def test_fail__a_release_the_cloud_does_not_hold(updater: UpdateRig) -> None:
    package = updater.publish("rel-7", "0.2.0")
    assert (await updater.updates.offer(updater.command("rel-77", package, "0.2.0"))).ok
    refused = await _refused(updater)
    assert (refused["reason"], refused["detail"]) == (
        "download",
        "release rel-77: GET /v1/releases/rel-77/package: 404 Not Found",
    )


async def test_fail__a_second_offer_while_one_is_under_way(updater: UpdateRig) -> None:
    updater.publish("rel-7", "0.2.0")
    updater.publish("rel-8", "0.3.0")
    assert (await _offer(updater, "rel-7", "0.2.0")).ok
    await updater.until(lambda: updater.updates.ready is not None)
    outcome = await _offer(updater, "rel-8", "0.3.0")
    assert outcome == CommandOutcome(
        False, "release rel-8 not taken: release rel-7 waits for a quiet moment to install"
    )
    assert updater.types() == ["update_offered", "update_downloaded"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"release": "../etc"}, "release id '../etc' is not a release id"),
        ({"size": 0}, "argument 'size' must be a positive number of bytes"),
        ({"version": ""}, "argument 'version' must be a non-empty string"),
        ({"sha256": "abc"}, "sha256 'abc' is not 64 hex digits"),
        ({"version": "1" * 65}, "version is longer than 64 characters"),
    ],
)
async def test_fail__an_offer_with_bad_arguments(updater: UpdateRig, change: dict[str, object], message: str) -> None:
    package = updater.publish("rel-7", "0.2.0")
    command = updater.command("rel-7", package, "0.2.0", **change)
    assert await updater.updates.offer(command) == CommandOutcome(
        False, f"offer_update {command.command_id}: {message}"
    )
    assert updater.types() == []


async def test_ok__tries_while_the_cloud_is_out_of_reach_do_not_count(updater: UpdateRig) -> None:
    package = updater.publish("rel-7", "0.2.0")
    # Six cuts in a row would end it; the first, while the link is down, does not count.
    updater.server.cut_after, updater.server.cuts = 0, 6
    updater.online = False
    assert (await _offer(updater, "rel-7", "0.2.0")).ok
    await updater.until(lambda: updater.server.ranges, move_clock=True)
    await updater.clock.advance(600)
    assert updater.types() == ["update_offered"]  # waiting for the link, not refused
    updater.online = True
    await updater.until(lambda: updater.updates.ready is not None, move_clock=True)
    assert (updater.config.updates.directory / "rel-7.deb").read_bytes() == package
