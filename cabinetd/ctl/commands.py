"""Each `cabinetctl` command: ask the daemon, print the answer for people or, with --json, for machines."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TextIO
from urllib.parse import quote

import tomli_w

from cabinetd import release
from cabinetd.ctl import render
from cabinetd.ctl.client import EXIT_FAILED, EXIT_OK, EXIT_USAGE, ControlClient, CtlError, dumps
from cabinetproto.chain import parse_utc

FOLLOW_POLL_S: Final = 0.5
BADGE_POLL_MAX_S: Final = 25.0
VERSION_ASK_S: Final = 3.0  # `version` answers with what it has rather than wait on a daemon that hangs
SLOW_TIMEOUT_S: Final = 120.0  # a self-test, a lock test or a power cycle takes a while
SLOT_ACTIONS: Final = {"open": "unlocked", "disable": "disabled", "enable": "enabled"}
_AGE: Final = re.compile(r"^(\d+)\s*([mhd])$")


@dataclass
class Run:
    """One invocation: the parsed arguments, the client and where output goes."""

    args: argparse.Namespace
    client: ControlClient
    out: TextIO
    err: TextIO

    @property
    def json(self) -> bool:
        return bool(self.args.json)

    def show(self, data: Any, text: Callable[[Any], str]) -> None:
        self.out.write(dumps(data) + "\n" if self.json else text(data))
        self.out.flush()

    def line(self, data: Any) -> None:
        """One JSON object a line, for the commands that go on printing."""
        self.out.write(json.dumps(data, ensure_ascii=False) + "\n")
        self.out.flush()


def status(run: Run) -> int:
    run.show(run.client.get("/status"), render.status)
    return EXIT_OK


def slots(run: Run) -> int:
    run.show(run.client.get("/slots"), render.slots)
    return EXIT_OK


def slot(run: Run) -> int:
    what, number, reason = run.args.what, run.args.number, run.args.reason
    if what.isdigit() and number is None:
        if reason is not None:
            raise CtlError("--reason goes with slot open, disable or enable", EXIT_USAGE)
        run.show(run.client.get(f"/slots/{int(what)}"), render.slot)
        return EXIT_OK
    if what not in SLOT_ACTIONS or number is None:
        raise CtlError("usage: cabinetctl slot N | slot open|disable N --reason TEXT | slot enable N", EXIT_USAGE)
    if what != "enable" and not reason:
        raise CtlError(f"slot {what} needs --reason TEXT (it is recorded in the ledger)", EXIT_USAGE)
    body = {"reason": reason} if reason else {}
    done = run.client.post(f"/slots/{number}/{what}", body, timeout_s=SLOW_TIMEOUT_S)
    run.show(done, lambda d: f"slot {d['slot']}: {SLOT_ACTIONS[what]} by {d['technician']}; now {d['state']}\n")
    return EXIT_OK


def lock_test(run: Run) -> int:
    number = run.args.number
    body = {"wait_s": run.args.wait} if run.args.wait else {}
    timeout = (run.args.wait or 60.0) + run.args.timeout
    result = run.client.post(f"/slots/{number}/lock-test", body, timeout_s=timeout)

    def text(d: dict[str, Any]) -> str:
        if d["door_opened"]:
            return f"slot {d['slot']}: lock pulsed; the door opened after {d['waited_s']:g} s\n"
        return (
            f"slot {d['slot']}: lock pulsed; the door did not open within {d['waited_s']:g} s "
            f"(door {d['door']}, lock {d['lock']})\n"
        )

    run.show(result, text)
    return EXIT_OK if result["door_opened"] else EXIT_FAILED


def badge_watch(run: Run) -> int:
    seconds = run.args.seconds
    last = run.client.get("/badges")["last"]
    deadline = time.monotonic() + seconds
    if not run.json:
        run.out.write(f"watching the badge reader for {seconds:g} s (Ctrl-C stops)\n")
        run.out.flush()
    seen = 0
    started = time.monotonic()
    try:
        while (left := deadline - time.monotonic()) > 0:
            wait = min(left, BADGE_POLL_MAX_S)
            found = run.client.get("/badges", after=last, wait_s=round(wait, 2), timeout_s=wait + run.args.timeout)
            last = found["last"]
            for read in found["reads"]:
                seen += 1
                if run.json:
                    run.line(read)
                else:
                    run.out.write(render.badge_row(read))
                    run.out.flush()
    except KeyboardInterrupt:
        seconds = round(time.monotonic() - started)
    if not run.json:
        run.out.write(f"{seen} badge read{'s' if seen != 1 else ''} in {seconds:g} s\n")
    return EXIT_OK


def usb_list(run: Run) -> int:
    run.show(run.client.get("/usb"), render.usb_list)
    return EXIT_OK


def usb_power(run: Run) -> int:
    number, power = run.args.number, run.args.power
    done = run.client.post(f"/slots/{number}/usb-power", {"power": power}, timeout_s=SLOW_TIMEOUT_S)

    def text(d: dict[str, Any]) -> str:
        if power == "cycle":
            return f"slot {d['slot']}: USB port power-cycled; back: {render.usb_device(d['device'])}\n"
        return f"slot {d['slot']}: USB port power {power}\n"

    run.show(done, text)
    return EXIT_OK


def device_info(run: Run) -> int:
    run.show(run.client.get(f"/slots/{run.args.number}/device", timeout_s=SLOW_TIMEOUT_S), render.device_info)
    return EXIT_OK


def device_clear(run: Run) -> int:
    body = {"reason": run.args.reason} if run.args.reason else {}
    done = run.client.post(f"/devices/{quote(run.args.serial, safe='')}/clear", body, timeout_s=SLOW_TIMEOUT_S)

    def text(d: dict[str, Any]) -> str:
        where = f"; slot {d['slot']} now {d['state']}" if d["slot"] is not None else ""
        return f"device {d['device']}: problem report cleared by {d['technician']}{where}\n"

    run.show(done, text)
    return EXIT_OK


def selftest(run: Run) -> int:
    result = run.client.post(f"/slots/{run.args.number}/selftest", timeout_s=SLOW_TIMEOUT_S)
    run.show(result, render.selftest)
    return EXIT_OK if result["passed"] else EXIT_FAILED


def ledger_tail(run: Run) -> int:
    n = run.args.n
    if not 1 <= n <= 10_000:
        raise CtlError(f"-n must be between 1 and 10000, got {n}", EXIT_USAGE)
    found = run.client.get("/ledger/tail", n=n)
    if not run.args.follow:
        run.show(found, lambda d: render.events(d["events"]))
        return EXIT_OK
    # Following: fixed columns, since rows keep coming after the header is out.
    if not run.json:
        run.out.write(render.follow_header())
    events = found["events"]
    for event in events:
        _print_followed(run, event)
    return _follow(run, found["epoch"], events[-1]["seq"] if events else 0)


def _print_followed(run: Run, event: dict[str, Any]) -> None:
    if run.json:
        run.line(event)
    else:
        run.out.write(render.follow_row(event))
        run.out.flush()


def _follow(run: Run, epoch: str, seq: int) -> int:
    deadline = None if run.args.seconds is None else time.monotonic() + run.args.seconds
    try:
        while deadline is None or time.monotonic() < deadline:
            time.sleep(FOLLOW_POLL_S)
            found = run.client.get("/ledger/after", epoch=epoch, seq=seq)
            for event in found["events"]:
                _print_followed(run, event)
                seq = event["seq"]
            if not found["events"] and found["epoch"] != epoch:
                epoch, seq = found["epoch"], 0  # a new epoch began (after a fork): go on from its start
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def ledger_verify(run: Run) -> int:
    result = run.client.get("/ledger/verify", timeout_s=SLOW_TIMEOUT_S)
    run.show(result, lambda d: d["summary"] + "\n")
    return EXIT_OK if result["ok"] else EXIT_FAILED


def since(text: str, now: datetime | None = None) -> datetime:
    """`--since`: an ISO 8601 date or time (local unless it says otherwise) or an age like 12h."""
    age = _AGE.match(text.strip())
    if age:
        count, unit = int(age[1]), age[2]
        span = {"m": timedelta(minutes=count), "h": timedelta(hours=count), "d": timedelta(days=count)}[unit]
        return (now or datetime.now(UTC)) - span
    try:
        moment = parse_utc(text)
    except ValueError:
        raise CtlError(f"--since: not a time or an age: {text!r} (e.g. 2026-11-02T08:00, 12h)", EXIT_USAGE) from None
    return moment if moment.tzinfo else moment.astimezone()


def ledger_export(run: Run) -> int:
    start = since(run.args.since).astimezone(UTC)
    target: str = run.args.file
    count = 0
    with contextlib.ExitStack() as stack:
        if target == "-":
            sink: TextIO = run.out
        else:
            try:
                sink = stack.enter_context(open(target, "w", encoding="utf-8"))
            except OSError as exc:
                raise CtlError(f"cannot write {target}: {exc.strerror}") from None
        _, lines = stack.enter_context(run.client.lines("/ledger/events", since=start.isoformat()))
        for line in lines:
            sink.write(line + "\n")
            count += 1
    if target != "-":
        done = {"file": target, "since": start.isoformat(), "events": count}
        run.show(done, lambda d: f"exported {d['events']} events since {render.when(d['since'])} to {d['file']}\n")
    return EXIT_OK


def sync_status(run: Run) -> int:
    run.show(run.client.get("/sync"), render.sync)
    return EXIT_OK


def sync_now(run: Run) -> int:
    found = run.client.post("/sync/now")
    run.show(found, lambda d: "sync requested: the client tries now\n" + render.sync(d))
    return EXIT_OK


def packages(run: Run) -> int:
    run.show(run.client.get("/packages"), render.packages)
    return EXIT_OK


def config_show(run: Run) -> int:
    run.show(run.client.get("/config"), lambda d: tomli_w.dumps(d["config"]))
    return EXIT_OK


def version(run: Run) -> int:
    """The installed version is read here, so that it answers on a cabinet whose daemon is down; the
    release offered and the last update come from the daemon's ledger when it answers."""
    found = release.current()
    try:
        update = run.client.get("/update", timeout_s=VERSION_ASK_S)
        daemon = "answered"
    except CtlError as exc:
        update, daemon = {"offered": None, "last_update": None}, str(exc)
    data = {
        "installed": found.installed,
        "source": found.source,
        "offered": update["offered"],
        "last_update": update["last_update"],
        "daemon": daemon,
    }
    run.show(data, render.version)
    return EXIT_OK
