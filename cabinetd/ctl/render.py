"""The daemon's answers as a technician reads them: aligned tables and short labelled lines.

Pure functions from the JSON shapes (cabinetd/api/control/shapes.py) to text; times in local time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from cabinetd import release
from cabinetproto.chain import parse_utc

NONE: Final = "-"
DETAILS_WIDTH: Final = 70


def when(text: str | None, *, never: str = "never") -> str:
    if not text:
        return never
    return parse_utc(text).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def clock(text: str) -> str:
    return parse_utc(text).astimezone().strftime("%H:%M:%S")


def duration(seconds: float) -> str:
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h {minutes} min"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> str:
    """Columns two spaces apart; the columns whose index is in `right` are right-aligned."""
    cells = [[NONE if value is None else str(value) for value in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        padded = [v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))]
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), *(line(row) for row in cells)]) + "\n"


def labelled(pairs: Sequence[tuple[str, str]]) -> str:
    width = max(len(label) for label, _ in pairs)
    return "".join(f"{label.ljust(width)}  {value}\n" for label, value in pairs)


def _counters(counters: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counters.items() if count)


def part_line(part: dict[str, Any]) -> str:
    state = "connected" if part["connected"] else "DISCONNECTED"
    text = f"{part['part']}: {state} since {when(part['since'])}"
    extra = "; ".join(x for x in (part["detail"], _counters(part["counters"])) if x)
    return f"{text} ({extra})" if extra else text


def _parts(label: str, parts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    if not parts:
        return [(label, "none")]
    return [(label if i == 0 else "", part_line(p)) for i, p in enumerate(parts)]


def slot_counts(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    listed = ", ".join(f"{n} {state}" for state, n in counts.items())
    return f"{total} slot{'s' if total != 1 else ''}: {listed}"


def status(data: dict[str, Any]) -> str:
    mode = ", simulated" if data["simulated"] else ""
    if data["sync"] == "not configured":
        cloud = "offline: sync is not configured"
    else:
        cloud = f"{'online' if data['online'] else 'offline'} ({data['sync']})"
    skew = data["clock_skew_s"]
    pairs = [
        ("cabinet", f"{data['cabinet_id']} (store {data['store']}{mode})"),
        ("software", f"cabinetd {data['version']}, up {duration(data['uptime_s'])}"),
        ("cloud", cloud),
        ("pending", f"{data['pending_events']} events not yet acknowledged by the cloud"),
        ("last sync", when(data["last_sync_at"])),
        ("clock skew", "unknown" if skew is None else f"{skew:+.1f} s"),
        ("renting", "allowed" if data["renting_blocked"] is None else f"BLOCKED: {data['renting_blocked']}"),
        ("stalled", ", ".join(data["stalled"]) or "none"),
        *_parts("reader", data["readers"]),
        *_parts("lock boards", data["boards"]),
        *_parts("USB hubs", data["hubs"]),
        ("slots", slot_counts(data["slot_counts"])),
    ]
    return labelled(pairs)


def _battery(value: int | None) -> str | None:
    return None if value is None else f"{value}%"


def slots(data: dict[str, Any]) -> str:
    rows = [
        (
            s["slot"], s["slot_type"], s["state"], s["device"], _battery(s["battery"]), s["health"], s["door"],
            s["lock"], ", ".join(s["alarms"]) or None,
        )
        for s in data["slots"]
    ]
    headers = ("SLOT", "TYPE", "STATE", "DEVICE", "BATTERY", "HEALTH", "DOOR", "LOCK", "ALARMS")
    return table(headers, rows, right=(0, 4))


def details(payload: dict[str, Any]) -> str:
    text = " ".join(f"{key}={_compact(value)}" for key, value in payload.items())
    return text if len(text) <= DETAILS_WIDTH else text[: DETAILS_WIDTH - 1] + "…"


def _compact(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_compact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_compact(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


EVENT_HEADERS: Final = ("SEQ", "TIME", "TYPE", "SLOT", "DEVICE", "STAFF", "DETAILS")


def event_row(event: dict[str, Any]) -> tuple[Any, ...]:
    return (
        event["seq"], when(event["occurred_at"]), event["type"], event["slot"], event["device"], event["staff"],
        details(event["payload"]),
    )


FOLLOW_WIDTHS: Final = (6, 19, 22, 4, 10, 10)


def _fixed(values: Sequence[Any]) -> str:
    cells = [NONE if value is None else str(value) for value in values]
    head = [
        cell.rjust(width) if index in (0, 3) else cell.ljust(width)
        for index, (cell, width) in enumerate(zip(cells, FOLLOW_WIDTHS, strict=False))
    ]
    return ("  ".join([*head, *cells[len(FOLLOW_WIDTHS):]])).rstrip() + "\n"


def follow_header() -> str:
    return _fixed(EVENT_HEADERS)


def follow_row(event: dict[str, Any]) -> str:
    return _fixed(event_row(event))


def events(items: list[dict[str, Any]]) -> str:
    if not items:
        return "no events\n"
    return table(EVENT_HEADERS, [event_row(e) for e in items], right=(0, 3))


def usb_device(device: dict[str, Any] | None) -> str:
    if device is None:
        return "no device"
    return f"{device['vendor_id']}:{device['product_id']} {device['serial'] or '(no serial)'}"


def slot(data: dict[str, Any]) -> str:
    device = "none"
    if data["device"]:
        bits = [f"{data['device']} ({data['model'] or 'model unknown'})"]
        if data["battery"] is not None:
            bits.append(f"battery {data['battery']}%" + (", charging" if data["charging"] else ""))
        bits.append(f"health {data['health'] or 'unknown'}")
        device = ", ".join(bits)
    usb = data["usb"]
    pairs = [
        ("slot", f"{data['slot']} (module {data['module']}, {data['slot_type']})"),
        ("state", data["state"] + (f" ({data['busy']})" if data["busy"] else "")),
        ("device", device),
        ("door", f"{data['door']}, lock {data['lock']}"),
        ("alarms", ", ".join(data["alarms"]) or "none"),
        ("usb", f"port {usb['port']}, power {usb['power']}, {usb_device(usb['device'])}"),
    ]
    return labelled(pairs) + "\nlast events\n" + events(data["events"])


def usb_list(data: dict[str, Any]) -> str:
    rows = [(p["slot"], p["port"], p["power"], usb_device(p["device"]) if p["device"] else None) for p in data["ports"]]
    hubs = labelled(_parts("hubs", data["hubs"]))
    return table(("SLOT", "PORT", "POWER", "DEVICE"), rows, right=(0,)) + "\n" + hubs


def _bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{count} B"
        size /= 1024
    return f"{count} B"


def device_info(data: dict[str, Any]) -> str:
    pairs = [
        ("slot", str(data["slot"])),
        ("serial", data["serial"]),
        ("model", f"{data['model']} ({data['manufacturer'] or 'manufacturer unknown'})"),
        ("os", f"{data['os_version']} (SDK {data['sdk_int']})"),
        ("agent", f"{data['agent_version']}, protocol {', '.join(str(v) for v in data['protocol_versions'])}"),
        ("battery", f"{data['battery_percent']}%, {data['battery_health']}{', charging' if data['charging'] else ''}"),
        ("storage free", _bytes(data["storage_free_bytes"])),
        ("work type", data["work_type"] or "none"),
        ("health", data["health"] or "unknown"),
        ("last rented", when(data["last_rented_at"])),
    ]
    return labelled(pairs)


def selftest(data: dict[str, Any]) -> str:
    verdict = "passed" if data["passed"] else "FAILED"
    head = f"slot {data['slot']}: self-test of {data['device'] or 'the device'} {verdict}\n"
    rows = [(c["name"], "pass" if c["passed"] else "FAIL", c["evidence"]) for c in data["checks"]]
    return head + table(("CHECK", "RESULT", "EVIDENCE"), rows)


def sync(data: dict[str, Any]) -> str:
    if not data["configured"]:
        return labelled([
            ("sync", "not configured (no cloud.url in the configuration)"),
            ("pending", f"{data['pending_events']} events kept in the ledger"),
        ])
    skew = data["clock_skew_s"]
    flagged = " (too far off)" if data["skew_flagged"] else ""
    pairs = [
        ("sync", f"{'online' if data['online'] else 'offline'} ({data['state']})"),
        ("last sync", when(data["last_success_at"])),
        ("pending", f"{data['pending_events']} events"),
        ("acknowledged", f"seq {data['acked_seq']} of epoch {data['epoch'] or 'unknown'}"),
        ("clock skew", "unknown" if skew is None else f"{skew:+.1f} s{flagged}"),
        ("last error", data["last_error"] or "none"),
        ("dead letters", str(data["dead_lettered"])),
        ("batch limit", str(data["batch_limit"])),
    ]
    return labelled(pairs)


def badge_row(read: dict[str, Any]) -> str:
    who = "not on the roster"
    if read["staff"]:
        who = f"{read['staff']} ({read['name']}, {read['role']})"
    return f"{clock(read['at'])}  {read['badge']:>14}  {who}  [{read['reader']}]\n"


def version(data: dict[str, Any]) -> str:
    origin = "package cabinetd" if data["source"] == "package" else "from the source tree"
    offered, last = data["offered"], data["last_update"]
    unknown = f"unknown: {data['daemon']}"
    answered = data["daemon"] == "answered"
    pairs = [
        ("installed", f"{data['installed']} ({origin})"),
        ("offered", release.Offered(**offered).describe() if offered else "none" if answered else unknown),
        ("last update", release.LastUpdate(**last).describe() if last else "none" if answered else unknown),
    ]
    return labelled(pairs)


def _retry(seconds: float | None) -> str:
    if seconds is None:
        return "not tried yet"
    return "next try now" if seconds < 1 else f"next try in {duration(seconds)}"


def _held_version(held: dict[str, Any]) -> str | None:
    return None if held["version_code"] is None else f"{held['version_name']} ({held['version_code']})"


def packages(data: dict[str, Any]) -> str:
    held, lacking = data["held"], data["lacking"]
    out = f"package cache {data['directory']}: {len(held)} held, {len(lacking)} lacking\n"
    if not data["downloads"]:
        out += "downloads off: no cloud.url in the configuration\n"
    if data["last_error"]:
        out += f"cannot work: {data['last_error']}\n"
    if held:
        rows = [
            (
                p["package"] or "(not a readable APK)",
                _held_version(p),
                _bytes(p["size"]),
                p["sha256"][:12],
                ", ".join(p["work_types"]) or "none (removed at the next look)",
            )
            for p in held
        ]
        out += "\nheld\n" + table(("PACKAGE", "VERSION", "SIZE", "SHA256", "WORK TYPES"), rows, right=(2,))
    if lacking:
        wanting: list[tuple[Any, ...]] = []
        for p in lacking:
            version = p["version"] if p["version_code"] is None else f"{p['version']} ({p['version_code']})"
            downloading = p["sha256"] == data["downloading"]
            why = "downloading" if downloading else (p["refused"] or ("cloud not reached" if p["detail"] else None))
            retry = "" if downloading or not data["downloads"] else _retry(p["retry_in_s"])
            wanting.append((p["package"], version, p["sha256"][:12], ", ".join(p["work_types"]), why, retry))
        headers = ("PACKAGE", "VERSION", "SHA256", "WORK TYPES", "LAST REFUSAL", "RETRY")
        out += "\nlacking\n" + table(headers, wanting)
        out += "".join(f"  {p['package']}: {p['detail']}\n" for p in lacking if p["detail"])
    return out
