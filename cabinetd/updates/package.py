"""The checks of a downloaded release, in the order that keeps unsigned bytes away from any parser:
its size, its sha256, the release key's signature over it, and only then its control fields (`Package`
must be `cabinetd`, `Version` the offered one and allowed by the version rule).

The control fields are read with `dpkg-deb --field` rather than by unpacking the ar and tar members
here: it is the reader `dpkg -i` itself uses, so what is checked is what will be installed, and it
knows every compression dpkg accepts (xz, zstd, gzip; Python's tarfile has no zstd before 3.14).
It runs only on bytes the release key has signed.
"""

from __future__ import annotations

import hashlib
import mmap
import subprocess
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cabinetd.release import PACKAGE
from cabinetd.updates.offer import Offer, Refused, judge_version
from cabinetproto.releasesig import BadSignature, verify

DPKG_DEB_S: Final = 60.0
HASH_CHUNK: Final = 1 << 20


def control_fields(path: Path, release: str) -> dict[str, str]:
    """Package, Version and Architecture of the .deb at `path`."""
    try:
        done = subprocess.run(
            ["dpkg-deb", "--field", str(path), "Package", "Version", "Architecture"],
            capture_output=True,
            text=True,
            timeout=DPKG_DEB_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Refused("package", f"release {release}: cannot run dpkg-deb on {path.name}: {exc}") from None
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()[-1:] or ["no reason given"]
        raise Refused("package", f"release {release}: {path.name} is not a Debian package: {said[0]}")
    fields = {}
    for line in done.stdout.splitlines():
        name, colon, value = line.partition(":")
        if colon:
            fields[name.strip()] = value.strip()
    return fields


def check_package(path: Path, offer: Offer, key: Ed25519PublicKey, installed: str) -> str:
    """Raise Refused unless the file is the offered, signed cabinetd release that may replace
    `installed`; returns its version."""
    size = path.stat().st_size
    if size < offer.size:
        raise Refused("truncated", f"release {offer.release}: {size} of {offer.size} bytes")
    if size > offer.size:
        raise Refused("sha256", f"release {offer.release}: {size} bytes, the offer says {offer.size}")
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        # Mapped, not read: a package of tens of megabytes stays in the page cache, not in the daemon.
        digest = hashlib.sha256()
        for start in range(0, size, HASH_CHUNK):
            digest.update(data[start : start + HASH_CHUNK])
        if digest.hexdigest() != offer.sha256:
            raise Refused(
                "sha256", f"release {offer.release}: sha256 {digest.hexdigest()}, the offer says {offer.sha256}"
            )
        try:
            verify(key, data, offer.signature_bytes())  # type: ignore[arg-type]
        except BadSignature as exc:
            raise Refused("signature", f"release {offer.release}: {exc}") from None
    fields = control_fields(path, offer.release)
    if fields.get("Package") != PACKAGE:
        raise Refused("package", f"release {offer.release}: the package is {fields.get('Package')!r}, not {PACKAGE!r}")
    version = fields.get("Version", "")
    if version != offer.version:
        raise Refused(
            "package",
            f"release {offer.release}: the package's version is {version!r}, the offer says {offer.version!r}",
        )
    judge_version(offer.release, version, installed, allow_downgrade=offer.allow_downgrade)
    return version
