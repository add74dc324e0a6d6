"""What the update helper's tests stand on, each at the lowest layer:

- the real dpkg, dpkg-deb and dpkg-repack on a scratch tree (dpkg's `--root`), with small packages
  named cabinetd whose one file, /usr/share/cabinetd/behaviour, says how their "daemon" behaves:
  `starts`, `fails` (never becomes active) or `stalls` (active, /health answers 503);
- a `systemctl` first on PATH that answers for cabinetd.service from that file, as systemd would for
  the daemon the installed package holds, and logs what it was asked;
- a `dpkg` first on PATH that logs its arguments and runs the real one;
- the daemon's health endpoint: an HTTP server on a loopback port answering from the same file;
- the daemon's side of the handoff: the package, its signature and request.json in an updates directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cabinetd.updater.attempt import StateDirectory
from cabinetd.updater.commands import Dpkg, Systemd
from cabinetd.updater.health import Endpoint
from cabinetd.updater.install import Installer
from cabinetproto.releasesig import generate_key, load_private_key, sign

BEHAVIOUR: Final = "usr/share/cabinetd/behaviour"
WITHIN_S: Final = 10.0

FAKE_SYSTEMCTL: Final = """#!/bin/sh
# systemctl for cabinetd.service, answering from the installed package's behaviour file.
echo "$*" >> "{log}"
behaviour=$(cat "{root}/{behaviour}" 2>/dev/null || echo missing)
case "$1" in
  restart)
    # The crash marker holds how many restarts to let pass before killing the helper that asks.
    if [ -e "{crash}" ]; then
      left=$(cat "{crash}")
      if [ "$left" -le 0 ]; then rm -f "{crash}"; kill -9 $PPID; exit 1; fi
      echo $((left - 1)) > "{crash}"
    fi
    if [ "$behaviour" = fails ]; then
      echo "Job for $2 failed because the control process exited with error code." >&2
      echo "See \\"systemctl status $2\\" and \\"journalctl -xeu $2\\" for details." >&2
      exit 1
    fi
    exit 0 ;;
  is-active)
    if [ "$behaviour" = fails ]; then echo activating; exit 3; fi
    echo active; exit 0 ;;
esac
echo "fake systemctl: $1 not understood" >&2
exit 1
"""

FAKE_DPKG: Final = """#!/bin/sh
echo "$*" >> "{log}"
exec /usr/bin/dpkg "$@"
"""


class ManualWaitClock:
    """Time moves only when the helper sleeps: a bound of 10 s passes at once."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


