"""What the package install test drives: builds, dpkg and apt, the installed daemon and a local cloud.

Everything here acts on the real machine as root: the packages are installed where a cabinet has
them, the daemon runs as the package's user `cabinetd` from /usr/lib/cabinetd/venv with its state in
/var/lib/cabinetd. There is no running systemd on the test machine, so the rig does by hand the two
things the unit would: the state and runtime directories with the unit's owners and modes, and the
start (as the unit's user, in its working directory). `leave_clean()` puts the machine back as it was.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import httpx

ROOT: Final = Path(__file__).resolve().parents[2]
FLEET: Final = ROOT / "config" / "fleet-demo.toml"
PACKAGES: Final = ("cabinetd-kiosk", "cabinetd")  # in the order they are purged
STATE: Final = Path("/var/lib/cabinetd")
ADB_HOME: Final = Path("/var/lib/cabinet-adb")  # the adb server's home, with the cabinet's adb key
RUNTIME: Final = Path("/run/cabinetd")
SOCKET: Final = RUNTIME / "control.sock"
SITE: Final = Path("/etc/cabinetd/conf.d/50-install-test.toml")
SIM_CONFIG: Final = Path("/usr/share/cabinetd/sim.toml")
USERS: Final = ("cabinetd", "kiosk", "cabinet-adb")
# Groups the packages' sysusers files create; dialout and plugdev are Debian's own.
GROUPS: Final = ("cabinet-tech", "gpio")
CABINET: Final = "sim-1"
START_S: Final = 30.0


def run(argv: Sequence[str], *, timeout: float = 120, env: dict[str, str] | None = None) -> str:
    """stdout and stderr of a command that must succeed; the failure names the command and its output."""
    merged = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", **(env or {})}
    done = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, env=merged, cwd=ROOT, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(argv)} exited {done.returncode}:\n{output[-4000:]}"
    return output


def installed_version(package: str) -> str | None:
    done = subprocess.run(
        ["dpkg-query", "--show", "--showformat=${db:Status-Status} ${Version}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    status, _, version = done.stdout.partition(" ")
    return version if done.returncode == 0 and status not in ("", "not-installed") else None


def build(out: Path, version: str, release_key: Path | None = None) -> tuple[Path, Path]:
    """`make deb` into `out` at `version`: the daemon's package and the kiosk's; `release_key`: the
    release public key the package trusts (else the tree's)."""
    key = [] if release_key is None else [f"RELEASE_KEY_PUB={release_key}"]
    run(
        ["make", "--no-print-directory", "deb", f"DEB_OUT={out}", f"DEB_VERSION={version}", "DEB_COMPRESS=gzip", *key],
        timeout=900,
    )
    daemon, kiosk = out / f"cabinetd_{version}_amd64.deb", out / f"cabinetd-kiosk_{version}_all.deb"
    if not daemon.exists():
        daemon = next(out.glob(f"cabinetd_{version}_*.deb"))
    return daemon, kiosk


def apt_install(*debs: Path) -> str:
    """As a technician would: apt resolves the dependencies of the local files, dpkg installs them."""
    return run(["apt-get", "install", "--yes", "--no-install-recommends", *(str(deb) for deb in debs)], timeout=300)


def purge(*, ledger_too: bool = False) -> str:
    env = {"CABINETD_PURGE_LEDGER": "yes"} if ledger_too else {}
    return run(["dpkg", "--purge", *PACKAGES], env=env)


def conffiles(package: str) -> list[str]:
    text = run(["dpkg-query", "--show", "--showformat=${Conffiles}", package])
    return [line.split()[0] for line in text.splitlines() if line.strip()]


class Cloud:
    """`cabinet-cloud serve` from the checkout's venv, on SQLite, on loopback."""

    def __init__(self, directory: Path, port: int, release_key: Path | None = None) -> None:
        self.db = f"sqlite:///{directory / 'cloud.sqlite3'}"
        self.release_key = release_key  # the fleet's public release key, for uploads of releases
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.log = directory / "cloud.log"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self, *words: str) -> list[str]:
        return [sys.executable, "-m", "cabinetcloud", *words, "--db", self.db]

    def enrol(self, token_file: Path) -> None:
        run(self.command("seed", str(FLEET)))
        run(self.command("enroll", "--cabinet", CABINET, "--store", "demo", "--token-file", str(token_file)))

    def operator_token(self, name: str = "otto") -> str:
        """An operator's API token for the admin API (printed first by `user token`)."""
        run(self.command("user", "add", name, "--role", "operator", "--no-password"))
        return run(self.command("user", "token", name)).splitlines()[0].strip()

    def start(self) -> None:
        with self.log.open("ab") as log:
            serve = self.command("serve", "--port", str(self.port), "--log-level", "warning")
            if self.release_key is not None:
                serve += ["--release-key", str(self.release_key)]
            self.process = subprocess.Popen(serve, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        wait_for(f"{self.url}/health", self.process, self.log)

    def stop(self) -> None:
        stop(self.process)
        self.process = None


class InstalledCabinet:
    """The installed daemon on the installed simulator config, synced with `cloud`."""

    def __init__(self, directory: Path, port: int, cloud: Cloud) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.cloud = cloud
        self.log = directory / "cabinetd.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=15)

    def prepare(self) -> None:
        """What cabinetd.service's StateDirectory= and RuntimeDirectory= would make, and a site file."""
        make_dir(STATE, 0o700)
        make_dir(RUNTIME, 0o711)
        SITE.write_text(
            "# The install test's cabinet: the simulator, synced with the test's cloud.\n"
            f'[api]\nport = {self.port}\ncontrol_socket = "{SOCKET}"\n'
            f'[cabinet]\nstate_dir = "{STATE}"\n'
            f'[cloud]\nurl = "{self.cloud.url}"\ntoken_file = "{STATE / "cloud.token"}"\n'
        )

    def start(self) -> None:
        make_dir(RUNTIME, 0o711)  # a reboot (or the purge) empties /run
        daemon = ["/usr/sbin/cabinetd", "run", "--config", str(SIM_CONFIG)]
        command = ["/usr/sbin/runuser", "-u", "cabinetd", "--", *daemon]
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(STATE), "LANG": "C.UTF-8"}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=STATE, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_for(f"{self.url}/health", self.process, self.log)

    def stop(self) -> None:
        stop(self.process)
        self.process = None

    def sync_now(self) -> None:
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(SOCKET)), timeout=10) as control:
            control.post("http://cabinet/sync/now").raise_for_status()

    def kiosk(self) -> dict[str, Any]:
        found: dict[str, Any] = self.http.get("/kiosk/state").json()
        return found

    def until(self, what: Any, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            state = self.kiosk()
            if what(state):
                return state
            assert time.monotonic() < deadline, f"timed out; the kiosk shows {state['screen']}"
            time.sleep(0.1)

    def sim(self, path: str, body: dict[str, Any]) -> None:
        self.http.post(f"/sim/{path}", json=body).raise_for_status()


def make_dir(path: Path, mode: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    shutil.chown(path, "cabinetd", "cabinetd")
    path.chmod(mode)


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args} exited {process.returncode}:\n{log.read_text()[-3000:]}"
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing answered on {url} within {START_S:.0f} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def clean_machine() -> Iterator[None]:
    """Refuse to touch a machine that has the packages already; afterwards, leave none of ours behind."""
    assert os.geteuid() == 0, (
        "the package install test needs root: it installs cabinetd with dpkg, creates its users and "
        "purges them again (CI runs as root; run `sudo make test`)"
    )
    for package in PACKAGES:
        assert installed_version(package) is None, (
            f"{package} is installed on this machine: the test installs and purges its own build, "
            f"so purge it first (dpkg --purge {package})"
        )
    groups_before = {group.gr_name for group in grp.getgrall()}
    try:
        yield
    finally:
        leave_clean(groups_before)


def leave_clean(groups_before: set[str]) -> None:
    if any(installed_version(package) for package in PACKAGES):
        subprocess.run(["dpkg", "--purge", *PACKAGES], capture_output=True, check=False)
    SITE.unlink(missing_ok=True)
    for path in (STATE, ADB_HOME, RUNTIME, Path("/etc/cabinetd")):
        shutil.rmtree(path, ignore_errors=True)
    for user in USERS:
        with contextlib.suppress(KeyError):
            pwd.getpwnam(user)
            subprocess.run(["userdel", user], capture_output=True, check=False)
    for group in (*USERS, *GROUPS):
        if group not in groups_before:
            subprocess.run(["groupdel", group], capture_output=True, check=False)
