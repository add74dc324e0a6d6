"""The daemon's half of the handoff to the update unit (docs/updates.md, "The handoff"): the files in
`[updates] directory` that the unprivileged daemon and the root `cabinetd-update.service` exchange.

The daemon writes `<release>.deb`, `<release>.deb.sig` and then, atomically, `request.json`; the unit
renames it to `working.json`, installs or refuses, and writes `outcome.json`, which the daemon takes in
and renames to `outcome-<release>.json` (the last update, for `cabinetctl version`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from cabinetd.updater.handoff import OUTCOME, REQUEST, WORKING  # the helper's names: one format, two sides
from cabinetd.updates.offer import RELEASE_ID

OUTCOMES: Final = ("installed", "rolled_back", "refused")

Outcome = Literal["installed", "rolled_back", "refused"]


class HandoffError(Exception):
    """A handoff file that cannot be written or read; the message names it."""


@dataclass(frozen=True)
class Request:
    release: str
    version: str
    from_version: str
    sha256: str
    allow_downgrade: bool
    requested_at: datetime

    @property
    def package(self) -> str:
        return f"{self.release}.deb"


@dataclass(frozen=True)
class Finished:
    """What the update unit wrote in outcome.json."""

    release: str
    version: str
    from_version: str
    outcome: Outcome
    reason: str
    finished_at: str


def write_atomically(path: Path, data: bytes) -> None:
    """Write `path.tmp`, sync it, rename it over `path`, sync the directory: all of it or nothing."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        with temporary.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
        directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        raise HandoffError(f"cannot write {path}: {exc.strerror}") from None


def write_request(directory: Path, request: Request) -> Path:
    body: dict[str, Any] = {
        "release": request.release,
        "version": request.version,
        "from_version": request.from_version,
        "sha256": request.sha256,
        "allow_downgrade": request.allow_downgrade,
        "package": request.package,
        "requested_at": request.requested_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    path = directory / REQUEST
    write_atomically(path, json.dumps(body, indent=2).encode() + b"\n")
    return path


def in_progress(directory: Path) -> bool:
    """The unit has a request to take or one under way."""
    return (directory / REQUEST).exists() or (directory / WORKING).exists()


def read_outcome(directory: Path) -> Finished | None:
    """outcome.json when the unit has written one; HandoffError when it is not an outcome."""
    path = directory / OUTCOME
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise HandoffError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise HandoffError(f"{path} is not JSON: {exc}") from None
    return _finished(path, data)


def _finished(path: Path, data: Any) -> Finished:
    if not isinstance(data, dict):
        raise HandoffError(f"{path} is not a JSON object")
    fields = {}
    for name in ("release", "version", "from_version", "outcome", "reason", "finished_at"):
        value = data.get(name, "" if name in ("reason", "from_version", "finished_at") else None)
        if not isinstance(value, str):
            raise HandoffError(f"{path}: {name!r} must be a string")
        fields[name] = value
    if not fields["release"] or not fields["version"]:
        raise HandoffError(f"{path}: 'release' and 'version' must not be empty")
    if not RELEASE_ID.match(fields["release"]):
        raise HandoffError(f"{path}: release {fields['release']!r} is not a release id")
    outcome = fields["outcome"]
    if outcome not in OUTCOMES:
        raise HandoffError(f"{path}: outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
    return Finished(
        fields["release"],
        fields["version"],
        fields["from_version"],
        outcome,  # type: ignore[arg-type]
        fields["reason"],
        fields["finished_at"],
    )


def keep_outcome(directory: Path, release: str) -> Path:
    """outcome.json renamed to outcome-<release>.json, once recorded in the ledger."""
    kept = directory / f"outcome-{release}.json"
    try:
        (directory / OUTCOME).replace(kept)
    except OSError as exc:
        raise HandoffError(f"cannot rename {directory / OUTCOME} to {kept.name}: {exc.strerror}") from None
    return kept
