"""The update unit's outcome.json, taken into the ledger once (docs/updates.md, "The handoff", step 3):
update_installed, update_rolled_back or update_refused, unless the ledger already holds it for that
release since its last update_installing; then the file is kept as outcome-<release>.json."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from cabinetd.ledger import StoredEvent
from cabinetd.updates import handoff
from cabinetd.updates.history import recorded_since_install
from cabinetd.updates.offer import DETAIL_MAX, REASONS

log = logging.getLogger(__name__)

EVENT_OF: Final = {"installed": "update_installed", "rolled_back": "update_rolled_back", "refused": "update_refused"}


def payload_of(finished: handoff.Finished) -> dict[str, Any]:
    base: dict[str, Any] = {"release": finished.release, "version": finished.version}
    was = finished.from_version or "unknown"
    if finished.outcome == "installed":
        return {**base, "from_version": was}
    if finished.outcome == "rolled_back":
        return {**base, "to_version": was, "reason": _short(finished.reason or "not healthy in time")}
    # The unit says why in words; its first word is the reason when it is one the events know.
    first = finished.reason.replace(":", " ").split(" ", 1)[0]
    reason = first if first in REASONS else "package"
    return {**base, "reason": reason, "detail": _short(f"the update unit: {finished.reason}")}


def _short(text: str) -> str:
    return text if len(text) <= DETAIL_MAX else text[: DETAIL_MAX - 3] + "..."


def take_outcome(
    directory: Path, events: Sequence[StoredEvent], record: Callable[[str, dict[str, Any]], None]
) -> handoff.Finished | None:
    """The outcome taken in (recorded unless `events`, the ledger's update_* events, hold it already),
    or None when the unit has written none."""
    finished = handoff.read_outcome(directory)
    if finished is None:
        return None
    event_type = EVENT_OF[finished.outcome]
    if not recorded_since_install(events, finished.release, event_type):
        record(event_type, payload_of(finished))
        log.info("release %s (%s): %s", finished.release, finished.version, finished.outcome)
    handoff.keep_outcome(directory, finished.release)
    return finished
