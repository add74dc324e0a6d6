"""Every kiosk screen as the daemon's own document (`GET /kiosk/state`), for tests that render the page
at many sizes and languages without walking the cabinet each time.

A real simulated cabinet is driven once through a rent and a return; each screen it reaches is captured
as it stands. Screens the simulator cannot reach in seconds (an estimate that needs battery readings
minutes apart, an out-of-service cabinet, a PIN back-off, an alarm) are that captured document with
another `screen`, as the controller would set it (cabinetd/flows/*: `screen.show(...)`).
"""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from tests.api.kiosk.daemon import ANNA, Daemon

Document = dict[str, Any]
HELP_CONTACT = "Front desk · ext. 214"

REFUSAL_REASONS: list[dict[str, Any]] = [
    {"reason": "unknown_badge"},
    {"reason": "other_store"},
    {"reason": "inactive"},
    {"reason": "limit_reached"},
    {"reason": "no_device_available", "minutes": 12},
    {"reason": "no_device_available", "minutes": None},
    {"reason": "cabinet_disabled"},
    {"reason": "no_free_slot"},
    {"reason": "dispense_cancelled", "detail": "the door was not opened in time", "slot": 1},
    {"reason": "return_cancelled", "detail": "the door was not opened in time", "slot": 3},
    {"reason": "step_refused", "detail": "lock board 1 did not answer", "slot": 1},
    {"reason": "something_new"},
]


def _wait(cabinet: Daemon, view: str, step: str | None = None) -> Document:
    def reached(state: Document) -> bool:
        screen = state["screen"]
        return bool(screen["view"] == view and (step is None or screen.get("step") == step))

    return cabinet.until(reached, timeout=15)


def capture(directory: Path) -> dict[str, Document]:
    """Drive a simulated cabinet through a rent and a return; name → the document of each screen."""
    cabinet = Daemon(directory)
    cabinet.seed()
    cabinet.start()
    found: dict[str, Document] = {}
    try:
        found["idle-offline"] = cabinet.settled()
        cabinet.sim("badge", {"uid": ANNA})
        found["dispensing-door"] = _wait(cabinet, "dispensing", "door")
        slot = int(found["dispensing-door"]["screen"]["slot"])
        cabinet.sim(f"slots/{slot}/door", {"open": True})
        found["dispensing-take"] = _wait(cabinet, "dispensing", "take")
        cabinet.sim(f"slots/{slot}/take")
        found["done-rent"] = _wait(cabinet, "done")
        time.sleep(0.2)  # the badge reader's repeat window
        cabinet.sim("badge", {"uid": ANNA})
        found["returning-door"] = _wait(cabinet, "returning", "door")
        back = int(found["returning-door"]["screen"]["slot"])
        cabinet.sim(f"slots/{back}/door", {"open": True})
        found["returning-insert"] = _wait(cabinet, "returning", "insert")
        serial = found["returning-insert"]["session"]["held"][0]["device"]
        cabinet.sim(f"slots/{back}/put", {"serial": serial})
        found["returned-passed"] = _wait(cabinet, "returned")
    finally:
        cabinet.close()
    return synthesise(found)


# What a technician sees of the software (cabinetd/updates): a release waiting, the last one rolled back.
TECHNICIAN_SOFTWARE: Final[dict[str, Any]] = {
    "installed": "0.1.0",
    "source": "package",
    "offered": {
        "release": "rel-2026-11-07",
        "version": "0.2.0",
        "stage": "downloaded",
        "at": "2026-11-07T09:12:00Z",
        "waiting_for": "the store is open (08:00-22:00); it waits until 22:00",
    },
    "last_update": {
        "release": "rel-2026-10-30",
        "version": "0.1.1",
        "outcome": "rolled_back",
        "detail": "back to 0.1.0: cabinetd.service not active within 120 s",
        "at": "2026-10-30T22:05:00Z",
    },
}


def _with(document: Document, version: int, **screen: Any) -> Document:
    made = copy.deepcopy(document)
    made["screen"] = {"version": version, **screen}
    return made


