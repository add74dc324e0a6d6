"""A .deb's control fields read with the standard library from packages dpkg-deb built, and every
way a file can fail to be one, each with its message."""

from __future__ import annotations

from pathlib import Path

import pytest

from cabinetproto import debpackage
from testbed.debs import build_deb, dpkg_deb
from tests.conftest import require_system


@pytest.fixture(autouse=True)
def _dpkg_deb() -> None:
    require_system("dpkg-deb (the dpkg package)", dpkg_deb() is not None)


@pytest.mark.parametrize("compression", ["xz", "gzip", "none"])
def test_ok__the_control_fields_of_a_built_package(tmp_path: Path, compression: str) -> None:
    deb = build_deb(tmp_path, version="1:0.3.0~rc1-2", architecture="arm64", compression=compression)
    control = debpackage.read_control(deb.read_bytes(), deb.name)
    assert (control.package, control.version, control.architecture) == ("cabinetd", "1:0.3.0~rc1-2", "arm64")
    assert (
        control.fields["description"]
        == "smart device cabinet for retail stores: the daemon\nA package built for a test."
    )


def test_fail__zstd_control_member(tmp_path: Path) -> None:
    deb = build_deb(tmp_path, compression="zstd")
    with pytest.raises(debpackage.PackageError) as raised:
        debpackage.read_control(deb.read_bytes(), "z.deb")
    assert (
        str(raised.value) == "z.deb: control.tar.zst (zstd) is not read here: build the package with xz (dpkg-deb -Zxz)"
    )


def _ar(*members: tuple[str, bytes]) -> bytes:
    out = bytearray(debpackage.AR_MAGIC)
    for name, body in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}".encode() + b"`\n" + body
        if len(body) % 2:
            out += b"\n"
    return bytes(out)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04 a zip file", "x.deb is not a Debian package: it is not an ar archive"),
        (debpackage.AR_MAGIC + b"short", "x.deb: the ar member header at byte 8 is cut short or damaged"),
        (_ar(("debian-binary", b"2.0\n"))[:-2], "x.deb: the ar member 'debian-binary' runs past the end of the file"),
        (_ar(("README", b"hello\n")), "x.deb is not a Debian package: its first member is not debian-binary 2.x"),
        (
            _ar(("debian-binary", b"2.0\n"), ("data.tar.xz", b"")),
            "x.deb is not a Debian package: it has no control member",
        ),
        (
            _ar(("debian-binary", b"2.0\n"), ("control.tar.bz2", b"BZh")),
            "x.deb: 'control.tar.bz2' is not a control member this reader knows",
        ),
        (
            _ar(("debian-binary", b"2.0\n"), ("control.tar.gz", b"not gzip")),
            "x.deb: control.tar.gz cannot be read: not a gzip file",
        ),
    ],
)
def test_fail__not_a_debian_package(data: bytes, message: str) -> None:
    with pytest.raises(debpackage.PackageError) as raised:
        debpackage.read_control(data, "x.deb")
    assert str(raised.value) == message


def test_fail__a_control_file_without_a_version(tmp_path: Path) -> None:
    import io
    import tarfile

    control = b"Package: cabinetd\nArchitecture: all\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        entry = tarfile.TarInfo("./control")
        entry.size = len(control)
        archive.addfile(entry, io.BytesIO(control))
    data = _ar(("debian-binary", b"2.0\n"), ("control.tar.gz", buffer.getvalue()))
    with pytest.raises(debpackage.PackageError) as raised:
        debpackage.read_control(data, "x.deb")
    assert str(raised.value) == "x.deb: its control file has no version"
