"""The cabinet's app package cache: a directory of `<sha256>.apk` files, one per app version a work
type names, each checked before it got its name (docs/app-packages.md, "At the cabinet").

A download is written to `<sha256>.part` and only renamed to `<sha256>.apk` once its size, its
sha256, its APK signature and what its manifest says (package, version code, signer) are what the
work type names; so a file with the `.apk` name is always a checked one, and the adb link installs
from it (cabinetd/hal/adbinstall.py). Everything here is blocking file work: the daemon runs it in a
worker thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cabinetd.ledger.replicas import WorkType
from cabinetproto.apk import ApkError, read_apk_file
from cabinetproto.package_events import RefusedBecause, RemovedBecause

log = logging.getLogger(__name__)

APK_NAME: Final = re.compile(r"^([0-9a-f]{64})\.apk$")
PART_NAME: Final = re.compile(r"^([0-9a-f]{64})\.part$")


class Refusal(Exception):
    """The bytes are not the app version the work type names; `detail` says how, naming the file."""

    def __init__(self, reason: RefusedBecause, detail: str) -> None:
        super().__init__(detail)
        self.reason: RefusedBecause = reason
        self.detail = detail


@dataclass(frozen=True)
class Need:
    """An app version the work types name by its sha256, and what its file must say."""

    sha256: str
    package: str
    version: str
    version_code: int | None
    size: int | None
    signer_sha256: str | None
    work_types: tuple[str, ...]

    @property
    def what(self) -> str:
        return f"{self.package} version {self.version} (sha256 {self.sha256[:12]}…)"


@dataclass(frozen=True)
class Held:
    """A file of the cache, with what its manifest says; None for a file that is what its name says
    but not an APK the cache can read (put there by hand, or the simulator's own): it stays, and a
    device that cannot install it says so when provisioned."""

    sha256: str
    size: int
    package: str | None = None
    version_code: int | None = None
    version_name: str | None = None
    signer_sha256: str | None = None


@dataclass(frozen=True)
class Removed:
    sha256: str
    package: str | None
    size: int
    reason: RemovedBecause


def needed(work_types: Iterable[WorkType]) -> dict[str, Need]:
    """Every app version with a sha256 that a work type names, with the work types that name it."""
    found: dict[str, Need] = {}
    for work_type in work_types:
        for app in work_type.apps:
            if app.sha256 is None:
                continue  # nothing to fetch it by: a device provisioned another way brings it
            held = found.get(app.sha256)
            if held is None:
                found[app.sha256] = Need(
                    app.sha256, app.package, app.version, app.version_code, app.size, app.signer_sha256, (work_type.id,)
                )
            elif work_type.id not in held.work_types:
                signer = held.signer_sha256 or app.signer_sha256
                found[app.sha256] = Need(
                    held.sha256,
                    held.package,
                    held.version,
                    held.version_code,
                    held.size or app.size,
                    signer,
                    (*held.work_types, work_type.id),
                )
    return found


class PackageCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, sha256: str) -> Path:
        return self.directory / f"{sha256}.apk"

    def part(self, sha256: str) -> Path:
        return self.directory / f"{sha256}.part"

    def open(self) -> None:
        self.directory.mkdir(mode=0o750, parents=True, exist_ok=True)

    def survey(self) -> tuple[dict[str, Held], list[Removed]]:
        """What the directory holds, each file read again: one that is not what its name says (damaged
        on the SD card, or put there by hand) is removed; stray `.part` files go too."""
        held: dict[str, Held] = {}
        removed: list[Removed] = []
        for entry in sorted(self.directory.iterdir()):
            if PART_NAME.match(entry.name):
                log.info("package cache: removing %s, left by a download that did not finish", entry)
                entry.unlink(missing_ok=True)
                continue
            name = APK_NAME.match(entry.name)
            if name is None:
                continue  # not the cache's: left alone
            sha256 = name.group(1)
            try:
                held[sha256] = self._read_held(entry, sha256)
            except Refusal as refusal:
                log.warning("package cache: removing %s: %s", entry, refusal.detail)
                removed.append(Removed(sha256, None, self._remove(entry), "corrupt"))
        return held, removed

    def _read_held(self, path: Path, sha256: str) -> Held:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise Refusal("not_apk", f"{path}: cannot read it: {exc.strerror}") from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != sha256:
            raise Refusal("sha256", f"{path}: its sha256 is {digest}")
        try:
            return self._facts(path, len(data), sha256)
        except Refusal as refusal:
            log.warning("package cache: %s; kept, since it is what its name says", refusal.detail)
            return Held(sha256, len(data))

    def _facts(self, path: Path, size: int, sha256: str) -> Held:
        # Read from the file itself: read_apk would copy tens of megabytes to a temporary file first.
        try:
            facts = read_apk_file(path)
        except ApkError as exc:
            raise Refusal("not_apk", str(exc)) from None
        return Held(sha256, size, facts.package, facts.version_code, facts.version_name, facts.signer_sha256)

    def admit(self, need: Need) -> Held:
        """Check the downloaded `.part` of `need` and give it its `.apk` name; a Refusal deletes it."""
        part = self.part(need.sha256)
        try:
            held = self._check(part, need)
            with part.open("rb") as file:
                os.fsync(file.fileno())
            part.replace(self.path(need.sha256))
            self._sync_directory()
        except (Refusal, OSError):
            part.unlink(missing_ok=True)
            raise
        return held

    def _check(self, part: Path, need: Need) -> Held:
        data = part.read_bytes()
        if need.size is not None and len(data) != need.size:
            raise Refusal("size", f"{part}: {len(data)} bytes; {need.what} has {need.size}")
        digest = hashlib.sha256(data).hexdigest()
        if digest != need.sha256:
            raise Refusal("sha256", f"{part}: its sha256 is {digest}, not that of {need.what}")
        held = self._facts(part, len(data), need.sha256)
        if held.package != need.package:
            raise Refusal("package", f"{part}: the APK is {held.package}, not {need.what}")
        if need.version_code is not None and held.version_code != need.version_code:
            found = f"{part}: the APK has version code {held.version_code}"
            raise Refusal("version_code", f"{found}, not {need.version_code} of {need.what}")
        if need.signer_sha256 is not None and held.signer_sha256 != need.signer_sha256:
            signer = (held.signer_sha256 or "")[:12]
            raise Refusal(
                "signer", f"{part}: the APK is signed by {signer}…, not by {need.signer_sha256[:12]}… as {need.what}"
            )
        return held

    def remove(self, sha256: str, package: str | None, reason: RemovedBecause) -> Removed:
        return Removed(sha256, package, self._remove(self.path(sha256)), reason)

    def _remove(self, path: Path) -> int:
        size = 0
        with contextlib.suppress(FileNotFoundError):
            size = path.stat().st_size
            path.unlink()
        return size

    def stray_parts(self, keep: str | None) -> list[Path]:
        """`.part` files of downloads not under way (`keep` is the one that is), removed."""
        gone = []
        for entry in self.directory.glob("*.part"):
            name = PART_NAME.match(entry.name)
            if name is not None and name.group(1) != keep:
                entry.unlink(missing_ok=True)
                gone.append(entry)
        return gone

    def _sync_directory(self) -> None:
        # The rename is only durable once the directory is synced: a power cut must not leave a
        # checked file without its name, nor a name without its file.
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
