"""Real .deb files for tests, built by dpkg-deb from a tiny tree: a control file and one document."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def dpkg_deb() -> str | None:
    return shutil.which("dpkg-deb")


def build_deb(
    where: Path,
    *,
    package: str = "cabinetd",
    version: str = "0.2.0-1",
    architecture: str = "amd64",
    compression: str = "xz",
    payload: bytes = b"the cabinet's daemon\n",
) -> Path:
    """`where/<package>_<version>_<architecture>.deb`, built for real."""
    tree = where / f"tree-{package}-{version}-{architecture}-{compression}"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "usr/share/doc" / package).mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: {architecture}\n"
        "Maintainer: Cabinet maintainers <cabinet@example.net>\n"
        "Description: smart device cabinet for retail stores: the daemon\n"
        " A package built for a test.\n"
    )
    (tree / "usr/share/doc" / package / "README").write_bytes(payload)
    out = where / f"{package}_{version}_{architecture}.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", str(tree), str(out)],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(tree)
    return out
