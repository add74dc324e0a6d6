"""`cabinetctl packages` against a running simulated cabinet whose package cache fills from the
package server on loopback: one APK cached, one refused (tampered on the way), one not served."""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cabinetd.api.control import shapes
from testbed.apkbuild import build_apk
from testbed.packageserver import PackageServer
from tests.ctl.conftest import Ctl
from tests.flows.rig import ROSTER, Rig
from tests.packages.rig import HOME, LABELS, STORE, TOKEN, app_entry

HOME_APK = build_apk(HOME, 240, "2.4.0", signed_by=STORE)
LABELS_APK = build_apk(LABELS, 312, "3.1.2", signed_by=STORE)
SCANNER = "com.example.scanner"
SCANNER_APK = build_apk(SCANNER, 7, "0.7", signed_by=STORE)
SHA = {
    name: hashlib.sha256(apk).hexdigest()
    for name, apk in ((HOME, HOME_APK), (LABELS, LABELS_APK), (SCANNER, SCANNER_APK))
}


def _roster() -> list[dict[str, Any]]:
    roster = [dict(op) for op in ROSTER]
    for op in roster:
        if op["id"] == "price-tags":
            apps = [app_entry(HOME_APK, HOME, 240), app_entry(LABELS_APK, LABELS, 312)]
            op["data"] = {**op["data"], "apps": apps}
        if op["id"] == "picking":
            apps = [app_entry(HOME_APK, HOME, 240), app_entry(SCANNER_APK, SCANNER, 7)]
            op["data"] = {**op["data"], "apps": apps}
    return roster


@pytest.fixture
async def server() -> AsyncIterator[PackageServer]:
    server = PackageServer(TOKEN)
    server.add(HOME_APK)
    server.add(LABELS_APK)
    server.served[SHA[LABELS]] = LABELS_APK[:-1] + bytes([LABELS_APK[-1] ^ 1])
    yield server
    server.close()


@pytest.fixture
async def rig(tmp_path: Path, server: PackageServer) -> AsyncIterator[Rig]:
    token = tmp_path / "cloud.token"
    token.write_text(TOKEN)
    token.chmod(0o600)

    def online(data: dict[str, Any]) -> None:
        data["cloud"] = {"url": server.url, "token_file": token}

    rig = Rig(tmp_path, roster=_roster(), rewire=online)
    rig.cabinet.packages.retries.rng = random.Random(3)
    await rig.start()
    await rig.until(lambda: len(rig.events("app_package_cached", "app_package_refused")) == 3, within=10)
    yield rig
    await rig.stop()
    rig.sim.close()


async def test_ok__packages_shows_what_the_cache_holds_and_lacks(rig: Rig, ctl: Ctl) -> None:
    said = await ctl("packages")
    assert (said.code, said.err) == (0, "")
    directory = rig.sim.packages
    out = re.sub(r"next try in [0-9a-z ]+", "next try in T", said.out)  # the wait is random (jitter)
    size = _size(HOME_APK)
    tampered = hashlib.sha256(LABELS_APK[:-1] + bytes([LABELS_APK[-1] ^ 1])).hexdigest()
    assert out == (
        f"package cache {directory}: 1 held, 2 lacking\n"
        "\n"
        "held\n"
        f"PACKAGE           VERSION      {'SIZE'.rjust(len(size))}  SHA256        WORK TYPES\n"
        f"com.example.home  2.4.0 (240)  {size.rjust(4)}  {SHA[HOME][:12]}  picking, price-tags\n"
        "\n"
        "lacking\n"
        "PACKAGE              VERSION     SHA256        WORK TYPES  LAST REFUSAL  RETRY\n"
        f"com.example.labels   3.12 (312)  {SHA[LABELS][:12]}  price-tags  sha256        next try in T\n"
        f"com.example.scanner  0.7 (7)     {SHA[SCANNER][:12]}  picking     not_served    next try in T\n"
        f"  com.example.labels: {directory / SHA[LABELS]}.part: its sha256 is {tampered}, not that of {LABELS} "
        f"version 3.12 (sha256 {SHA[LABELS][:12]}…)\n"
        f"  com.example.scanner: GET /v1/packages/{SHA[SCANNER]} ({SCANNER}): 404 Not Found\n"
    )


async def test_ok__packages_json_has_its_documented_shape(rig: Rig, ctl: Ctl) -> None:
    said = await ctl("packages", "--json")
    report = shapes.PackageReport.model_validate(said.json())
    assert report.downloads is True
    assert [(h.package, h.version_code, h.size, h.work_types) for h in report.held] == [
        (HOME, 240, len(HOME_APK), ["picking", "price-tags"])
    ]
    assert [(x.package, x.refused) for x in report.lacking] == [(LABELS, "sha256"), (SCANNER, "not_served")]
    assert all(x.retry_in_s is not None and x.retry_in_s > 600 for x in report.lacking)


def _size(apk: bytes) -> str:
    return f"{len(apk) / 1024:.1f} KiB"
