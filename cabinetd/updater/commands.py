"""The helper's one boundary with the system: the `dpkg` family and `systemctl`, run as commands.

Nothing else in the helper touches the package database or the service manager. Tests put their own
`systemctl` first on PATH and point dpkg at a scratch tree with `root` (dpkg's own `--root`).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

QUERY_S: Final = 30.0
# dpkg -i runs the package's maintainer scripts, which restart the daemon (up to its TimeoutStartSec).
INSTALL_S: Final = 600.0
# dpkg-repack copies and compresses the whole virtual environment; slow on an SD card.
REPACK_S: Final = 600.0
# What a command's message may add to an outcome's reason; the end is kept, where dpkg says why.
MESSAGE_CHARS: Final = 600


class CommandError(Exception):
    """A command that could not run or failed; the message names it and quotes its own message."""


def _message(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    text = " / ".join(lines) or "no message"
    return text if len(text) <= MESSAGE_CHARS else "..." + text[-MESSAGE_CHARS:]


def run(argv: list[str], timeout_s: float, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The finished command, whatever its exit code; CommandError when it cannot start or times out."""
    shown = shlex.join(argv)
    # No terminal to ask on: dpkg and the maintainer scripts must take their defaults.
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout_s,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CommandError(f"`{shown}` did not finish within {timeout_s:g} s") from None
    except OSError as error:
        raise CommandError(f"`{shown}` cannot run: {error.strerror}") from None


def check(argv: list[str], timeout_s: float, cwd: Path | None = None) -> str:
    """stdout of a command that must exit 0; CommandError with its own message otherwise."""
    done = run(argv, timeout_s, cwd)
    if done.returncode != 0:
        raise CommandError(f"`{shlex.join(argv)}` exited with {done.returncode}: {_message(done)}")
    return done.stdout


@dataclass(frozen=True)
class Dpkg:
    """dpkg on this machine, or on the tree `root` (its `--root`: database and files both there)."""

    root: Path | None = None

    def _root(self) -> list[str]:
        return [] if self.root is None else [f"--root={self.root}"]

    def status(self, package: str) -> tuple[str, str]:
        """(version, dpkg's status abbreviation such as "ii "), or ("", "") when never installed."""
        done = run(
            ["dpkg-query", *self._root(), "--show", "--showformat=${Version}\t${db:Status-Abbrev}", package],
            QUERY_S,
        )
        if done.returncode != 0:
            return "", ""
        version, _, abbrev = done.stdout.partition("\t")
        return version, abbrev

    def field(self, deb: Path, name: str) -> str:
        return check(["dpkg-deb", "--field", str(deb), name], QUERY_S).strip()

    def architecture(self) -> str:
        return check(["dpkg", *self._root(), "--print-architecture"], QUERY_S).strip()

    def newer(self, version: str, than: str) -> bool:
        """Debian's version order (deb-version(7)); CommandError on a version dpkg cannot read."""
        done = run(["dpkg", "--compare-versions", version, "gt", than], QUERY_S)
        if done.returncode not in (0, 1) or done.stderr.strip():
            raise CommandError(f"`dpkg --compare-versions {version} gt {than}`: {_message(done)}")
        return done.returncode == 0

    def install(self, deb: Path) -> None:
        # A conffile the technician changed is kept, as unattended upgrades do (docs/packaging.md).
        check(["dpkg", *self._root(), "--force-confdef", "--force-confold", "-i", str(deb)], INSTALL_S)

    def repack(self, package: str, into: Path) -> None:
        """The installed package rebuilt as a .deb in `into` (gzip: it never travels, and is made at
        every update on the cabinet itself)."""
        check(["dpkg-repack", *self._root(), "--deb-option=-Zgzip", package], REPACK_S, cwd=into)


@dataclass(frozen=True)
class Systemd:
    def restart(self, unit: str, timeout_s: float) -> None:
        """Waits for the start job: for a Type=notify unit, until READY=1 or the start failed."""
        check(["systemctl", "restart", unit], timeout_s)

    def state(self, unit: str) -> str:
        """`systemctl is-active`'s word: active, activating, failed, inactive ... (it exits 3 for all
        but active, which is an answer, not a failure)."""
        done = run(["systemctl", "is-active", unit], QUERY_S)
        word = done.stdout.strip()
        if not word:
            raise CommandError(f"`systemctl is-active {unit}` exited with {done.returncode}: {_message(done)}")
        return word
