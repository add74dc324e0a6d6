"""The self-test of a stock Android handheld and its usage over a rental, from what adb reads
(adbparse.py). The checks and thresholds are documented in docs/device-adb.md ("Self-test").

The report is the flows' `SelftestReport`, with this link's own list of checks a complete one holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar, Final

from cabinetd.hal import adbparse
from cabinetd.hal.adbparse import BatteryReading
from cabinetd.hal.agentprotocol import AppUsage, SelftestCheck, SelftestReport

ADB_CHECKS: Final = ("battery_health", "battery_temperature", "storage", "uptime", "crashes", "anrs")
GOOD_HEALTH: Final = frozenset({"good", "unknown"})  # "unknown": many gauges never say more
MAX_TEMPERATURE_C: Final = 45.0  # charging stops above this on Li-ion cells (JEITA): too hot to hand out
MIN_FREE_BYTES: Final = 500 * 1024 * 1024  # room for an app update and a shift's data
MAX_UPTIME_H: Final = 14 * 24.0  # a device up this long without a reboot is sent to be looked at
MAX_CRASHES: Final = 3  # app crashes (Java and native) since the rental began
MAX_ANRS: Final = 3  # "application not responding" since the rental began


class AdbSelftestReport(SelftestReport):
    required: ClassVar[tuple[str, ...]] = ADB_CHECKS


def judge(
    battery: BatteryReading,
    free_bytes: int,
    uptime_s: float,
    entries: Sequence[tuple[datetime, str]],
    since: datetime | None,
) -> AdbSelftestReport:
    """The checks; `entries` are the DropBox's, counted from `since` (the device's boot when None)."""
    counted = [tag for when, tag in entries if since is None or when >= since]
    crashes = sum(tag in adbparse.CRASH_TAGS for tag in counted)
    anrs = sum(tag in adbparse.ANR_TAGS for tag in counted)
    window = "since the rental began" if since is not None else "since boot"
    free_mb = free_bytes // (1024 * 1024)
    checks = [
        SelftestCheck(
            name="battery_health",
            passed=battery.health in GOOD_HEALTH,
            evidence=f"battery health {battery.health}",
            measurements={"health": battery.health},
        ),
        SelftestCheck(
            name="battery_temperature",
            passed=battery.temperature_c <= MAX_TEMPERATURE_C,
            evidence=f"battery at {battery.temperature_c:.1f} °C (at most {MAX_TEMPERATURE_C:g} °C)",
            measurements={"celsius": battery.temperature_c},
        ),
        SelftestCheck(
            name="storage",
            passed=free_bytes >= MIN_FREE_BYTES,
            evidence=f"{free_mb} MB free on /data (at least {MIN_FREE_BYTES // (1024 * 1024)} MB)",
            measurements={"free_bytes": free_bytes},
        ),
        SelftestCheck(
            name="uptime",
            passed=uptime_s / 3600 <= MAX_UPTIME_H,
            evidence=f"up {uptime_s / 3600:.1f} h since the last boot (at most {MAX_UPTIME_H:g} h)",
            measurements={"hours": round(uptime_s / 3600, 1)},
        ),
        SelftestCheck(
            name="crashes",
            passed=crashes <= MAX_CRASHES,
            evidence=f"{crashes} app crashes {window} (at most {MAX_CRASHES})",
            measurements={"count": crashes},
        ),
        SelftestCheck(
            name="anrs",
            passed=anrs <= MAX_ANRS,
            evidence=f"{anrs} apps not responding {window} (at most {MAX_ANRS})",
            measurements={"count": anrs},
        ),
    ]
    return AdbSelftestReport(checks=checks)


def usage(
    events: Sequence[tuple[datetime, str, str]], since: datetime, until: datetime
) -> tuple[list[AppUsage], float]:
    """Per-app foreground minutes and launches, and screen-on minutes, inside [since, until].

    An app or a screen already on at `since` (its start lies before) counts from `since`; one still on
    at `until` counts to `until`.
    """
    minutes: dict[str, float] = {}
    launches: dict[str, int] = {}
    foreground: dict[str, datetime] = {}
    screen_on: datetime | None = None
    screen_minutes = 0.0
    for when, kind, package in events:
        at = min(max(when, since), until)
        if kind in adbparse.FOREGROUND and package not in foreground:
            foreground[package] = at
            if since <= when <= until:
                launches[package] = launches.get(package, 0) + 1
        elif kind in adbparse.BACKGROUND and package in foreground:
            start = foreground.pop(package)
            minutes[package] = minutes.get(package, 0.0) + (at - start).total_seconds() / 60
        elif kind == adbparse.SCREEN_ON and screen_on is None:
            screen_on = at
        elif kind == adbparse.SCREEN_OFF and screen_on is not None:
            screen_minutes += (at - screen_on).total_seconds() / 60
            screen_on = None
    for package, start in foreground.items():
        minutes[package] = minutes.get(package, 0.0) + (until - start).total_seconds() / 60
    if screen_on is not None:
        screen_minutes += (until - screen_on).total_seconds() / 60
    used = sorted(set(minutes) | set(launches))
    apps = [
        AppUsage(package=p, minutes=round(minutes.get(p, 0.0), 1), launches=launches.get(p, 0))
        for p in used
        if minutes.get(p, 0.0) > 0 or launches.get(p, 0) > 0
    ]
    return apps, round(screen_minutes, 1)
