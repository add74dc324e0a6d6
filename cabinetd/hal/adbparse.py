"""What a stock Android handheld prints, read into facts (docs/device-adb.md has the formats).

Pure functions over the text a command printed; a text that does not hold what is needed is a
ValueError naming the command, which the link turns into a LinkError naming the device.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Final

# android.os.BatteryManager: BATTERY_HEALTH_* and BATTERY_STATUS_* values.
HEALTH: Final = {1: "unknown", 2: "good", 3: "overheat", 4: "dead", 5: "over_voltage", 6: "failure", 7: "cold"}
CHARGING_STATUSES: Final = {2, 5}  # charging, full (on the charger)
CRASH_TAGS: Final = frozenset(
    {"data_app_crash", "system_app_crash", "data_app_native_crash", "system_app_native_crash", "SYSTEM_TOMBSTONE"}
)
ANR_TAGS: Final = frozenset({"data_app_anr", "system_app_anr"})
FOREGROUND: Final = frozenset({"ACTIVITY_RESUMED", "MOVE_TO_FOREGROUND"})
BACKGROUND: Final = frozenset({"ACTIVITY_PAUSED", "ACTIVITY_STOPPED", "MOVE_TO_BACKGROUND"})
SCREEN_ON: Final = "SCREEN_INTERACTIVE"
SCREEN_OFF: Final = "SCREEN_NON_INTERACTIVE"

_STAMP: Final = "%Y-%m-%d %H:%M:%S"
_PACKAGE = re.compile(r"^package:(\S+) versionCode:(\d+)\s*$")
_DROPBOX = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (\S+) \(")
_EVENT = re.compile(r'^\s*time="([^"]+)" type=(\S+) package=(\S+)')
_FAILURE = re.compile(r"Failure \[([A-Z_]+(?::[^\]]*)?)\]")
_OFFSET = re.compile(r"^([+-])(\d\d)(\d\d)$")


@dataclass(frozen=True)
class BatteryReading:
    level: int
    health: str
    charging: bool
    temperature_c: float
    charge_counter_uah: int | None


def battery(text: str) -> BatteryReading:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(": ")
        if sep:
            values[key] = value.strip()
    try:
        scale = int(values.get("scale", "100")) or 100
        level = round(int(values["level"]) * 100 / scale)
        health = HEALTH.get(int(values["health"]), "unknown")
        charging = int(values["status"]) in CHARGING_STATUSES
        temperature = int(values["temperature"]) / 10
        counter = int(values["Charge counter"]) if "Charge counter" in values else None
    except (KeyError, ValueError) as error:
        raise ValueError(f"dumpsys battery: no usable {error}") from None
    return BatteryReading(max(0, min(100, level)), health, charging, temperature, counter)


def packages(text: str) -> dict[str, int]:
    """`pm list packages --show-versioncode`: package → version code."""
    found = {}
    for line in text.splitlines():
        match = _PACKAGE.match(line)
        if match is not None:
            found[match.group(1)] = int(match.group(2))
    return found


def package_names(text: str) -> set[str]:
    """`pm list packages [-d|-e]`: the names alone."""
    return {line.removeprefix("package:").split()[0] for line in text.splitlines() if line.startswith("package:")}


def install_failure(output: str) -> str | None:
    """Android's reason for a failed `pm install` (INSTALL_FAILED_... and the package manager's words
    after it, when it gave any), None when it said Success."""
    if "Success" in output.split():
        return None
    match = _FAILURE.search(output)
    return match.group(1) if match else (output.strip().splitlines() or ["no output"])[0]


def utc_offset(text: str) -> timezone:
    """`date +%z`: the device's offset from UTC, which its dumpsys times are in."""
    match = _OFFSET.match(text.strip())
    if match is None:
        raise ValueError(f"date +%z: not an offset: {text.strip()!r}")
    minutes = int(match.group(2)) * 60 + int(match.group(3))
    return timezone(timedelta(minutes=minutes if match.group(1) == "+" else -minutes))


def _local(stamp: str, zone: timezone) -> datetime:
    return datetime.strptime(stamp, _STAMP).replace(tzinfo=zone)


def dropbox(text: str, zone: timezone) -> list[tuple[datetime, str]]:
    """`dumpsys dropbox`: each entry's time and tag."""
    return [
        (_local(m.group(1), zone), m.group(2)) for line in text.splitlines() if (m := _DROPBOX.match(line)) is not None
    ]


def usage_events(text: str, zone: timezone) -> list[tuple[datetime, str, str]]:
    """`dumpsys usagestats`: the event log's (time, type, package), in time order."""
    found = [
        (_local(m.group(1), zone), m.group(2), m.group(3))
        for line in text.splitlines()
        if (m := _EVENT.match(line)) is not None
    ]
    return sorted(found)


def free_bytes(text: str) -> int:
    """`df -k /data`: the Available column of the line for /data."""
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 6 and fields[-1] == "/data" and fields[3].isdigit():
            return int(fields[3]) * 1024
    raise ValueError("df -k /data: no line for /data")


def uptime_s(text: str) -> float:
    try:
        return float(text.split()[0])
    except (IndexError, ValueError):
        raise ValueError(f"/proc/uptime: not a number: {text.strip()!r}") from None
