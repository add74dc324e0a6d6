"""A signed release whose daemon fails to start, installed by the package's own update helper on this
machine, is rolled back, and the cabinet rents again; a good release after it is installed.

The real package (built with a release key of the test's own), installed with apt; the helper is the
installed /usr/lib/cabinetd/venv/bin/cabinetd-update, run as root as its unit would run it, with the
installed configuration and the real dpkg and dpkg-repack. The machine has no systemd as PID 1, so
`systemctl` is tests/deb/servicemanager.py, which starts the installed daemon the way the install test
does. The request is written as the daemon writes it. Needs root, as the install test does.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cabinetproto.releasesig import generate_key, load_private_key, sign
from tests.api.kiosk.daemon import free_port
from tests.deb import debrig
from tests.deb.debrig import STATE, Cloud, InstalledCabinet, run
from tests.deb.test_install import base_version, rent_once, rentals

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

UPDATES = STATE / "updates"
HELPER_STATE = Path("/var/lib/cabinetd-update")
HELPER = "/usr/lib/cabinetd/venv/bin/cabinetd-update"
SITE_UPDATES = Path("/etc/cabinetd/conf.d/60-update-test.toml")
WITHIN_S = 10


def release(deb: Path, version: str, out: Path, *, broken: bool) -> Path:
    """The next release as the fleet would publish it: the same build under `version`; a broken one
    has a daemon that raises as it starts."""
    tree = out / f"tree-{version}"
    out.mkdir(parents=True, exist_ok=True)
    run(["dpkg-deb", "--raw-extract", str(deb), str(tree)])
    control = tree / "DEBIAN" / "control"
    control.write_text(re.sub(r"^Version: .*$", f"Version: {version}", control.read_text(), flags=re.M))
    if broken:
        (daemon,) = tree.glob("usr/lib/cabinetd/venv/lib/python3*/site-packages/cabinetd/daemon.py")
        daemon.write_text(daemon.read_text() + '\nraise RuntimeError("this release is broken on purpose")\n')
    built = out / f"cabinetd_{version}.deb"
    run(["dpkg-deb", "-Zgzip", "--root-owner-group", "--build", str(tree), str(built)])
    return built


def hand_over(deb: Path, name: str, version: str, private_key: Path) -> None:
    """What the daemon does: the package and its signature, then request.json, all its own."""
    data = deb.read_bytes()
    request = {
        "release": name,
        "version": version,
        "from_version": debrig.installed_version("cabinetd"),
        "sha256": hashlib.sha256(data).hexdigest(),
        "allow_downgrade": False,
        "package": f"{name}.deb",
        "requested_at": "2026-12-03T02:00:00Z",
    }
    for file, content in (
        (f"{name}.deb", data),
        (f"{name}.deb.sig", sign(load_private_key(private_key), data)),
        ("request.json", json.dumps(request).encode()),
    ):
        (UPDATES / file).write_bytes(content)
        shutil.chown(UPDATES / file, "cabinetd", "cabinetd")


def run_helper(env: dict[str, str]) -> dict[str, object]:
    started = time.monotonic()
    done = subprocess.run([HELPER], capture_output=True, text=True, env=env, timeout=600, check=False)
    print(f"cabinetd-update took {time.monotonic() - started:.1f} s")
    assert done.returncode == 0, done.stderr
    assert (UPDATES / "outcome.json").exists(), done.stderr
    outcome: dict[str, object] = json.loads((UPDATES / "outcome.json").read_text())
    left = sorted(path.name for path in UPDATES.iterdir() if not path.name.startswith("outcome-"))
    assert left == ["outcome.json"]
    # What the daemon does with it on its next start (the daemon's side; here by hand).
    (UPDATES / "outcome.json").rename(UPDATES / f"outcome-{outcome['release']}.json")
    return outcome


def check_helper_installed(public_key: Path) -> None:
    assert Path("/usr/share/cabinetd/release-key.pub").read_bytes() == public_key.read_bytes()
    assert Path("/etc/systemd/system/paths.target.wants/cabinetd-update.path").is_symlink()
    assert Path("/etc/systemd/system/multi-user.target.wants/cabinetd-update.service").is_symlink()
    for unit in ("cabinetd-update.path", "cabinetd-update.service"):
        result = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", "--recursive-errors=no", f"/lib/systemd/system/{unit}"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert (result.returncode, result.stderr) == (0, ""), result.stderr


def test_ok__a_release_whose_daemon_fails_is_rolled_back_and_the_cabinet_rents_again(tmp_path: Path) -> None:
    private, public = generate_key()
    private_key, public_key = tmp_path / "release-key", tmp_path / "release-key.pub"
    private_key.write_bytes(private)
    public_key.write_bytes(public)
    first, broken, fixed = (f"{base_version()}~test{n}" for n in (1, 2, 3))
    services = tmp_path / "services"
    services.mkdir()
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    systemctl = fake_bin / "systemctl"
    systemctl.write_text(f'#!/bin/sh\nexec {sys.executable} {debrig.ROOT / "tests/deb/servicemanager.py"} "$@"\n')
    systemctl.chmod(0o755)
    cloud = Cloud(tmp_path, free_port())
    cabinet = InstalledCabinet(tmp_path, free_port(), cloud)
    env = {
        **os.environ,
        "PATH": f"{fake_bin}:{os.environ['PATH']}",
        "CABINET_TEST_SERVICES": str(services),
        "CABINET_TEST_PORT": str(cabinet.port),
    }
    with debrig.clean_machine():
        daemon, _ = debrig.build(tmp_path / "v1", first, release_key=public_key)
        broken_deb = release(daemon, broken, tmp_path / "releases", broken=True)
        fixed_deb = release(daemon, fixed, tmp_path / "releases", broken=False)
        debrig.apt_install(daemon)
        check_helper_installed(public_key)
        try:
            cabinet.prepare()
            SITE_UPDATES.write_text(f"[updates]\nhealthy_within_s = {WITHIN_S}\n")
            debrig.make_dir(UPDATES, 0o750)
            cloud.enrol(STATE / "cloud.token")
            run(["chown", "cabinetd:cabinetd", str(STATE / "cloud.token")])
            cloud.start()
            run([str(systemctl), "restart", "cabinetd.service"], env=env)

            hand_over(broken_deb, "rel-broken", broken, private_key)
            outcome = run_helper(env)
            assert (outcome["outcome"], outcome["version"], outcome["from_version"]) == ("rolled_back", broken, first)
            assert outcome["reason"] == (
                f"health: cabinetd {broken} was not active and healthy within {WITHIN_S} s: cabinetd.service is "
                "failed (`systemctl restart cabinetd.service` exited with 1: Job for cabinetd.service failed "
                f"because the control process exited with error code.); rolled back to {first}"
            )
            assert debrig.installed_version("cabinetd") == first
            assert "this release is broken on purpose" in (services / "cabinetd.log").read_text()
            rental = rent_once(cabinet)

            hand_over(fixed_deb, "rel-fixed", fixed, private_key)
            outcome = run_helper(env)
            assert (outcome["outcome"], outcome["reason"], outcome["from_version"]) == ("installed", "", first)
            assert debrig.installed_version("cabinetd") == fixed
            assert rentals() == [rental], "the ledger did not survive the update"
        finally:
            run([str(systemctl), "stop", "cabinetd.service"], env=env)
            cloud.stop()
            SITE_UPDATES.unlink(missing_ok=True)
            shutil.rmtree(HELPER_STATE, ignore_errors=True)
