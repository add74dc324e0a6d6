"""Every request of the agent protocol, through the real link, against a simulated handheld."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from cabinetd.hal.agentprotocol import AppOutcome, AppPackage, AppUsage, SessionEnded, UsageReport
from cabinetd.hal.errors import LinkError, LinkFailure
from cabinetd.sim.agent import HandheldAgent
from cabinetd.sim.handheld import LinkFault, SimHandheld
from testbed.handheldrig import link_rig
from testbed.recorder import HandClock


def exactly(text: str) -> str:
    return f"^{re.escape(text)}$"


def app(package: str, version_code: int = 1) -> AppPackage:
    return AppPackage(
        package=package,
        version_code=version_code,
        url=f"https://apps.store.test/{package}-{version_code}.apk",
        sha256=f"{version_code:064x}",
    )


PRICE_TAGS = [app("com.store.pricetags", 3), app("com.store.scanner", 7)]
PICKING = [app("com.store.picking", 2), app("com.store.scanner", 7)]


async def test_ok__hello_reports_identity_battery_and_storage() -> None:
    clock = HandClock()
    handheld = SimHandheld(
        "SIM0001", agent=HandheldAgent("SIM0001", battery_percent=35, charge_rate_per_min=2, clock=clock)
    )
    handheld.agent.storage_free_bytes = 5_000_000_000
    async with link_rig({1: handheld}) as rig:
        hello = await rig.link.hello(1)
        assert hello.model_dump() == {
            "serial": "SIM0001",
            "model": "SIM-PDA-5",
            "manufacturer": "Simulated",
            "os_version": "11",
            "sdk_int": 30,
            "agent_version": "1.0.0",
            "protocol_versions": [1],
            "battery_percent": 35,
            "battery_health": "good",
            "charging": True,
            "storage_free_bytes": 5_000_000_000,
            "work_type": None,
            # What only a stock device over adb tells (docs/device-adb.md).
            "fingerprint": "",
            "battery_temperature_c": None,
            "charge_counter_uah": None,
        }
        clock.advance(10 * 60)  # charges 2 % a minute
        assert (await rig.link.hello(1)).battery_percent == 55
        clock.advance(60 * 60)
        hello = await rig.link.hello(1)
        assert (hello.battery_percent, hello.charging) == (100, False)
        handheld.agent.battery_health = "overheat"
        assert (await rig.link.hello(1)).battery_health == "overheat"


async def test_ok__selftest_of_a_sound_device() -> None:
    async with link_rig({1: SimHandheld("SIM0001")}) as rig:
        report = await rig.link.selftest(1)
        assert [check.name for check in report.checks] == [
            "battery_health",
            "touchscreen",
            "scanner",
            "camera",
            "wifi",
            "storage",
            "drop_counter",
        ]
        assert report.passed
        assert report.failed() == []


async def test_ok__selftest_failures_carry_their_evidence() -> None:
    handheld = SimHandheld("SIM0001")
    handheld.agent.fail_check("scanner", "scan engine did not answer within 2000 ms", decode_ms=-1)
    handheld.agent.battery_health = "dead"
    del handheld.agent.checks["camera"]  # an agent that leaves a check out
    async with link_rig({1: handheld}) as rig:
        report = await rig.link.selftest(1)
        assert not report.passed
        assert report.failed() == ["battery_health", "scanner", "camera"]
        scanner = next(check for check in report.checks if check.name == "scanner")
        assert scanner.evidence == "scan engine did not answer within 2000 ms"
        assert scanner.measurements == {"decode_ms": -1}


async def test_ok__long_selftest_that_keeps_saying_it_is_working() -> None:
    handheld = SimHandheld("SIM0001")
    handheld.step_s = 0.1  # 7 checks, 0.7 s in all: well past one request timeout of 0.25 s
    async with link_rig({1: handheld}) as rig:
        started = time.monotonic()
        assert (await rig.link.selftest(1)).passed
        assert time.monotonic() - started >= 0.6


async def test_fail__selftest_over_its_limit() -> None:
    handheld = SimHandheld("SIM0001")
    handheld.step_s = 0.2
    for extra in range(4):  # 11 checks: 2.0 s, over the 6 x 0.25 s a self-test may take
        handheld.agent.fail_check(f"extra_{extra}", "vendor check")
    async with link_rig({1: handheld}) as rig:
        with pytest.raises(LinkError) as caught:
            await rig.link.selftest(1)
        assert str(caught.value) == "slot 1, device SIM0001: unresponsive: selftest still not done after 1.5 s"


async def test_ok__provision_installs_then_is_idempotent() -> None:
    handheld = SimHandheld("SIM0001")
    async with link_rig({1: handheld}) as rig:
        report = await rig.link.provision(1, "price-tags", PRICE_TAGS)
        assert report.apps == [
            AppOutcome(package="com.store.pricetags", version_code=3, action="installed"),
            AppOutcome(package="com.store.scanner", version_code=7, action="installed"),
        ]
        assert (report.home_app, report.launched, report.disabled) == ("com.store.pricetags", True, [])
        assert handheld.agent.installs == [("com.store.pricetags", 3), ("com.store.scanner", 7)]

        again = await rig.link.provision(1, "price-tags", PRICE_TAGS)
        assert [outcome.action for outcome in again.apps] == ["unchanged", "unchanged"]
        assert again.changed() == []
        assert handheld.agent.installs == [("com.store.pricetags", 3), ("com.store.scanner", 7)]  # nothing new
        assert (await rig.link.hello(1)).work_type == "price-tags"


async def test_ok__provision_switches_work_type_updates_and_reenables() -> None:
    handheld = SimHandheld("SIM0001")
    async with link_rig({1: handheld}) as rig:
        await rig.link.provision(1, "price-tags", PRICE_TAGS)
        picking = await rig.link.provision(1, "picking", PICKING, home_app="com.store.picking")
        assert [(o.package, o.action) for o in picking.apps] == [
            ("com.store.picking", "installed"),
            ("com.store.scanner", "unchanged"),
        ]
        assert picking.disabled == ["com.store.pricetags"]

        newer = [app("com.store.pricetags", 4), app("com.store.scanner", 7)]
        back = await rig.link.provision(1, "price-tags", newer)
        assert [(o.package, o.version_code, o.action) for o in back.apps] == [
            ("com.store.pricetags", 4, "updated"),
            ("com.store.scanner", 7, "unchanged"),
        ]
        assert back.disabled == ["com.store.picking"]
        # Back to picking: its app was only disabled, so it is enabled, not downloaded again.
        again = await rig.link.provision(1, "picking", PICKING)
        assert [o.action for o in again.apps] == ["enabled", "unchanged"]
        assert handheld.agent.installs == [
            ("com.store.pricetags", 3),
            ("com.store.scanner", 7),
            ("com.store.picking", 2),
            ("com.store.pricetags", 4),
        ]


async def test_ok__provision_retried_after_a_lost_reply_installs_nothing_more() -> None:
    handheld = SimHandheld("SIM0001")
    async with link_rig({1: handheld}) as rig:
        await rig.link.hello(1)
        handheld.fault, handheld.reply_delay_s = LinkFault.SLOW, 0.35
        with pytest.raises(LinkError) as caught:
            await rig.link.provision(1, "price-tags", PRICE_TAGS)
        assert caught.value.failure is LinkFailure.UNRESPONSIVE
        handheld.fault = None
        # The agent did the work; the retry finds it done (the late reply to the first try is dropped).
        retry = await rig.link.provision(1, "price-tags", PRICE_TAGS)
        assert retry.changed() == []
        assert len(handheld.agent.installs) == 2


async def test_fail__provision_refused_when_an_app_cannot_be_installed() -> None:
    handheld = SimHandheld("SIM0001")
    handheld.agent.unavailable.add("com.store.scanner")
    async with link_rig({1: handheld}) as rig:
        with pytest.raises(LinkError) as caught:
            await rig.link.provision(1, "price-tags", PRICE_TAGS)
        assert str(caught.value) == (
            "slot 1, device SIM0001: refused: agent refused provision: install_failed com.store.scanner:"
            " download failed: HTTP 404"
        )
        assert caught.value.failure is LinkFailure.REFUSED
        # A refusal leaves the link as it was.
        assert rig.link.accessory(1).is_open


async def test_fail__provision_request_too_long_for_a_frame() -> None:
    handheld = SimHandheld("SIM0001")
    apps = [
        AppPackage(
            package=f"com.store.app{n}", version_code=1, url="https://apps.store.test/" + "a" * 2000, sha256="0" * 64
        )
        for n in range(40)
    ]
    async with link_rig({1: handheld}) as rig:
        with pytest.raises(LinkError) as caught:
            await rig.link.provision(1, "everything", apps)
        assert str(caught.value) == (
            "slot 1, device SIM0001: frame too long: request provision: payload of 86334 bytes"
            " exceeds the 65536-byte limit"
        )
        assert handheld.agent.installs == []


async def test_fail__provision_with_a_home_app_not_in_the_list() -> None:
    async with link_rig({1: SimHandheld("SIM0001")}) as rig:
        with pytest.raises(
            ValueError, match=exactly("home app 'com.store.picking' is not one of work type 'price-tags''s apps")
        ):
            await rig.link.provision(1, "price-tags", PRICE_TAGS, home_app="com.store.picking")
        with pytest.raises(ValueError, match=exactly("work type 'price-tags' has no apps to provision")):
            await rig.link.provision(1, "price-tags", [])


async def test_ok__usage_since_a_time() -> None:
    rented_at = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    start_ms = int(rented_at.timestamp() * 1000)
    # The usage read-back comes eight hours into the rental.
    clock = HandClock(wall=rented_at + timedelta(hours=8))
    handheld = SimHandheld("SIM0001", agent=HandheldAgent("SIM0001", clock=clock))
    agent = handheld.agent
    agent.use("com.store.pricetags", 50, scans=400, at_ms=start_ms - 3_600_000)  # an earlier rental
    agent.use("com.store.pricetags", 95.5, scans=812, screen_on_minutes=140, at_ms=start_ms + 60_000)
    agent.use("com.store.scanner", 12, battery_drain_percent=38, drops=1, at_ms=start_ms + 7_200_000)
    async with link_rig({1: handheld}) as rig:
        report = await rig.link.usage(1, rented_at)
        assert report == UsageReport(
            since_ms=start_ms,
            until_ms=start_ms + 8 * 3_600_000,
            apps=[
                AppUsage(package="com.store.pricetags", minutes=95.5),
                AppUsage(package="com.store.scanner", minutes=12),
            ],
            scans=812,
            screen_on_minutes=140,
            battery_drain_percent=38,
            drops=1,
        )
        with pytest.raises(ValueError, match=exactly("a naive datetime has no place on the wire; give it a timezone")):
            await rig.link.usage(1, datetime(2025, 3, 1, 8, 0))


async def test_ok__end_session_signs_out_once() -> None:
    handheld = SimHandheld("SIM0001")
    async with link_rig({1: handheld}) as rig:
        await rig.link.provision(1, "price-tags", PRICE_TAGS)
        handheld.agent.use("com.store.pricetags", 30)
        assert await rig.link.end_session(1) == SessionEnded(signed_out=True, cleared=["com.store.pricetags"])
        assert await rig.link.end_session(1) == SessionEnded(signed_out=False, cleared=[])
        # The work type's apps stay: the next renter of that work type gets the device at once.
        assert (await rig.link.hello(1)).work_type == "price-tags"


async def test_ok__requests_to_one_slot_never_interleave() -> None:
    handheld = SimHandheld("SIM0001")
    handheld.step_s = 0.02
    async with link_rig({1: handheld}) as rig:
        results = await asyncio.gather(
            rig.link.selftest(1), rig.link.hello(1), rig.link.provision(1, "price-tags", PRICE_TAGS), rig.link.hello(1)
        )
        assert results[0].passed
        assert results[1].serial == results[3].serial == "SIM0001"
        assert results[2].work_type == "price-tags"
