"""The helper's own directory (root's, 0700; StateDirectory=cabinetd-update): the package being
installed (`incoming/`), the package of the version it replaces (`kept/`), and `attempt.json`, what a
helper that died mid-install had done, so that the next one finishes or rolls back.

It is not in the daemon's updates directory on purpose: the daemon could swap a package there for
one that root would then install on a rollback.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

ATTEMPT: Final = "attempt.json"
INSTALLING: Final = "installing"
ROLLING_BACK: Final = "rolling_back"


@dataclass(frozen=True)
class Attempt:
    release: str
    version: str
    from_version: str
    # The kept package's file name in kept/.
    kept: str
    phase: str
    # How many helpers started on this request: one that keeps dying is not retried for ever.
    starts: int
    reason: str = ""


class StateDirectory:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.kept = path / "kept"
        self.incoming = path / "incoming"

    def prepare(self) -> None:
        for directory in (self.path, self.kept, self.incoming):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory.chmod(0o700)

    def load(self, release: str) -> Attempt | None:
        """The attempt at this release a helper before this one left, if any."""
        try:
            doc = json.loads((self.path / ATTEMPT).read_text(encoding="utf-8"))
            attempt = Attempt(**doc)
        except (OSError, ValueError, TypeError):
            return None
        return attempt if attempt.release == release else None

    def save(self, attempt: Attempt) -> None:
        temporary = self.path / (ATTEMPT + ".tmp")
        with temporary.open("w", encoding="utf-8") as file:
            json.dump(asdict(attempt), file)
            file.flush()
            os.fsync(file.fileno())
        temporary.rename(self.path / ATTEMPT)

    def clear(self) -> None:
        """Nothing kept once an outcome is written: the next update keeps the version running then."""
        (self.path / ATTEMPT).unlink(missing_ok=True)
        for directory in (self.kept, self.incoming):
            shutil.rmtree(directory, ignore_errors=True)
