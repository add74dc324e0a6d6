"""The daemon's recent log records, kept in memory for `cabinetctl diag bundle`.

The journal has everything, but a support engineer asking for a bundle should not need a second
command with other rights; and nothing may be written to the SD card. So the last few thousand records
stay in a ring in RAM, formatted when logged (a record's arguments may change afterwards).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

CAPACITY: Final = 5000
MAX_TEXT: Final = 4000  # characters of one message or traceback; a runaway repr must not fill the ring


@dataclass(frozen=True)
class Kept:
    ts: str
    level: str
    logger: str
    msg: str
    exc: str | None


class RecentLogs(logging.Handler):
    def __init__(self, capacity: int = CAPACITY) -> None:
        super().__init__()
        self.capacity = capacity
        self._records: deque[Kept] = deque(maxlen=capacity)
        self._guard = threading.Lock()  # drivers log from their threads
        self._format = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            exc = self._format.formatException(record.exc_info)[:MAX_TEXT] if record.exc_info else None
            kept = Kept(
                datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                record.levelname.lower(),
                record.name,
                record.getMessage()[:MAX_TEXT],
                exc,
            )
        except Exception:
            self.handleError(record)
            return
        with self._guard:
            self._records.append(kept)

    def records(self, last: int | None = None) -> list[Kept]:
        with self._guard:
            kept = list(self._records)
        return kept if last is None else kept[-last:] if last > 0 else []


_recent = RecentLogs()


def recent() -> RecentLogs:
    """The one ring of this process (empty until `logsetup.configure` installs it)."""
    return _recent
