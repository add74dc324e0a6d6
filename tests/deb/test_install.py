"""The cabinet's Debian package, built and installed for real on this machine (docs/packaging.md).

`make deb`, lintian, `apt-get install` of the local files, the installed config checked, the installed
units verified and scored by systemd offline, the installed daemon renting once in the simulator
against a local cloud, an upgrade to a higher version with the ledger surviving it, and the purge:
first keeping the ledger, then (reinstalled on the kept ledger) with CABINETD_PURGE_LEDGER=yes.
Needs root, as CI has: a run without root fails saying so. The machine is left as it was found.
"""

from __future__ import annotations

import configparser
import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.api.kiosk.daemon import ANNA, free_port
from tests.deb import debrig
from tests.deb.debrig import ADB_HOME, STATE, Cloud, InstalledCabinet, run

# One build, a second version, three installs and a simulated cabinet: a few minutes.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

MAX_EXPOSURE = 2.0
PACKAGING = debrig.ROOT / "docs" / "packaging.md"
UNITS = ("cabinetd.service", "cabinet-kiosk.service", "cabinet-adb.service")


def base_version() -> str:
    config = configparser.ConfigParser()
    config.read(debrig.ROOT / "setup.cfg")
    return config["metadata"]["version"]


def explained_warnings() -> set[str]:
    """The lintian tags docs/packaging.md's table of warnings explains."""
    return set(re.findall(r"^\| `([a-z0-9-]+)` \|", PACKAGING.read_text(), re.M))


def check_lintian(*debs: Path) -> None:
    done = subprocess.run(["lintian", *map(str, debs)], capture_output=True, text=True, timeout=300, check=False)
    tags = re.findall(r"^([EW]): [a-z-]+(?: \w+)?: ([a-z0-9-]+)", done.stdout, re.M)
    assert [tag for level, tag in tags if level == "E"] == [], done.stdout
    assert {tag for level, tag in tags if level == "W"} <= explained_warnings(), done.stdout


def higher_version(deb: Path, version: str, out: Path) -> Path:
    """The next release as the upgrade sees it: the same build, repacked under a higher version."""
    out.mkdir(parents=True, exist_ok=True)
    tree = out / "tree"
    run(["dpkg-deb", "--raw-extract", str(deb), str(tree)])
    control = tree / "DEBIAN" / "control"
    control.write_text(re.sub(r"^Version: .*$", f"Version: {version}", control.read_text(), flags=re.M))
    built = out / deb.name.replace(deb.name.split("_")[1], version)
    run(["dpkg-deb", "-Zgzip", "--root-owner-group", "--build", str(tree), str(built)])
    return built


def check_installed(version: str) -> None:
    assert debrig.installed_version("cabinetd") == version
    assert "/etc/cabinetd/cabinetd.toml" in debrig.conffiles("cabinetd")
    for user in ("cabinetd", "kiosk", "cabinet-adb"):
        assert run(["getent", "passwd", user]).split(":")[0] == user
    assert "cabinet-adb" in run(["getent", "group", "plugdev"]).strip().split(":")[3].split(",")
    # The cabinet's adb key, made at install for the adb server's user alone; an upgrade keeps it.
    key = ADB_HOME / ".android" / "adbkey"
    assert (key.stat().st_mode & 0o777, key.owner()) == (0o600, "cabinet-adb")
    assert (ADB_HOME / ".android" / "adbkey.pub").read_text().split()[0].startswith("QAAAA")
    assert "cabinetd" in run(["getent", "group", "cabinet-tech"]).strip().split(":")[3].split(",")
    # Enabled the way `systemctl enable` would, which deb-systemd-helper does without a running systemd.
    assert Path("/etc/systemd/system/multi-user.target.wants/cabinetd.service").is_symlink()
    assert Path("/etc/systemd/system/graphical.target.wants/cabinet-kiosk.service").is_symlink()
    assert Path("/etc/systemd/system/multi-user.target.wants/cabinet-adb.service").is_symlink()
    assert Path("/usr/lib/modules-load.d/cabinetd.conf").is_file()
    assert Path("/lib/udev/rules.d/99-cabinetd.rules").is_file()
    # The daemon's config check on the installed (real cabinet) config, and cabinetctl's version.
    run(["/usr/sbin/cabinetd", "config", "check"])
    shown = json.loads(run(["/usr/bin/cabinetctl", "--json", "version"]))
    assert (shown["installed"], shown["source"], shown["offered"]) == (version, "package", None)


