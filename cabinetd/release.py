"""Which release of the cabinet is installed, and what the fleet has offered (docs/packaging.md).

The installed version is the Debian package's when this code runs from the package's virtual
environment (dpkg knows it, revision and all), else the project's own (a checkout, `make demo`).
Signed updates from the fleet will fill in the release offered and the last update's outcome from
the ledger; until then both are None, shown as "none".
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


@dataclass(frozen=True)
class Release:
    installed: str
    # "package" (dpkg's version of cabinetd) or "project" (setup.cfg's, from a checkout).
    source: str
    offered: str | None = None
    last_update: str | None = None


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
