"""The `adb` device link over the fake adb server: identity, resources, provisioning, self-test, usage and
the end of a session, and the errors that name the device and the command."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cabinetd.hal.adb import AdbDeviceLink
from cabinetd.hal.agentprotocol import AppPackage
from cabinetd.hal.errors import LinkError, LinkFailure
from cabinetd.hal.usbhub import PortPath
from cabinetd.sim.adbserver import Attached, FakeAdbServer
from cabinetd.sim.android import Package, SimAndroid, sim_apk
from testbed.apkbuild import build_apk, signer

PORT = "1-1.1"
HOME = "com.example.store.home"
LABELS = "com.example.store.labels"
PICKING = "com.example.store.picking"


@dataclass
class Rig:
    server: FakeAdbServer
    link: AdbDeviceLink
    packages: Path
    android: SimAndroid
    attached: Attached

    def app(
        self, package: str, version_code: int, *, stored: bytes | None = None, apk: bytes | None = None
    ) -> AppPackage:
        """The app as the fleet lists it; its APK (the simulator's own unless `apk` is a real one) in the
        cabinet's package directory (or `stored` there under its name)."""
        apk = sim_apk(package, version_code) if apk is None else apk
        digest = hashlib.sha256(apk).hexdigest()
        (self.packages / f"{digest}.apk").write_bytes(apk if stored is None else stored)
        return AppPackage(
            package=package, version_code=version_code, url=f"https://apps.example/{package}.apk", sha256=digest
        )


@pytest.fixture
def server() -> Iterator[FakeAdbServer]:
    found = FakeAdbServer()
    yield found
    found.close()


@pytest.fixture
async def rig(server: FakeAdbServer, tmp_path: Path) -> AsyncIterator[Rig]:
    android = SimAndroid("A1-0001", model="TC21")
    attached = server.attach(android, PORT)
    link = AdbDeviceLink(
        {1: PortPath.parse(PORT)},
        lambda refresh: None,
        host=server.host,
        port=server.port,
        packages=tmp_path,
        request_timeout_s=2.0,
    )
    yield Rig(server, link, tmp_path, android, attached)
    await link.cleanup()


async def test_ok__hello_is_the_devices_identity_and_battery(rig: Rig) -> None:
    hello = await rig.link.hello(1)
    assert (hello.serial, hello.model, hello.os_version, hello.sdk_int) == ("A1-0001", "TC21", "13", 33)
    assert hello.fingerprint == rig.android.fingerprint
    assert (hello.battery_percent, hello.battery_health, hello.charging) == (80, "good", True)
    assert (hello.battery_temperature_c, hello.charge_counter_uah) == (28.5, 2_856_000)
    assert hello.storage_free_bytes == 5_778_792 * 1024
    rig.android.battery.charge_counter = None  # a device without a fuel gauge
    assert (await rig.link.hello(1)).charge_counter_uah is None


async def test_ok__provisioning_installs_updates_enables_and_disables_then_nothing_the_second_time(rig: Rig) -> None:
    rig.android.packages[LABELS] = Package(300, enabled=False)
    rig.android.packages[PICKING] = Package(500)
    apps = [rig.app(HOME, 240), rig.app(LABELS, 312)]
    others = [PICKING, "com.android.settings"]  # the device protects the second one
    report = await rig.link.provision(1, "price-tags", apps, others=others)
    assert [(a.package, a.version_code, a.action) for a in report.apps] == [
        (HOME, 240, "installed"),
        (LABELS, 312, "updated"),
    ]
    assert (report.disabled, report.launched, rig.android.launched) == ([PICKING], True, [HOME])
    assert {n: (p.version_code, p.enabled) for n, p in rig.android.packages.items()} == {
        HOME: (240, True),
        LABELS: (312, True),
        PICKING: (500, False),
        "com.android.settings": (33, True),
    }
    assert not any(path.startswith("/data/local/tmp/") for path in rig.android.files)  # pushed APKs removed
    again = await rig.link.provision(1, "price-tags", apps, others=others)
    assert again.changed() == []
    assert (await rig.link.hello(1)).work_type == "price-tags"


async def test_fail__an_install_android_refuses_names_the_device_the_command_and_the_reason(rig: Rig) -> None:
    rig.android.install_failure = "INSTALL_FAILED_INSUFFICIENT_STORAGE"
    with pytest.raises(LinkError) as caught:
        await rig.link.provision(1, "price-tags", [rig.app(HOME, 240)])
    assert caught.value.failure is LinkFailure.INSTALL_FAILED
    assert str(caught.value) == (
        "slot 1, device A1-0001: install failed: `pm install -r /data/local/tmp/com.example.store.home.apk` "
        "(com.example.store.home): INSTALL_FAILED_INSUFFICIENT_STORAGE"
    )


async def test_fail__an_update_signed_by_another_certificate_is_refused_in_androids_words(rig: Rig) -> None:
    other = hashlib.sha256(b"a vendor's own certificate").hexdigest()
    rig.android.packages[HOME] = Package(230, signer_sha256=other, has_data=True)
    with pytest.raises(LinkError) as caught:
        await rig.link.provision(1, "price-tags", [rig.app(HOME, 240)])
    assert caught.value.failure is LinkFailure.INSTALL_FAILED
    assert str(caught.value) == (
        "slot 1, device A1-0001: install failed: `pm install -r /data/local/tmp/com.example.store.home.apk` "
        "(com.example.store.home): INSTALL_FAILED_UPDATE_INCOMPATIBLE: Existing package com.example.store.home "
        "signatures do not match newer version; ignoring!"
    )
    held = rig.android.packages[HOME]
    assert (held.version_code, held.signer_sha256, held.has_data) == (230, other, True)  # left as it was


async def test_ok__a_real_apk_installs_with_its_signer_and_one_signed_by_another_does_not_replace_it(
    rig: Rig,
) -> None:
    await rig.link.provision(1, "price-tags", [rig.app(HOME, 240, apk=build_apk(HOME, 240, signed_by="store-apps"))])
    assert (rig.android.packages[HOME].version_code, rig.android.packages[HOME].signer_sha256) == (
        240,
        signer("store-apps").sha256,  # from the APK's v2 signing block, as Android reads it
    )
    newer = rig.app(HOME, 241, apk=build_apk(HOME, 241, signed_by="another-publisher"))
    with pytest.raises(LinkError) as caught:
        await rig.link.provision(1, "price-tags", [newer])
    assert str(caught.value).endswith(
        f"({HOME}): INSTALL_FAILED_UPDATE_INCOMPATIBLE: Existing package {HOME} signatures do not match newer"
        " version; ignoring!"
    )
    assert rig.android.packages[HOME].version_code == 240


async def test_ok__an_update_signed_by_the_same_certificate_keeps_the_apps_data(rig: Rig) -> None:
    rig.android.packages[HOME] = Package(230, has_data=True)
    report = await rig.link.provision(1, "price-tags", [rig.app(HOME, 240)])
    assert [(a.package, a.action) for a in report.apps] == [(HOME, "updated")]
    held = rig.android.packages[HOME]
    assert (held.version_code, held.has_data) == (240, True)


async def test_fail__an_apk_not_in_the_cache_or_not_what_its_sha256_says_is_not_pushed(rig: Rig) -> None:
    tampered = rig.app(HOME, 240, stored=b"PK not the app")
    with pytest.raises(LinkError) as caught:
        await rig.link.provision(1, "price-tags", [tampered])
    digest = hashlib.sha256(b"PK not the app").hexdigest()
    assert str(caught.value) == (
        f"slot 1, device A1-0001: refused: {rig.packages / (tampered.sha256 + '.apk')} is not "
        f"com.example.store.home version 240 (sha256 {tampered.sha256[:12]}…): its sha256 is {digest}"
    )
    (rig.packages / f"{tampered.sha256}.apk").unlink()
    with pytest.raises(LinkError, match="is not in the package cache"):
        await rig.link.provision(1, "price-tags", [tampered])
    assert HOME not in rig.android.packages


async def test_fail__a_device_that_falls_off_mid_install_is_offline_and_says_so_after(rig: Rig) -> None:
    rig.attached.drop_after_bytes = 1
    app = rig.app(HOME, 240)
    with pytest.raises(LinkError) as caught:
        await rig.link.provision(1, "price-tags", [app])
    assert caught.value.failure is LinkFailure.OFFLINE
    assert str(caught.value) == (
        f"slot 1, device A1-0001: offline: push {app.sha256}.apk to /data/local/tmp/{HOME}.apk:"
        " the device went away mid-command"
    )
    with pytest.raises(LinkError) as later:
        await rig.link.hello(1)
    assert str(later.value) == "slot 1, device A1-0001: offline: the adb server sees it offline"


@pytest.mark.parametrize(
    ("state", "failure", "detail"),
    [
        (
            "unauthorized",
            LinkFailure.UNAUTHORISED,
            "it has not accepted this cabinet's adb key (authorise it at staging, docs/deployment.md)",
        ),
        ("offline", LinkFailure.OFFLINE, "the adb server sees it offline"),
    ],
)
async def test_fail__a_device_the_server_cannot_reach_is_named_with_why(
    rig: Rig, state: str, failure: LinkFailure, detail: str
) -> None:
    rig.attached.state = state
    with pytest.raises(LinkError) as caught:
        await rig.link.hello(1)
    assert caught.value.failure is failure
    assert str(caught.value) == f"slot 1, device A1-0001: {failure.value}: {detail}"


async def test_fail__no_device_on_the_port_and_no_server_are_said_as_such(rig: Rig) -> None:
    rig.server.detach("A1-0001")
    with pytest.raises(
        LinkError, match=r"^slot 1, device unknown: no device: the adb server lists no device on port 1-1\.1$"
    ):
        await rig.link.hello(1)
    rig.server.close()
    with pytest.raises(
        LinkError, match=rf"^slot 1, device unknown: no device: no adb server at 127\.0\.0\.1:{rig.server.port} "
    ):
        await rig.link.hello(1)


async def test_ok__the_selftest_passes_a_healthy_device_and_names_what_fails(rig: Rig) -> None:
    report = await rig.link.selftest(1)
    assert report.passed
    assert [c.name for c in report.checks] == [
        "battery_health",
        "battery_temperature",
        "storage",
        "uptime",
        "crashes",
        "anrs",
    ]
    now = datetime.now(UTC)
    rig.android.battery.health, rig.android.battery.temperature = 3, 472
    rig.android.free_k = 100 * 1024
    for minutes in (90, 30, 20, 10, 5):  # one before the rental began, four during it
        rig.android.crashed((now - timedelta(minutes=minutes)).timestamp(), "data_app_crash", PICKING)
    rig.android.crashed(now.timestamp(), "data_app_anr", PICKING)
    report = await rig.link.selftest(1, since=now - timedelta(hours=1))
    assert report.failed() == ["battery_health", "battery_temperature", "storage", "crashes"]
    evidence = {c.name: c.evidence for c in report.checks}
    assert evidence["battery_temperature"] == "battery at 47.2 °C (at most 45 °C)"
    assert evidence["storage"] == "100 MB free on /data (at least 500 MB)"
    assert evidence["crashes"] == "4 app crashes since the rental began (at most 3)"
    assert evidence["anrs"] == "1 apps not responding since the rental began (at most 3)"


async def test_ok__usage_is_read_over_the_rentals_window_and_end_session_clears_the_work_apps(rig: Rig) -> None:
    rig.android.packages[HOME] = Package(240)
    await rig.link.hello(1)
    rig.link.unwatch(1)  # it leaves the slot with 80 %
    now = datetime.now(UTC)
    start = now - timedelta(hours=3)
    rig.android.worked((now - timedelta(hours=4)).timestamp(), (now - timedelta(hours=2)).timestamp(), [HOME], 25)
    usage = await rig.link.usage(1, start)
    assert [(a.package, a.minutes, a.launches) for a in usage.apps] == [(HOME, 60.0, 0)]
    assert (usage.screen_on_minutes, usage.battery_drain_percent, usage.scans) == (60.0, 25, 0)
    ended = await rig.link.end_session(1, clear=[HOME, LABELS])
    assert (ended.signed_out, ended.cleared) == (True, [HOME])
    assert not rig.android.packages[HOME].has_data
