"""A release rolled out from the fleet reaches the installed cabinet and runs there: the operator
uploads a signed package and rolls it out to the cabinet through the admin API; the installed daemon
takes the offer, downloads and checks the release, hands it over at a quiet moment; the installed
update helper installs it and restarts the daemon; the new daemon takes the outcome in, and the fleet's
rollout shows the cabinet installed on the new version. The cabinet rents again on it.

Every part is the real one (the package installed with apt, the served cloud with its release key, the
installed daemon and helper, dpkg) but two that need systemd as PID 1: `systemctl` is
tests/deb/servicemanager.py, as in test_update.py, and the test starts the helper when the request
appears, which is what cabinetd-update.path does. The figure printed is the time from the rollout
command to the fleet seeing the cabinet on the new version.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cabinetproto.releasesig import generate_key, load_private_key, sign
from tests.api.kiosk.daemon import free_port
from tests.deb import debrig
from tests.deb.debrig import STATE, Cloud, InstalledCabinet, run
from tests.deb.test_install import base_version, rent_once, rentals
from tests.deb.test_update import HELPER, HELPER_STATE, SITE_UPDATES, UPDATES, check_helper_installed, release

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def upload(admin: httpx.Client, deb: Path, private_key: Path) -> dict[str, Any]:
    data = deb.read_bytes()
    files = {
        "package": (deb.name, data, "application/vnd.debian.binary-package"),
        "signature": (deb.name + ".sig", sign(load_private_key(private_key), data), "application/octet-stream"),
    }
    reply = admin.post("/v1/admin/releases", files=files)
    assert reply.status_code == 201, reply.text
    found: dict[str, Any] = reply.json()
    return found


def until(what: Callable[[], Any], timeout: float, describe: Callable[[], str]) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := what()):
        assert time.monotonic() < deadline, describe()
        time.sleep(0.2)
    return found


@dataclass
class Fleet:
    """The installed cabinet on the first version, its cloud served with the release key, an operator."""

    admin: httpx.Client
    cabinet: InstalledCabinet
    env: dict[str, str]
    next_deb: Path
    next_version: str
    private_key: Path
    services: Path


@contextlib.contextmanager
def installed_fleet(tmp_path: Path) -> Iterator[Fleet]:
    private, public = generate_key()
    private_key, public_key = tmp_path / "release-key", tmp_path / "release-key.pub"
    private_key.write_bytes(private)
    public_key.write_bytes(public)
    first, second = (f"{base_version()}~roll{n}" for n in (1, 2))
    services, fake_bin = tmp_path / "services", tmp_path / "bin"
    services.mkdir()
    fake_bin.mkdir()
    systemctl = fake_bin / "systemctl"
    systemctl.write_text(f'#!/bin/sh\nexec {sys.executable} {debrig.ROOT / "tests/deb/servicemanager.py"} "$@"\n')
    systemctl.chmod(0o755)
    cloud = Cloud(tmp_path, free_port(), release_key=public_key)
    cabinet = InstalledCabinet(tmp_path, free_port(), cloud)
    env = {
        **os.environ,
        "PATH": f"{fake_bin}:{os.environ['PATH']}",
        "CABINET_TEST_SERVICES": str(services),
        "CABINET_TEST_PORT": str(cabinet.port),
    }
    with debrig.clean_machine():
        daemon, _ = debrig.build(tmp_path / "v1", first, release_key=public_key)
        next_deb = release(daemon, second, tmp_path / "releases", broken=False)
        debrig.apt_install(daemon)
        check_helper_installed(public_key)
        try:
            cabinet.prepare()
            SITE_UPDATES.write_text("[updates]\nhealthy_within_s = 60\n")
            debrig.make_dir(UPDATES, 0o750)
            cloud.enrol(STATE / "cloud.token")
            run(["chown", "cabinetd:cabinetd", str(STATE / "cloud.token")])
            token = cloud.operator_token()
            cloud.start()
            run([str(systemctl), "restart", "cabinetd.service"], env=env)
            with httpx.Client(base_url=cloud.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as admin:
                yield Fleet(admin, cabinet, env, next_deb, second, private_key, services)
        finally:
            run([str(systemctl), "stop", "cabinetd.service"], env=env)
            cloud.stop()
            SITE_UPDATES.unlink(missing_ok=True)
            shutil.rmtree(HELPER_STATE, ignore_errors=True)


def test_ok__a_rollout_from_the_fleet_is_installed_by_the_cabinet_and_reported(tmp_path: Path) -> None:
    with installed_fleet(tmp_path) as fleet:
        admin, second = fleet.admin, fleet.next_version
        published = upload(admin, fleet.next_deb, fleet.private_key)
        assert published["version"] == second

        started = time.monotonic()
        reply = admin.post(f"/v1/admin/releases/{published['id']}/rollouts", json={"cabinets": [debrig.CABINET]})
        assert reply.status_code == 201, reply.text
        until(lambda: (UPDATES / "request.json").exists(), 120, lambda: "no request: " + log_tail(fleet.services))
        handed_over = time.monotonic() - started
        # What cabinetd-update.path does when request.json appears.
        helped = subprocess.run([HELPER], capture_output=True, text=True, env=fleet.env, timeout=600, check=False)
        assert helped.returncode == 0, helped.stderr
        assert debrig.installed_version("cabinetd") == second
        progress_url = f"/v1/admin/rollouts/{reply.json()['id']}"

        def installed() -> dict[str, Any] | None:
            (seen,) = admin.get(progress_url).json()["cabinets"]
            return seen if (seen["state"], seen["software_version"]) == ("installed", second) else None

        seen = until(installed, 120, lambda: f"the fleet sees {admin.get(progress_url).text}")
        reported = time.monotonic() - started
        print(f"rollout -> handed over {handed_over:.1f} s; -> the fleet sees {second} installed {reported:.1f} s")
        assert seen["cabinet"] == debrig.CABINET
        assert (UPDATES / f"outcome-{published['id']}.json").exists(), sorted(p.name for p in UPDATES.iterdir())
        rental = rent_once(fleet.cabinet)  # on the new version
        assert rentals() == [rental]


def log_tail(services: Path) -> str:
    log = services / "cabinetd.log"
    return log.read_text()[-3000:] if log.exists() else "(no daemon log)"
