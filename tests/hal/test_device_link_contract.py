"""The device-link contract: one set of tests run over every back-end a device model can name
(`aoa-agent`, `adb`, `mdm:headwind+adb`, `mdm:headwind+aoa-agent`), each through its lowest-layer fake
and the daemon's own composition of the links (testbed/linkcontract.py). The flows never ask which
back-end runs, so each must give them the same things: identity, resources, provisioning, the
self-test report, usage over a rental, the end of a session.

Where a back-end legitimately does something its own way, CAPABILITIES below says so, in one place;
every test runs on every back-end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import pytest

from cabinetd.hal.adbchecks import ADB_CHECKS
from cabinetd.hal.agentprotocol import SELFTEST_CHECKS, SelftestReport
from cabinetd.hal.drivers import DEVICE_LINKS
from cabinetd.hal.errors import LinkError, LinkFailure
from cabinetd.hal.mdm.headwind import NAME as HEADWIND
from cabinetproto.links import LOCAL_LINKS
from testbed.linkcontract import LINKS, SLOT, ContractRig, contract_rig

HOME = "com.example.home"
LABELS = "com.example.labels"
PICKING = "com.example.picking"
VENDOR = "com.vendor.tool"  # put on the device at staging, not by the cabinet


@dataclass(frozen=True)
class Capabilities:
    """What differs between back-ends, and why it may."""

    # A stock device reads its battery's temperature; the agent protocol's hello carries none.
    battery_temperature_c: float | None
    # The checks a complete self-test holds: the agent tests the hardware, adb reads what Android keeps.
    selftest_checks: tuple[str, ...]
    # adb turns off every other work type's app the device holds; the agent only those it installed.
    disables_unmanaged: bool
    # How a refused install reads: Android's reason for `pm install`, or the agent's error reply.
    install_failure: tuple[LinkFailure, str]
    # Android's usage events show each app coming to the foreground; the agent may leave launches out.
    counts_launches: bool
    # Only the agent counts scans and drops (its scanner and accelerometer); a stock device keeps neither.
    counts_scans_and_drops: bool
    # adb clears exactly the apps it is asked to; the agent signs its own session out whatever is asked.
    clears_only_what_is_asked: bool
    # What a slot whose device has gone says: the port's, or the adb server's, view of it.
    no_device: str
    # The agent downloads each app itself, so it needs a URL; adb pushes from the cabinet's package cache.
    needs_download_url: bool
    # The fleet's MDM moves the device into the work type's configuration before the local link checks it.
    moved_by_mdm: bool = False


AGENT: Final = Capabilities(
    battery_temperature_c=None,
    selftest_checks=SELFTEST_CHECKS,
    disables_unmanaged=False,
    install_failure=(
        LinkFailure.REFUSED,
        "slot 1, device {serial}: refused: agent refused provision: install_failed {package}:"
        " download failed: HTTP 404",
    ),
    counts_launches=False,
    counts_scans_and_drops=True,
    clears_only_what_is_asked=False,
    no_device="slot 1, device unknown: no device: nothing on port 1-1.1",
    needs_download_url=True,
)
ADB: Final = Capabilities(
    battery_temperature_c=28.5,
    selftest_checks=ADB_CHECKS,
    disables_unmanaged=True,
    install_failure=(
        LinkFailure.INSTALL_FAILED,
        "slot 1, device {serial}: install failed: `pm install -r /data/local/tmp/{package}.apk` ({package}):"
        " INSTALL_FAILED_INSUFFICIENT_STORAGE",
    ),
    counts_launches=True,
    counts_scans_and_drops=False,
    clears_only_what_is_asked=True,
    no_device="slot 1, device unknown: no device: the adb server lists no device on port 1-1.1",
    needs_download_url=False,
)
CAPABILITIES: Final = {
    "aoa-agent": AGENT,
    "adb": ADB,
    "mdm:headwind+adb": replace(ADB, moved_by_mdm=True),
    "mdm:headwind+aoa-agent": replace(AGENT, moved_by_mdm=True),
}


def test_ok__the_suite_runs_over_every_back_end_the_daemon_is_built_with() -> None:
    assert set(DEVICE_LINKS) == set(LOCAL_LINKS)
    registered = {*DEVICE_LINKS, *(f"mdm:{HEADWIND}+{local}" for local in DEVICE_LINKS)}
    assert sorted(LINKS) == sorted(CAPABILITIES) == sorted(registered)


@pytest.fixture(params=LINKS)
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ContractRig]:
    async with contract_rig(request.param, tmp_path) as found:
        yield found


def can(rig: ContractRig) -> Capabilities:
    return CAPABILITIES[rig.link_name]


def moves(rig: ContractRig) -> list[tuple[str, str]]:
    return [] if rig.headwind is None else rig.headwind.moves


async def test_ok__hello_says_who_the_device_is(rig: ContractRig) -> None:
    hello = await rig.link.hello(SLOT)
    said = hello.model_dump()
    assert {key: said[key] for key in ("serial", "model", "os_version", "sdk_int")} == rig.device.identity()
    field, build = rig.device.build()
    assert said[field] == build
    assert build  # each back-end names the build in some field
    assert hello.work_type is None  # nothing provisioned yet


async def test_ok__hello_reports_battery_level_health_temperature_and_charging(rig: ContractRig) -> None:
    rig.device.set_battery(35, charging=False)
    hello = await rig.link.hello(SLOT)
    assert (hello.battery_percent, hello.battery_health, hello.charging) == (35, "good", False)
    assert hello.battery_temperature_c == can(rig).battery_temperature_c
    assert hello.storage_free_bytes > 0
    rig.device.set_battery(90, charging=True, health="overheat")
    hello = await rig.link.hello(SLOT)
    assert (hello.battery_percent, hello.battery_health, hello.charging) == (90, "overheat", True)


async def test_ok__provision_brings_missing_and_older_apps_then_changes_nothing(rig: ContractRig) -> None:
    rig.device.give(HOME, 240)
    rig.device.give(LABELS, 300)
    apps = [rig.app(HOME, 240), rig.app(LABELS, 312), rig.app(PICKING, 503)]
    report = await rig.link.provision(SLOT, "price-tags", apps)
    assert [(a.package, a.version_code, a.action) for a in report.apps] == [
        (HOME, 240, "unchanged"),
        (LABELS, 312, "updated"),
        (PICKING, 503, "installed"),
    ]
    assert (report.work_type, report.home_app, report.launched) == ("price-tags", HOME, True)
    assert rig.device.apps() == {HOME: (240, True), LABELS: (312, True), PICKING: (503, True)}
    again = await rig.link.provision(SLOT, "price-tags", apps)
    assert again.changed() == []
    assert (await rig.link.hello(SLOT)).work_type == "price-tags"
    serial = rig.device.serial
    assert moves(rig) == ([(serial, "Price tags")] if can(rig).moved_by_mdm else [])


async def test_ok__another_work_types_apps_are_turned_off_as_the_back_end_does(rig: ContractRig) -> None:
    await rig.link.provision(SLOT, "price-tags", [rig.app(HOME, 240), rig.app(LABELS, 312)])
    rig.device.give(VENDOR, 7)
    report = await rig.link.provision(
        SLOT, "picking", [rig.app(HOME, 240), rig.app(PICKING, 503)], others=[LABELS, VENDOR]
    )
    unmanaged = can(rig).disables_unmanaged
    assert report.disabled == [LABELS, *([VENDOR] if unmanaged else [])]
    assert rig.device.apps() == {
        HOME: (240, True),
        LABELS: (312, False),
        PICKING: (503, True),
        VENDOR: (7, not unmanaged),
    }
    serial = rig.device.serial
    assert moves(rig) == ([(serial, "Price tags"), (serial, "Picking")] if can(rig).moved_by_mdm else [])


async def test_fail__a_failed_install_is_a_link_error_naming_the_device_and_the_command(rig: ContractRig) -> None:
    rig.device.fail_installs(HOME)
    with pytest.raises(LinkError) as caught:
        await rig.link.provision(SLOT, "price-tags", [rig.app(HOME, 240)])
    failure, text = can(rig).install_failure
    assert caught.value.failure is failure
    assert str(caught.value) == text.format(serial=rig.device.serial, package=HOME)
    assert (caught.value.slot, caught.value.serial) == (SLOT, rig.device.serial)
    assert HOME not in rig.device.apps()


async def test_ok__an_app_served_to_cabinets_only_installs_from_the_cache_or_is_refused(rig: ContractRig) -> None:
    """The fleet may give an app by sha256 alone (no URL a device could fetch)."""
    app = rig.app(PICKING, 503).model_copy(update={"url": None})
    await rig.link.hello(SLOT)  # as the flows do before a rent: the link knows whom it talks to
    if can(rig).needs_download_url:
        with pytest.raises(LinkError) as caught:
            await rig.link.provision(SLOT, "picking", [app])
        assert caught.value.failure is LinkFailure.REFUSED
        assert str(caught.value) == (
            f"slot 1, device {rig.device.serial}: refused: no download URL for the agent for {PICKING}"
        )
        assert PICKING not in rig.device.apps()
    else:
        report = await rig.link.provision(SLOT, "picking", [app])
        assert [(a.package, a.action) for a in report.apps] == [(PICKING, "installed")]
        assert rig.device.apps()[PICKING] == (503, True)


async def test_ok__the_selftest_is_one_report_model_and_a_failing_threshold_fails_it(rig: ContractRig) -> None:
    report = await rig.link.selftest(SLOT)
    assert isinstance(report, SelftestReport)
    assert [check.name for check in report.checks] == list(can(rig).selftest_checks)
    assert type(report).required == can(rig).selftest_checks
    assert (report.passed, report.failed()) == (True, [])
    rig.device.set_battery(80, charging=True, health="overheat")
    report = await rig.link.selftest(SLOT)
    assert (report.passed, report.failed()) == (False, ["battery_health"])
    evidence = {check.name: check.evidence for check in report.checks}
    assert evidence["battery_health"] == "battery health overheat"


async def test_ok__usage_over_a_rental_window(rig: ContractRig) -> None:
    rig.device.give(HOME, 240)
    rig.device.set_battery(80, charging=False)
    await rig.link.hello(SLOT)
    rig.link.unwatch(SLOT)  # rented: it leaves its slot with 80 %
    now = datetime.now(UTC).replace(microsecond=0)
    rented_at = now - timedelta(hours=3)
    rig.device.worked(now - timedelta(hours=2), now - timedelta(hours=1), HOME, drain=25)
    usage = await rig.link.usage(SLOT, rented_at)
    launches = 1 if can(rig).counts_launches else 0
    assert [(a.package, a.minutes, a.launches) for a in usage.apps] == [(HOME, 60.0, launches)]
    assert (usage.screen_on_minutes, usage.battery_drain_percent) == (60.0, 25)
    counted = (40, 1) if can(rig).counts_scans_and_drops else (0, 0)
    assert (usage.scans, usage.drops) == counted
    assert usage.since_ms == int(rented_at.timestamp() * 1000)
    assert usage.until_ms >= int(now.timestamp() * 1000)


async def test_ok__end_session_clears_the_work_apps_data(rig: ContractRig) -> None:
    rig.device.give(HOME, 240)
    now = datetime.now(UTC)
    rig.device.worked(now - timedelta(hours=2), now - timedelta(hours=1), HOME, drain=5)
    assert rig.device.holds_data(HOME)
    ended = await rig.link.end_session(SLOT, clear=[HOME, LABELS])  # the work type asks for both
    assert (ended.signed_out, ended.cleared) == (True, [HOME])  # the one it held data in
    assert not rig.device.holds_data(HOME)
    # A work type that asks for nothing to be cleared:
    rig.device.worked(now - timedelta(minutes=50), now - timedelta(minutes=10), HOME, drain=5)
    ended = await rig.link.end_session(SLOT, clear=[])
    only_asked = can(rig).clears_only_what_is_asked
    assert (ended.signed_out, ended.cleared) == (True, [] if only_asked else [HOME])
    assert rig.device.holds_data(HOME) is only_asked


async def test_fail__a_slot_whose_device_has_gone_is_a_link_error_saying_so(rig: ContractRig) -> None:
    await rig.link.hello(SLOT)
    rig.take_out()
    with pytest.raises(LinkError) as caught:
        await rig.link.hello(SLOT)
    assert caught.value.failure is LinkFailure.NO_DEVICE
    assert str(caught.value) == can(rig).no_device
