"""Which release of the cabinet is installed, and what the fleet has offered (docs/packaging.md).

The installed version is the Debian package's when this code runs from the package's virtual
environment (dpkg knows it, revision and all), else the project's own (a checkout, `make demo`).
The release the fleet offered last and the last update's outcome come from the daemon's ledger
(cabinetd/updates): `cabinetctl version` asks the daemon for them, and reads the installed version here
even when the daemon does not answer.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cabinetd import __version__

PACKAGE: Final = "cabinetd"
# Where debian/rules installs the virtual environment (cabinetd.service starts its bin/cabinetd).
PACKAGE_VENV: Final = Path("/usr/lib/cabinetd/venv")
DPKG_QUERY_S: Final = 5.0


STAGE_WORDS: Final = {
    "downloading": "downloading",
    "downloaded": "downloaded and checked; waits for a quiet moment to install",
    "installing": "being installed",
    "installed": "installed",
    "rolled_back": "rolled back",
    "refused": "refused",
}
OUTCOME_WORDS: Final = {"installed": "installed", "rolled_back": "rolled back", "refused": "refused"}


def minute(at: str) -> str:
    """An ISO 8601 UTC time as a person reads it: 2026-11-02 22:00 UTC."""
    return f"{at[:10]} {at[11:16]} UTC" if len(at) >= 16 else at


@dataclass(frozen=True)
class Offered:
    """The release the fleet offered last and where it stands."""

    release: str
    version: str
    stage: str  # a key of STAGE_WORDS
    at: str  # when it was offered (ISO 8601, UTC)
    waiting_for: str | None = None  # why a downloaded release is not installed yet

    def describe(self) -> str:
        words = STAGE_WORDS.get(self.stage, self.stage)
        if self.stage == "downloaded" and self.waiting_for:
            words += f" ({self.waiting_for})"
        return f"{self.version} (release {self.release}, offered {minute(self.at)}): {words}"


@dataclass(frozen=True)
class LastUpdate:
    """How the last update ended: installed, rolled back or refused, and the words for why."""

    release: str
    version: str
    outcome: str  # a key of OUTCOME_WORDS
    detail: str
    at: str

    def describe(self) -> str:
        said = f": {self.detail}" if self.detail else ""
        words = OUTCOME_WORDS.get(self.outcome, self.outcome)
        return f"{words} {self.version} (release {self.release}) at {minute(self.at)}{said}"


@dataclass(frozen=True)
class Release:
    installed: str
    # "package" (dpkg's version of cabinetd) or "project" (setup.cfg's, from a checkout).
    source: str
    offered: Offered | None = None
    last_update: LastUpdate | None = None


def package_version(package: str = PACKAGE) -> str | None:
    """dpkg's version of an installed package; None when dpkg has none (or no dpkg at all)."""
    try:
        found = subprocess.run(
            ["dpkg-query", "--show", "--showformat=${Version}", package],
            capture_output=True,
            text=True,
            timeout=DPKG_QUERY_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = found.stdout.strip()
    return version if found.returncode == 0 and version else None


def current(prefix: Path | None = None) -> Release:
    """The release this code belongs to: the package's when run from its venv, else the project's."""
    here = Path(sys.prefix) if prefix is None else prefix
    if here == PACKAGE_VENV:
        version = package_version()
        if version is not None:
            return Release(installed=version, source="package")
    return Release(installed=__version__, source="project")
