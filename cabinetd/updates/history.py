"""What the ledger's update_* events say about updates: the release offered last and where it stands,
the last update's outcome, and what the updater has still to do after a restart. A pure fold over the
events, oldest first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from cabinetd.ledger import StoredEvent

UPDATE_EVENTS: Final = (
    "update_offered",
    "update_downloaded",
    "update_refused",
    "update_installing",
    "update_installed",
    "update_rolled_back",
)
FINAL: Final = frozenset({"update_installed", "update_rolled_back", "update_refused"})

Stage = Literal["downloading", "downloaded", "installing", "installed", "rolled_back", "refused"]
STAGES: Final[dict[str, Stage]] = {
    "update_offered": "downloading",
    "update_downloaded": "downloaded",
    "update_installing": "installing",
    "update_installed": "installed",
    "update_rolled_back": "rolled_back",
    "update_refused": "refused",
}


@dataclass(frozen=True)
class Offered:
    release: str
    version: str
    allow_downgrade: bool
    stage: Stage  # where this release stands now
    at: str  # when it was offered (UTC, ISO 8601)
    sha256: str | None = None  # once downloaded


@dataclass(frozen=True)
class LastUpdate:
    release: str
    version: str
    outcome: Literal["installed", "rolled_back", "refused"]
    detail: str  # the refusal's reason and detail, or why it was rolled back
    at: str


@dataclass(frozen=True)
class History:
    offered: Offered | None = None
    last_update: LastUpdate | None = None


def fold(events: Iterable[StoredEvent]) -> History:
    offered: Offered | None = None
    last: LastUpdate | None = None
    for event in events:
        payload = event.payload
        release, version = str(payload.get("release", "")), str(payload.get("version", ""))
        if event.type == "update_offered":
            offered = Offered(release, version, bool(payload.get("allow_downgrade")), "downloading", event.occurred_at)
            continue
        if event.type not in STAGES:
            continue
        if offered is not None and offered.release == release:
            sha = str(payload["sha256"]) if event.type == "update_downloaded" else offered.sha256
            offered = Offered(
                offered.release, offered.version, offered.allow_downgrade, STAGES[event.type], offered.at, sha
            )
        if event.type in FINAL:
            last = _last(event, release, version)
    return History(offered, last)


def _last(event: StoredEvent, release: str, version: str) -> LastUpdate:
    payload = event.payload
    if event.type == "update_installed":
        detail = f"from {payload.get('from_version', '')}"
        return LastUpdate(release, version, "installed", detail, event.occurred_at)
    if event.type == "update_rolled_back":
        detail = f"back to {payload.get('to_version', '')}: {payload.get('reason', '')}"
        return LastUpdate(release, version, "rolled_back", detail, event.occurred_at)
    said = str(payload.get("detail", ""))
    detail = f"{payload.get('reason', '')}: {said}" if said else str(payload.get("reason", ""))
    return LastUpdate(release, version, "refused", detail, event.occurred_at)


def recorded_since_install(events: Iterable[StoredEvent], release: str, event_type: str) -> bool:
    """Whether `event_type` for `release` is in the ledger after its last update_installing: the unit's
    outcome is recorded once, however often the daemon starts before it renames outcome.json."""
    seen = False
    for event in events:
        if event.payload.get("release") != release:
            continue
        if event.type == "update_installing":
            seen = False
        elif event.type == event_type:
            seen = True
    return seen