def check_units() -> None:
    for unit in UNITS:
        result = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", "--recursive-errors=no", f"/lib/systemd/system/{unit}"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert (result.returncode, result.stderr) == (0, ""), result.stderr
    for unit in ("cabinetd.service", "cabinet-adb.service"):
        score = run(["systemd-analyze", "security", "--offline=yes", "--no-pager", f"/lib/systemd/system/{unit}"])
        found = re.search(rf"Overall exposure level for {re.escape(unit)}: (\d+\.\d+)", score)
        assert found, score
        assert float(found[1]) <= MAX_EXPOSURE, score


def rent_once(cabinet: InstalledCabinet) -> str:
    """Anna rents a device at the installed cabinet; the rental id from the ledger, through cabinetctl."""
    cabinet.sync_now()
    cabinet.until(lambda s: s["cabinet"]["online"] and s["cabinet"]["ready"])
    cabinet.sim("badge", {"uid": ANNA})
    slot = cabinet.until(lambda s: s["screen"].get("step") == "door")["screen"]["slot"]
    cabinet.sim(f"slots/{slot}/take", {})
    cabinet.until(lambda s: s["screen"]["view"] == "done")
    rented = rentals()
    assert len(rented) == 1, rented
    return rented[0]


def rentals() -> list[str]:
    ctl = ["/usr/bin/cabinetctl", "--socket", str(debrig.SOCKET), "--json"]
    tail = json.loads(run([*ctl, "ledger", "tail", "-n", "5000"]))
    return [e["payload"]["rental_id"] for e in tail["events"] if e["type"] == "device_rented"]


def check_purged(output: str, *, ledger_kept: bool) -> None:
    for package in debrig.PACKAGES:
        assert debrig.installed_version(package) is None
    for gone in (
        "/etc/cabinetd",
        "/usr/lib/cabinetd",
        "/lib/systemd/system/cabinetd.service",
        "/etc/systemd/system/multi-user.target.wants/cabinetd.service",
        "/usr/bin/cabinetctl",
    ):
        assert not Path(gone).is_symlink(), gone
        assert not Path(gone).exists(), gone
    if ledger_kept:
        assert f"cabinetd: kept the ledger in {STATE}" in output
        assert (STATE / "cloud.token").exists()
        assert (STATE / "ledger.sqlite3").exists()
        assert (ADB_HOME / ".android" / "adbkey").exists(), "the key the handhelds trust went with the purge"
    else:
        assert f"cabinetd: removed the ledger in {STATE}" in output
        assert not STATE.exists()
        assert not ADB_HOME.exists()


def test_ok__build_install_rent_upgrade_and_purge(tmp_path: Path) -> None:
    times: dict[str, float] = {}
    mark = time.monotonic()

    def took(step: str) -> None:
        nonlocal mark
        times[step], mark = time.monotonic() - mark, time.monotonic()

    with debrig.clean_machine():
        first, second = f"{base_version()}~test1", f"{base_version()}~test2"
        daemon, kiosk = debrig.build(tmp_path / "v1", first)
        took("build")
        check_lintian(daemon, kiosk)
        took("lintian")
        upgrade = higher_version(daemon, second, tmp_path / "v2")
        debrig.apt_install(daemon, kiosk)
        took("install")
        check_installed(first)
        check_units()
        cloud = Cloud(tmp_path, free_port())
        cabinet = InstalledCabinet(tmp_path, free_port(), cloud)
        try:
            cabinet.prepare()
            cloud.enrol(STATE / "cloud.token")
            run(["chown", "cabinetd:cabinetd", str(STATE / "cloud.token")])
            cloud.start()
            cabinet.start()
            rental = rent_once(cabinet)
            took("rent")
            cabinet.stop()  # what the unit's restart on upgrade does first
            debrig.apt_install(upgrade)
            took("upgrade")
            assert debrig.SITE.exists(), "the site's conf.d file went with the upgrade"
            check_installed(second)
            cabinet.start()
            assert rentals() == [rental], "the ledger did not survive the upgrade"
            cabinet.stop()
            check_purged(debrig.purge(), ledger_kept=True)
            took("purge")
            # Installed again on the kept ledger, it finds the rental; purged asking, the ledger goes.
            debrig.apt_install(upgrade, kiosk)
            cabinet.prepare()
            cabinet.start()
            assert rentals() == [rental]
            cabinet.stop()
            check_purged(debrig.purge(ledger_too=True), ledger_kept=False)
            took("reinstall and purge with the ledger")
        finally:
            cabinet.stop()
            cloud.stop()
    print("install test steps (s):", {step: round(seconds, 1) for step, seconds in times.items()})