def synthesise(found: dict[str, Document]) -> dict[str, Document]:
    """The captured screens plus the ones built from them; every screen gets its own version."""
    idle = found["idle-offline"]
    rent = found["dispensing-door"]
    back = found["returning-door"]
    slot = int(rent["screen"]["slot"])
    name = rent["screen"].get("name", "Anna Li")
    out = dict(found)
    online = copy.deepcopy(idle)
    online["cabinet"]["online"] = True
    out["idle-online"] = online
    out["checking"] = _with(idle, 0, view="checking")
    out["session"] = _with(rent, 0, view="idle")  # the page's own screen: the person's choices
    _add_session_screens(out, rent, found["returning-insert"], name)
    out["dispensing-provisioning"] = _with(rent, 0, view="dispensing", step="provisioning", slot=slot, name=name)
    due = (datetime.now(UTC) + timedelta(hours=8)).isoformat(timespec="seconds")
    out["dispensing-close"] = _with(
        found["dispensing-take"], 0, view="dispensing", step="close", slot=slot, due_at=due, name=name
    )
    out["returning-checking"] = _with(
        found["returning-insert"], 0, view="returning", step="checking", slot=int(back["screen"]["slot"])
    )
    failed = copy.deepcopy(found["returned-passed"])
    failed["screen"].update(passed=False, failing=["battery_health", "scanner", "touchscreen"])
    out["returned-failed"] = failed
    unknown = copy.deepcopy(found["returned-passed"])
    unknown["screen"].update(unknown_to_fleet=True)
    out["returned-unknown"] = unknown
    out["done-return"] = _with(found["returned-passed"], 0, view="done", kind="return", slot=slot)
    for fields in REFUSAL_REASONS:
        suffix = "-estimate" if fields.get("minutes") else ""
        key = f"refused-{fields['reason'].replace('_', '-')}{suffix}"
        out[key] = _with(idle, 0, view="refused", name=name, **fields)
    for cause in ("door_not_opened", "looked", "device_left_inside"):
        out[f"refused-cancelled-{cause.replace('_', '-')}"] = _with(
            idle, 0, view="refused", reason="dispense_cancelled", cause=cause, slot=slot, name=name
        )
    alarm = _with(found["dispensing-take"], 0, view="alarm", alarm="door_left_open", slot=slot)
    alarm["cabinet"]["slots"][slot - 1]["alarms"] = ["door_left_open"]
    alarm["cabinet"]["slots"][4]["alarms"] = ["door_forced"]  # and another door, in the banner
    out["alarm"] = alarm
    tech = "Tomas Berg (technician)"
    out["pin"] = _with(idle, 0, view="pin", name=tech)
    out["pin-wrong"] = _with(idle, 0, view="pin", name=tech, wrong=True, wait_s=2)
    out["pin-wait"] = _with(idle, 0, view="pin", name=tech, wait_s=30)
    out["maintenance"] = _with(idle, 0, view="maintenance", name=tech)
    out["maintenance"]["software"] = copy.deepcopy(TECHNICIAN_SOFTWARE)
    # What the "sessions" work adds to a door waiting to be opened (contract: screen.relock_at, slots[].led).
    relock = (datetime.now(UTC) + timedelta(seconds=20)).isoformat(timespec="seconds")
    for key in ("dispensing-door", "returning-door"):
        door = out[key]
        door["screen"]["relock_at"] = relock
        door["cabinet"]["slots"][int(door["screen"]["slot"]) - 1]["led"] = True
    for version, document in enumerate(out.values(), start=1000):
        document["screen"]["version"] = version
        document["cabinet"]["help_contact"] = HELP_CONTACT
    return out


def _add_session_screens(out: dict[str, Document], rent: Document, holder: Document, name: str) -> None:
    """A second badge's notice over the first person's screen, and "My devices" (docs/kiosk.md)."""
    # A second badge: the first person's screen stays, a notice over it (docs/kiosk.md).
    busy = copy.deepcopy(rent)
    # Standing for the whole run: the page takes a notice down at its `until`.
    until = (datetime.now(UTC) + timedelta(hours=2)).isoformat(timespec="seconds")
    busy["notice"] = {"kind": "busy", "name": "Bo Wang", "until": until}
    out["notice-busy"] = busy
    mine = _with(holder, 0, view="my_devices", name=name)
    mine["session"]["choices"] = ["return", "rent", "look"]
    out["my-devices"] = mine
