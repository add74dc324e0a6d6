"""`cabinet-cloud release keygen | sign`, and `serve --release-key` refusing a key it cannot use."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cabinetcloud.__main__ import main
from cabinetproto import releasesig


def test_ok__keygen_then_sign_makes_a_signature_the_public_key_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys"
    assert main(["release", "keygen", "--out", str(keys)]) == 0
    assert stat.S_IMODE((keys / "release.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((keys / "release.pub").stat().st_mode) == 0o644
    package = tmp_path / "cabinetd_0.2.0-1_amd64.deb"
    package.write_bytes(b"!<arch>\n" + b"x" * 1000)
    assert main(["release", "sign", str(package), "--key", str(keys / "release.key")]) == 0
    signature = (tmp_path / "cabinetd_0.2.0-1_amd64.deb.sig").read_bytes()
    assert len(signature) == 64
    releasesig.verify(releasesig.load_public_key(keys / "release.pub"), package.read_bytes(), signature)
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"wrote {keys / 'release.key'} (keep it off the server) and {keys / 'release.pub'} "
        "(the cabinets' and the server's)",
        f"wrote {package}.sig",
    ]


def test_fail__keygen_never_overwrites_a_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["release", "keygen", "--out", str(tmp_path)]) == 0
    before = (tmp_path / "release.key").read_bytes()
    assert main(["release", "keygen", "--out", str(tmp_path)]) == 1
    assert (tmp_path / "release.key").read_bytes() == before
    assert capsys.readouterr().err == (
        f"cabinet-cloud: {tmp_path / 'release.key'} exists: a release key is never overwritten (move it away first)\n"
    )


def test_fail__sign_with_the_public_key_or_without_a_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["release", "keygen", "--out", str(tmp_path)]) == 0
    package = tmp_path / "p.deb"
    package.write_bytes(b"data")
    capsys.readouterr()
    assert main(["release", "sign", str(package), "--key", str(tmp_path / "release.pub")]) == 1
    assert capsys.readouterr().err.startswith(
        f"cabinet-cloud: {tmp_path / 'release.pub'} is not an unencrypted PEM private key"
    )
    assert main(["release", "sign", str(tmp_path / "none.deb"), "--key", str(tmp_path / "release.key")]) == 1
    assert (
        capsys.readouterr().err
        == f"cabinet-cloud: cannot read the package {tmp_path / 'none.deb'}: No such file or directory\n"
    )
    assert not (tmp_path / "p.deb.sig").exists()


def test_fail__serve_with_a_release_key_it_cannot_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    private, _ = releasesig.generate_key()
    (tmp_path / "release.key").write_bytes(private)
    db = f"sqlite:///{tmp_path / 'cloud.db'}"
    assert main(["serve", "--db", db, "--release-key", str(tmp_path / "release.key")]) == 2
    assert capsys.readouterr().err.startswith(
        f"cabinet-cloud: --release-key: {tmp_path / 'release.key'} is not a PEM public key"
    )
    assert main(["serve", "--db", db, "--release-key", str(tmp_path / "missing.pub")]) == 2
    assert capsys.readouterr().err == (
        f"cabinet-cloud: --release-key: cannot read the release public key {tmp_path / 'missing.pub'}: "
        "No such file or directory\n"
    )


def test_ok__each_served_process_loads_the_key_serve_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cabinetcloud.app import app_from_environment

    _, public = releasesig.generate_key()
    (tmp_path / "release.pub").write_bytes(public)
    monkeypatch.setenv("CABINET_CLOUD_DB", f"sqlite:///{tmp_path / 'cloud.db'}")
    monkeypatch.setenv("CABINET_CLOUD_RELEASE_KEY", str(tmp_path / "release.pub"))
    app = app_from_environment()
    assert releasesig.public_pem(app.state.release_key) == public
    app.state.storage.dispose()
    monkeypatch.delenv("CABINET_CLOUD_RELEASE_KEY")
    bare = app_from_environment()
    assert bare.state.release_key is None
    bare.state.storage.dispose()
