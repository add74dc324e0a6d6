"""The helper's own checks of a release, trusting nothing the unprivileged daemon says: the package's
sha256 and signature, its name and architecture, and the version rule.

The package is read once from the daemon's directory into the helper's own (root's, 0700), and what
dpkg installs is that copy: the daemon cannot change the bytes between the check and the install.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Final

from cabinetd.updater.commands import CommandError, Dpkg
from cabinetd.updater.handoff import MAX_PACKAGE_BYTES, HandoffError, Request, UpdatesDirectory
from cabinetproto.releasesig import BadSignature, ReleaseKeyError, load_public_key, verify

PACKAGE: Final = "cabinetd"


class Refused(Exception):
    """A release the helper will not install; `step` names the check, the message says why."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step


def _write_private(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def copy_signed_package(request: Request, updates: UpdatesDirectory, key: Path, into: Path) -> Path:
    """The request's package, its sha256 and signature checked, as a file of `into`."""
    try:
        package = updates.read(request.package, MAX_PACKAGE_BYTES)
        signature = updates.read(request.signature)
    except HandoffError as error:
        raise Refused("package", str(error)) from None
    digest = hashlib.sha256(package).hexdigest()
    if digest != request.sha256:
        raise Refused("sha256", f"{request.package} has sha256 {digest}, the request says {request.sha256}")
    try:
        verify(load_public_key(key), package, signature)
    except ReleaseKeyError as error:
        raise Refused("signature", str(error)) from None
    except BadSignature as error:
        raise Refused("signature", f"{request.signature}: {error} ({key})") from None
    copy = into / request.package
    try:
        _write_private(copy, package)
    except OSError as error:
        raise Refused("package", f"cannot copy {request.package} to {copy}: {error.strerror}") from None
    return copy


def check_contents(request: Request, deb: Path, installed: str, dpkg: Dpkg) -> None:
    """The package is cabinetd, for this machine, at the version the request names, and the
    version rule holds: newer than the installed one, older only when the request allows it."""
    try:
        name = dpkg.field(deb, "Package")
        version = dpkg.field(deb, "Version")
        architecture = dpkg.field(deb, "Architecture")
        machine = dpkg.architecture()
    except CommandError as error:
        raise Refused("package", str(error)) from None
    if name != PACKAGE:
        raise Refused("package", f"{request.package} is the package {name!r}, not {PACKAGE!r}")
    if architecture not in ("all", machine):
        raise Refused("package", f"{request.package} is built for {architecture}, this cabinet is {machine}")
    if version != request.version:
        raise Refused("version", f"{request.package} is version {version}, the request says {request.version}")
    try:
        newer = dpkg.newer(version, installed)
        older = dpkg.newer(installed, version)
    except CommandError as error:
        raise Refused("version", str(error)) from None
    if not newer and not older:
        raise Refused("version", f"{PACKAGE} {version} is installed already")
    if older and not request.allow_downgrade:
        raise Refused(
            "version", f"{version} is older than the installed {installed} and the request does not allow a downgrade"
        )
