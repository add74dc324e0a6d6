"""What a Debian package says about itself: its control file, read from the .deb's bytes.

A .deb is an ar archive: `debian-binary` ("2.0"), then `control.tar[.gz|.xz]`, then the data. Read
here with the standard library alone (ar by hand, tarfile for the control member), so the fleet can
check an upload without running a program over bytes it does not trust yet, on any host, dpkg or
not. A control member compressed with zstd (Ubuntu's dpkg default) is refused by name: the standard
library of this Python has no zstd, and Debian's dpkg-deb, which builds the cabinet's packages, writes xz.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from typing import Final

AR_MAGIC: Final = b"!<arch>\n"
AR_HEADER: Final = 60
# A control file is a few kilobytes; a control member far larger than this is not one we read.
MAX_CONTROL_BYTES: Final = 1024 * 1024
_CONTROL_MODES: Final = {"control.tar": "r:", "control.tar.gz": "r:gz", "control.tar.xz": "r:xz"}


class PackageError(ValueError):
    """Bytes that are not a Debian package we can read; the message names the file."""


@dataclass(frozen=True)
class Control:
    package: str
    version: str
    architecture: str
    fields: dict[str, str]


def _members(data: bytes, name: str) -> list[tuple[str, bytes]]:
    """The ar archive's first members (name, bytes), up to and including the control member."""
    if not data.startswith(AR_MAGIC):
        raise PackageError(f"{name} is not a Debian package: it is not an ar archive")
    found: list[tuple[str, bytes]] = []
    at = len(AR_MAGIC)
    while at < len(data) and len(found) < 3:
        header = data[at : at + AR_HEADER]
        if len(header) < AR_HEADER or header[58:60] != b"`\n":
            raise PackageError(f"{name}: the ar member header at byte {at} is cut short or damaged")
        member = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise PackageError(f"{name}: the ar member {member!r} at byte {at} has no size") from None
        start = at + AR_HEADER
        if start + size > len(data):
            raise PackageError(f"{name}: the ar member {member!r} runs past the end of the file")
        found.append((member, data[start : start + size]))
        if member.startswith("control.tar"):
            break
        at = start + size + (size & 1)  # members are padded to an even length
    return found


def _control_text(member: str, body: bytes, name: str) -> str:
    mode = _CONTROL_MODES.get(member)
    if mode is None:
        if member == "control.tar.zst":
            raise PackageError(
                f"{name}: control.tar.zst (zstd) is not read here: build the package with xz (dpkg-deb -Zxz)"
            )
        raise PackageError(f"{name}: {member!r} is not a control member this reader knows")
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode=mode) as archive:  # type: ignore[call-overload]
            for entry in archive:
                if entry.isfile() and entry.name in ("control", "./control"):
                    if entry.size > MAX_CONTROL_BYTES:
                        raise PackageError(f"{name}: its control file is {entry.size} bytes")
                    extracted = archive.extractfile(entry)
                    assert extracted is not None  # a regular file always has contents
                    return str(extracted.read().decode("utf-8"))
    except (tarfile.TarError, EOFError, OSError, UnicodeDecodeError) as error:
        raise PackageError(f"{name}: {member} cannot be read: {error}") from None
    raise PackageError(f"{name}: {member} holds no control file")


def _fields(text: str, name: str) -> dict[str, str]:
    """deb-control(5): `Field: value` lines, continued by lines that start with a space or a tab."""
    fields: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            continue
        if line[0] in " \t":
            if not last:
                raise PackageError(f"{name}: its control file starts with a continuation line")
            fields[last] += "\n" + line.strip()
            continue
        key, colon, value = line.partition(":")
        if not colon or not key.strip():
            raise PackageError(f"{name}: control line {line[:40]!r} is not Field: value")
        last = key.strip().lower()
        fields[last] = value.strip()
    return fields


def read_control(data: bytes, name: str) -> Control:
    """The package's control fields, or PackageError naming `name` and what is wrong."""
    members = _members(data, name)
    if not members or members[0][0] != "debian-binary" or not members[0][1].startswith(b"2."):
        raise PackageError(f"{name} is not a Debian package: its first member is not debian-binary 2.x")
    member, body = members[-1]
    if not member.startswith("control.tar"):
        raise PackageError(f"{name} is not a Debian package: it has no control member")
    fields = _fields(_control_text(member, body, name), name)
    missing = [field for field in ("package", "version", "architecture") if not fields.get(field)]
    if missing:
        raise PackageError(f"{name}: its control file has no {', '.join(missing)}")
    return Control(fields["package"], fields["version"], fields["architecture"], fields)