@dataclass
class Rig:
    base: Path
    root: Path
    updates: Path
    state: Path
    bin: Path
    private_key: Path
    public_key: Path
    port: int

    @property
    def systemctl_log(self) -> Path:
        return self.base / "systemctl.log"

    @property
    def dpkg_log(self) -> Path:
        return self.base / "dpkg.log"

    @property
    def crash_marker(self) -> Path:
        return self.base / "crash-at-restart"

    def crash_at_restart(self, passing: int) -> None:
        """The helper is killed (SIGKILL) when it asks for a restart after `passing` others."""
        self.crash_marker.write_text(f"{passing}\n")

    def behaviour(self) -> str:
        path = self.root / BEHAVIOUR
        return path.read_text().strip() if path.exists() else "missing"

    def installed(self) -> tuple[str, str]:
        return Dpkg(self.root).status("cabinetd")

    def dpkg_installs(self) -> list[str]:
        lines = self.dpkg_log.read_text().splitlines() if self.dpkg_log.exists() else []
        return [Path(line.split()[-1]).name for line in lines if " -i " in f" {line} "]

    def build(self, version: str, behaviour: str = "starts", package: str = "cabinetd", depends: str = "") -> Path:
        deb = self.base / "build" / f"{package}_{version}_{behaviour}{'_' + depends if depends else ''}.deb"
        if deb.exists():
            return deb
        tree = deb.with_suffix("")
        (tree / "DEBIAN").mkdir(parents=True)
        (tree / "DEBIAN" / "control").write_text(
            f"Package: {package}\nVersion: {version}\nArchitecture: all\n"
            + (f"Depends: {depends}\n" if depends else "")
            + "Maintainer: Cabinet maintainers <cabinet@example.net>\nDescription: the cabinet daemon (test)\n"
        )
        (tree / BEHAVIOUR).parent.mkdir(parents=True)
        (tree / BEHAVIOUR).write_text(behaviour + "\n")
        subprocess.run(["dpkg-deb", "-Zgzip", "--build", str(tree), str(deb)], check=True, capture_output=True)
        return deb

    def install_now(self, deb: Path) -> None:
        subprocess.run(["/usr/bin/dpkg", f"--root={self.root}", "-i", str(deb)], check=True, capture_output=True)

    def hand_over(
        self,
        deb: Path,
        release: str,
        version: str,
        *,
        allow_downgrade: bool = False,
        key: Path | None = None,
        name: str = "request.json",
    ) -> dict[str, object]:
        """What the daemon does: the package, its signature, then request.json (here: `name`)."""
        package = f"{release}.deb"
        data = deb.read_bytes()
        (self.updates / package).write_bytes(data)
        (self.updates / (package + ".sig")).write_bytes(sign(load_private_key(key or self.private_key), data))
        request: dict[str, object] = {
            "release": release,
            "version": version,
            "from_version": self.installed()[0],
            "sha256": hashlib.sha256(data).hexdigest(),
            "allow_downgrade": allow_downgrade,
            "package": package,
            "requested_at": "2026-12-03T02:00:00Z",
        }
        (self.updates / name).write_text(json.dumps(request))
        return request

    def outcome(self) -> dict[str, object]:
        doc: dict[str, object] = json.loads((self.updates / "outcome.json").read_text())
        return doc

    def installer(self, clock: ManualWaitClock) -> Installer:
        return Installer(
            updates=self.updates,
            state=StateDirectory(self.state),
            release_key=self.public_key,
            healthy_within_s=WITHIN_S,
            endpoint=Endpoint("127.0.0.1", self.port),
            dpkg=Dpkg(self.root),
            systemd=Systemd(),
            clock=clock,
        )


def _health_server(root: Path) -> http.server.ThreadingHTTPServer:
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = root / BEHAVIOUR
            stalls = path.exists() and path.read_text().strip() == "stalls"
            body = json.dumps({"status": "stalled" if stalls else "ok", "stalled": ["bus:main"] if stalls else []})
            self.send_response(503 if stalls else 200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: object) -> None:
            pass

    return http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)


@contextlib.contextmanager
def make_rig(base: Path) -> Iterator[Rig]:
    """The rig with cabinetd 1.0 (`starts`) installed; the caller puts `rig.bin` first on PATH."""
    assert os.geteuid() == 0, "the update helper's tests install packages with dpkg --root: run them as root"
    for tool in ("dpkg", "dpkg-deb", "dpkg-repack"):
        assert shutil.which(tool), f"{tool} is missing (make system-deps installs it)"
    root, updates, state, bin_dir = base / "root", base / "updates", base / "state", base / "bin"
    for directory in ("info", "updates", "triggers"):
        (root / "var/lib/dpkg" / directory).mkdir(parents=True)
    (root / "var/lib/dpkg/status").touch()
    updates.mkdir(mode=0o750)
    bin_dir.mkdir()
    private, public = generate_key()
    (base / "release-key").write_bytes(private)
    (base / "release-key.pub").write_bytes(public)
    server = _health_server(root)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rig = Rig(base, root, updates, state, bin_dir, base / "release-key", base / "release-key.pub", server.server_port)
    for name, text in (("systemctl", FAKE_SYSTEMCTL), ("dpkg", FAKE_DPKG)):
        log = rig.systemctl_log if name == "systemctl" else rig.dpkg_log
        script = bin_dir / name
        script.write_text(text.format(log=log, root=root, behaviour=BEHAVIOUR, crash=rig.crash_marker))
        script.chmod(0o755)
    rig.install_now(rig.build("1.0"))
    try:
        yield rig
    finally:
        server.shutdown()
        server.server_close()
