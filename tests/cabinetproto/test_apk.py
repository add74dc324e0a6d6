"""Reading an app package: the manifest's facts and the verified signer of real v2-signed APKs, and a
clear refusal for each way a file can be wrong. The built APKs are also checked by the libraries' own
entry points, so the test APKs are not only judged by our reader."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from apkInspector.axml import parse_apk_for_manifest

from cabinetproto.apk import ApkError, read_apk, read_apk_file
from testbed.apkbuild import build_apk, signer, tamper


def test_ok__the_manifest_and_the_signer_are_read_from_the_apk_itself() -> None:
    apk = build_apk("com.store.picker", 42, "4.2.0", padding_bytes=1_500_000)
    facts = read_apk(apk, "picker.apk")
    assert (facts.package, facts.version_code, facts.version_name) == ("com.store.picker", 42, "4.2.0")
    assert facts.sha256 == hashlib.sha256(apk).hexdigest()
    assert facts.size == len(apk) > 1_500_000
    assert facts.signer_sha256 == signer("store-apps").sha256


def test_ok__two_signers_are_told_apart(tmp_path: Path) -> None:
    (tmp_path / "a.apk").write_bytes(build_apk("com.store.scan", 3, signed_by="store-apps"))
    (tmp_path / "b.apk").write_bytes(build_apk("com.store.scan", 3, signed_by="someone-else"))
    first, second = read_apk_file(tmp_path / "a.apk"), read_apk_file(tmp_path / "b.apk")
    assert first.signer_sha256 != second.signer_sha256
    assert second.signer_sha256 == signer("someone-else").sha256


def test_ok__the_built_apk_passes_the_libraries_own_checks(tmp_path: Path) -> None:
    apk = build_apk("com.store.picker", 7, "0.7")
    path = tmp_path / "picker.apk"
    path.write_bytes(apk)
    verified = subprocess.run(
        [Path(sys.executable).parent / "apksigtool", "verify", path], capture_output=True, text=True
    )
    assert verified.returncode == 0
    assert verified.stdout == "v2 verified\n"
    decoded = parse_apk_for_manifest(io.BytesIO(apk), raw=True)
    assert 'package="com.store.picker"' in decoded
    assert 'android:versionCode="7"' in decoded
    assert zipfile.ZipFile(io.BytesIO(apk)).testzip() is None


def test_fail__a_byte_changed_after_signing() -> None:
    with pytest.raises(
        ApkError, match=r"^t\.apk: its v2 signature does not verify \(its contents were changed after signing\)$"
    ):
        read_apk(tamper(build_apk("com.store.picker", 1)), "t.apk")


def unsigned(package: str = "com.store.picker") -> bytes:
    """A zip of the same entries with no signing block (what a v1-only or unsigned build looks like)."""
    signed = zipfile.ZipFile(io.BytesIO(build_apk(package, 1, padding_bytes=4096)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for info in signed.infolist():
            archive.writestr(info.filename, signed.read(info))
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"MZ\x90\x00 not a zip", r"^x\.apk: not an APK \(not a zip archive\)$"),
        (unsigned(), r"^x\.apk: has no APK Signature Scheme v2 or v3 block \(a v1-only signature is not accepted\)$"),
        (b"PK\x03\x04" + bytes(60), r"^x\.apk: its AndroidManifest\.xml cannot be read \("),
    ],
    ids=["not-a-zip", "unsigned", "garbled-zip"],
)
def test_fail__not_a_signed_apk(data: bytes, message: str) -> None:
    with pytest.raises(ApkError, match=message):
        read_apk(data, "x.apk")


def test_fail__an_archive_without_a_manifest() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("classes.dex", b"dex\n035\x00")
    with pytest.raises(
        ApkError, match=r"^x\.apk: has no AndroidManifest\.xml$|^x\.apk: its AndroidManifest\.xml cannot be read"
    ):
        read_apk(out.getvalue(), "x.apk")


def test_fail__a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ApkError, match=r"^.*gone\.apk: cannot be read: No such file or directory$"):
        read_apk_file(tmp_path / "gone.apk")
