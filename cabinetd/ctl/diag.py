"""`cabinetctl diag bundle`: one tar.gz with what a support engineer asks for, and a progress bar.

Everything comes from the daemon through the control socket, already redacted there; the bundle is
assembled in memory and written at the end; a run that fails leaves no file it created behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import tarfile
import time
from datetime import UTC, datetime
from typing import Any, Final, TextIO

import tomli_w

from cabinetd import __version__
from cabinetd.ctl.client import EXIT_OK, CtlError
from cabinetd.ctl.commands import SLOW_TIMEOUT_S, Run

EVENTS: Final = 10_000
BAR_WIDTH: Final = 30
# (step, percent of the bar): the events are most of the work.
STEPS: Final = (
    ("status", 5), ("usb", 3), ("sync", 2), ("config", 3), ("versions", 2),
    ("ledger verify", 10), ("events", 60), ("logs", 10), ("write", 5),
)


class Progress:
    """A bar on stderr: redrawn in place on a terminal, one line per finished step otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.done = 0  # percent
        self._last_draw = 0.0

    def _bar(self, percent: int, label: str) -> str:
        filled = BAR_WIDTH * percent // 100
        return f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {percent:3d}% {label}"

    def within(self, share: int, part: float, label: str) -> None:
        """Part of a step done (drawn on a terminal only, at most ten times a second)."""
        now = time.monotonic()
        if self.live and now - self._last_draw >= 0.1:
            self._last_draw = now
            self.stream.write("\r\x1b[K" + self._bar(min(self.done + int(share * min(part, 1.0)), 100), label))
            self.stream.flush()

    def finished(self, share: int, label: str) -> None:
        self.done = min(self.done + share, 100)
        bar = self._bar(self.done, label)
        self.stream.write(f"\r\x1b[K{bar}" if self.live else f"{bar}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


def _json(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode()


def bundle(run: Run) -> int:
    target: str = run.args.file
    existed = os.path.exists(target)
    try:
        # Fail now, not after a minute of collecting, if the file cannot be written.
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    except OSError as exc:
        raise CtlError(f"cannot write {target}: {exc.strerror}") from None
    try:
        written, names = _collect(run, Progress(run.err))
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as sink:
            os.fchmod(sink.fileno(), 0o600)  # it holds the cabinet's events and configuration
            sink.write(written)
    except BaseException:
        if not existed:
            with contextlib.suppress(OSError):
                os.unlink(target)
        raise
    done = {"file": target, "bytes": len(written), "members": names}
    run.show(done, lambda d: f"wrote {d['file']} ({d['bytes']} bytes): {', '.join(d['members'])}\n")
    return EXIT_OK


def _collect(run: Run, progress: Progress) -> tuple[bytes, list[str]]:
    """Everything from the daemon, packed: the tar.gz bytes and the member names."""
    shares = dict(STEPS)
    client = run.client
    members: dict[str, bytes] = {}

    def fetch(name: str, url: str, step: str) -> Any:
        data = client.get(url, timeout_s=SLOW_TIMEOUT_S)
        members[name] = _json(data)
        progress.finished(shares[step], step)
        return data

    status = fetch("status.json", "/status", "status")
    fetch("usb.json", "/usb", "usb")
    fetch("sync.json", "/sync", "sync")
    config = client.get("/config")
    members["config.toml"] = tomli_w.dumps(config["config"]).encode()
    progress.finished(shares["config"], "config")
    versions = client.get("/versions")
    versions["cabinetctl"] = __version__
    versions["cabinetctl_python"] = platform.python_version()
    members["versions.json"] = _json(versions)
    progress.finished(shares["versions"], "versions")
    fetch("ledger-verify.json", "/ledger/verify", "ledger verify")

    lines: list[str] = []
    with client.lines("/ledger/events", last=EVENTS) as (announced, stream):
        for line in stream:
            lines.append(line)
            progress.within(shares["events"], len(lines) / max(announced or EVENTS, 1), f"events {len(lines)}")
    members["events.jsonl"] = "".join(line + "\n" for line in lines).encode()
    progress.finished(shares["events"], f"events {len(lines)}")

    logs = client.get("/logs")
    members["logs.jsonl"] = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in logs["records"]).encode()
    progress.finished(shares["logs"], f"logs {len(logs['records'])}")

    stamp = datetime.now(UTC)
    folder = f"cabinetd-diag-{status['cabinet_id']}-{stamp.strftime('%Y%m%dT%H%M%SZ')}"
    names = ["manifest.json", *members]
    members["manifest.json"] = _json(
        {"cabinet_id": status["cabinet_id"], "created_at": stamp.isoformat(), "members": names}
    )
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        for name in names:
            data = members[name]
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            info.mtime = int(stamp.timestamp())
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    progress.finished(shares["write"], "written")
    progress.close()
    return packed.getvalue(), names
