"""The files of the handoff in the daemon's updates directory (docs/packaging.md, "The update helper").

The directory is the unprivileged daemon's, and this code runs as root: every name is opened
relative to the directory's descriptor, without following a symbolic link, so that a request cannot
make root read, write or remove anything outside it. What the daemon wrote is read once, as bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

REQUEST: Final = "request.json"
WORKING: Final = "working.json"
OUTCOME: Final = "outcome.json"
# A release id and a package name become file names here and in the helper's own directory.
_RELEASE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$")
_SHA256: Final = re.compile(r"^[0-9a-f]{64}$")
# A package of a release is far below this; a larger file is not read into memory.
MAX_PACKAGE_BYTES: Final = 512 * 1024 * 1024


class HandoffError(Exception):
    """A file of the handoff that cannot be used; the message names the file."""


@dataclass(frozen=True)
class Request:
    release: str
    version: str
    from_version: str
    sha256: str
    allow_downgrade: bool
    package: str
    requested_at: str

    @property
    def signature(self) -> str:
        return self.package + ".sig"


def _string(doc: dict[str, Any], key: str, name: str, pattern: re.Pattern[str] | None = None) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise HandoffError(f"{name}: {key} must be a non-empty string, got {value!r}")
    if pattern is not None and not pattern.match(value):
        raise HandoffError(f"{name}: {key} {value!r} does not match {pattern.pattern}")
    return value


def parse_request(raw: bytes, name: str) -> Request:
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HandoffError(f"{name}: not JSON: {error}") from None
    if not isinstance(doc, dict):
        raise HandoffError(f"{name}: must be a JSON object")
    package = _string(doc, "package", name, _RELEASE)
    if not package.endswith(".deb"):
        raise HandoffError(f"{name}: package {package!r} is not a .deb file name")
    allow = doc.get("allow_downgrade", False)
    if not isinstance(allow, bool):
        raise HandoffError(f"{name}: allow_downgrade must be true or false, got {allow!r}")
    return Request(
        release=_string(doc, "release", name, _RELEASE),
        version=_string(doc, "version", name),
        from_version=str(doc.get("from_version") or ""),
        sha256=_string(doc, "sha256", name, _SHA256),
        allow_downgrade=allow,
        package=package,
        requested_at=str(doc.get("requested_at") or ""),
    )


def finished_at() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class UpdatesDirectory:
    """The daemon's updates directory, held open by descriptor for the helper's whole run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as error:
            raise HandoffError(f"cannot open the updates directory {path}: {error.strerror}") from None

    def close(self) -> None:
        os.close(self.fd)

    def exists(self, name: str) -> bool:
        try:
            os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def take_request(self) -> None:
        """request.json becomes working.json: a helper that dies mid-install is not started on the
        same request again, and finds working.json on its next start."""
        os.rename(REQUEST, WORKING, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def read(self, name: str, limit: int = 1024 * 1024) -> bytes:
        """A regular file's bytes (never through a link, never more than `limit`)."""
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=self.fd)
        except OSError as error:
            raise HandoffError(f"{self.path / name}: cannot open: {error.strerror}") from None
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise HandoffError(f"{self.path / name}: not a regular file")
            if info.st_size > limit:
                raise HandoffError(f"{self.path / name}: {info.st_size} bytes, more than {limit}")
            return file.read(limit + 1)

    def write_outcome(self, outcome: dict[str, Any]) -> None:
        """outcome.json, atomically, readable by the directory's owner (the daemon), who renames it."""
        temporary = OUTCOME + ".tmp"
        self.remove(temporary)
        owner = os.fstat(self.fd)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temporary, flags, 0o640, dir_fd=self.fd)
        with os.fdopen(fd, "wb") as file:
            os.fchown(file.fileno(), owner.st_uid, owner.st_gid)
            file.write(json.dumps(outcome, indent=2).encode() + b"\n")
            file.flush()
            os.fsync(file.fileno())
        os.rename(temporary, OUTCOME, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        os.fsync(self.fd)

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=self.fd)
