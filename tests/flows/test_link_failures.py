"""Each way a stock handheld's link fails in the field, end to end through the real daemon code: what
the person at the cabinet is shown (the screen model and its English words from the kiosk's catalogue)
and what the ledger records. Anna's work, price tags, is done only on the stock Android model in slot 1
(tests/flows/test_adb_handhelds.py), so a device that cannot be provisioned leaves nothing to hand out.
Its apps are real APKs, signed (testbed/apkbuild.py), read by the simulated handheld as Android does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from cabinetd.sim.android import Package
from testbed.apkbuild import build_apk, signer
from testbed.headwind import FakeHeadwind
from tests.flows.rig import ROOT, Rig
from tests.flows.test_adb_handhelds import APPS as SIM_APPS
from tests.flows.test_adb_handhelds import HOME, SERIAL
from tests.flows.test_adb_handhelds import _roster as adb_roster
from tests.flows.test_flows import rent, screen
from tests.flows.test_mdm_handhelds import _roster as mdm_roster
from tests.flows.test_mdm_handhelds import _with_headwind

ENGLISH: Final[dict[str, str]] = json.loads(
    (ROOT / "cabinetd" / "api" / "static" / "i18n" / "en.json").read_text(encoding="utf-8")
)
INSTALL: Final = f"`pm install -r /data/local/tmp/{HOME}.apk` ({HOME})"
REFUSED: Final = {"view": "refused", "reason": "no_device_available", "minutes": None, "name": "Anna"}
NOTHING_READY: Final = (
    "No device for your work is ready right now",
    "The cabinet cannot tell yet when one will be ready",
)


def words(shown: dict[str, Any]) -> tuple[str, str]:
    """The message and the detail line the kiosk page writes for a refused screen (kiosk.js, `refused`)."""
    assert shown["view"] == "refused"
    message = ENGLISH.get(f"refused.{shown['reason']}", ENGLISH["refused.other"])
    minutes = shown.get("minutes")
    detail = ENGLISH["refused.minutes"].format(minutes=minutes) if minutes else ENGLISH["refused.no_estimate"]
    return message, detail


def since(rig: Rig, seq: int) -> list[tuple[str, int | None, str | None, str | None, dict[str, Any]]]:
    """Every event after `seq`: type, slot, device, staff and payload."""
    return [(e.type, e.slot, e.device, e.staff, e.payload) for e in rig.ledger.tail(100) if e.seq > seq]


def _real(entry: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    apk = build_apk(entry["package"], entry["version_code"], entry["version"], signed_by="store-apps")
    return {**entry, "sha256": hashlib.sha256(apk).hexdigest()}, apk


# The work type's apps as the store publishes them: the same packages and versions, as real APKs.
APPS: Final = [_real(entry) for entry, _ in SIM_APPS]


def with_real_apps(roster: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for op in roster:
        if op["entity"] == "work_types" and op["id"] == "price-tags":
            op["data"] = {**op["data"], "apps": [entry for entry, _ in APPS]}
    return roster


async def cabinet(tmp_path: Path, **rig: Any) -> Rig:
    built = Rig(tmp_path, occupied=[5, 7], **{"roster": adb_roster(), **rig})
    built.roster = with_real_apps([dict(op) for op in built.roster])
    built.sim.packages.mkdir(parents=True)
    for entry, apk in APPS:
        (built.sim.packages / f"{entry['sha256']}.apk").write_bytes(apk)
    built.sim.insert(1, built.sim.handheld(SERIAL, model="pda-a1", link="adb"))
    await built.start()
    await built.until(lambda: built.state(1) in ("ready", "charging"), within=10)
    # The slot's first refresh is on its way now; a request of our own queues behind it on the slot's
    # thread, so once it returns the refresh has landed and a fault set next is not seen by it.
    await built.controller.core.hardware.link.hello(1)
    await built.until(lambda: True)
    return built


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    built = await cabinet(tmp_path)
    yield built
    await built.stop()
    built.sim.close()


async def refused_after_badge(rig: Rig) -> list[tuple[str, int | None, str | None, str | None, dict[str, Any]]]:
    """Anna badges; the cabinet refuses her. The events it recorded from her badge on."""
    mark = rig.ledger.tail(1)[0].seq
    rig.sim.badge("A1B2C3")
    await rig.until(lambda: screen(rig).get("view") == "refused", within=10)
    assert screen(rig) == REFUSED
    assert words(screen(rig)) == NOTHING_READY
    return since(rig, mark)


def provisioning_failed(reason: str) -> list[tuple[str, int | None, str | None, str | None, dict[str, Any]]]:
    return [
        ("provisioning_failed", 1, SERIAL, None, {"work_type": "price-tags", "reason": reason}),
        ("rent_refused", None, None, "anna", {"reason": "no_device_available", "minutes": None}),
    ]


OTHER_SIGNER: Final = signer("handheld-maker").sha256


def _unauthorised(rig: Rig) -> None:
    rig.sim.adb.devices[SERIAL].state = "unauthorized"  # its adb keys were revoked on the device


def _offline_mid_install(rig: Rig) -> None:
    rig.sim.adb.devices[SERIAL].drop_after_bytes = 1  # falls off the bus part way through the push


def _no_storage(rig: Rig) -> None:
    rig.sim.androids[SERIAL].install_failure = "INSTALL_FAILED_INSUFFICIENT_STORAGE"


def _other_signature(rig: Rig) -> None:
    # An older home app signed by someone else was put on the device at staging.
    rig.sim.androids[SERIAL].packages[HOME] = Package(230, signer_sha256=OTHER_SIGNER)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (
            _unauthorised,
            f"slot 1, device {SERIAL}: unauthorised: it has not accepted this cabinet's adb key"
            " (authorise it at staging, docs/deployment.md)",
        ),
        (
            _offline_mid_install,
            f"slot 1, device {SERIAL}: offline: push {APPS[0][0]['sha256']}.apk to /data/local/tmp/{HOME}.apk:"
            " the device went away mid-command",
        ),
        (
            _no_storage,
            f"slot 1, device {SERIAL}: install failed: {INSTALL}: INSTALL_FAILED_INSUFFICIENT_STORAGE",
        ),
        (
            _other_signature,
            f"slot 1, device {SERIAL}: install failed: {INSTALL}: INSTALL_FAILED_UPDATE_INCOMPATIBLE:"
            f" Existing package {HOME} signatures do not match newer version; ignoring!",
        ),
    ],
    ids=["key not authorised", "offline mid-install", "insufficient storage", "wrong signature"],
)
async def test_fail__a_stock_handheld_that_cannot_be_provisioned_is_not_handed_out(
    rig: Rig, fault: Callable[[Rig], None], reason: str
) -> None:
    fault(rig)
    assert await refused_after_badge(rig) == provisioning_failed(reason)
    assert rig.events("dispense_started") == []
    assert rig.state(1) in ("ready", "charging")


@pytest.fixture
def headwind() -> Iterator[FakeHeadwind]:
    server = FakeHeadwind(configurations={1: "Default", 7: "Price tags"})
    server.add_device(SERIAL, configuration_id=1)
    yield server
    server.close()


async def managed_cabinet(tmp_path: Path, server: FakeHeadwind, policy: str) -> Rig:
    """The stock model managed by the fleet's Headwind MDM (`mdm:headwind+adb`), the store's policy given."""
    secret = tmp_path / "headwind.password"
    secret.write_text(server.password)
    return await cabinet(tmp_path, roster=mdm_roster(), rewire=_with_headwind(server, secret, policy))


def _mdm_fault(server: FakeHeadwind, fault: str) -> None:
    if fault == "answers 500":
        server.fail_with = 500
    else:
        server.hang_s = 1.5  # past the adapter's 0.5 s (tests/flows/test_mdm_handhelds.py)


@pytest.mark.parametrize(
    ("fault", "detail"),
    [
        ("answers 500", "GET /rest/private/configurations/list: HTTP 500"),
        ("hangs", "POST /rest/public/jwt/login: no answer in 0.5 s"),
    ],
)
async def test_fail__with_the_mdm_failing_a_refusing_store_hands_out_nothing(
    tmp_path: Path, headwind: FakeHeadwind, fault: str, detail: str
) -> None:
    rig = await managed_cabinet(tmp_path, headwind, "refuse")
    try:
        _mdm_fault(headwind, fault)
        reason = f"slot 1, device {SERIAL}: MDM: headwind: unreachable: {detail}"
        assert await refused_after_badge(rig) == provisioning_failed(reason)
        assert headwind.moves == []
        assert HOME not in rig.sim.androids[SERIAL].packages  # nothing installed behind the policy's back
        assert rig.state(1) in ("ready", "charging")
    finally:
        await rig.stop()
        rig.sim.close()


@pytest.mark.parametrize("fault", ["answers 500", "hangs"])
async def test_ok__with_the_mdm_failing_a_fallback_store_provisions_from_its_own_packages(
    tmp_path: Path, headwind: FakeHeadwind, fault: str
) -> None:
    rig = await managed_cabinet(tmp_path, headwind, "fallback")
    try:
        _mdm_fault(headwind, fault)
        mark = rig.ledger.tail(1)[0].seq
        rig.sim.badge("A1B2C3")
        await rig.until(lambda: screen(rig).get("step") == "door", within=10)
        shown = screen(rig)
        assert shown == {
            "view": "dispensing",
            "step": "door",
            "slot": 1,
            "name": "Anna",
            "relock_at": shown["relock_at"],
        }
        assert ENGLISH["dispensing.door"].format(slot=shown["slot"]) == "Open the door of slot 1"
        apps = [{"package": entry["package"], "version": str(entry["version_code"])} for entry, _ in APPS]
        # The MDM's failure is in the log only: the device was provisioned all the same, and that is the fact.
        assert since(rig, mark) == [
            ("device_provisioned", 1, SERIAL, None, {"work_type": "price-tags", "apps": apps}),
            ("dispense_started", 1, SERIAL, "anna", {"work_type": "price-tags"}),  # also the move to dispensing
        ]
        assert headwind.moves == []
        installed = rig.sim.androids[SERIAL].packages[HOME]
        assert (installed.version_code, installed.signer_sha256) == (240, signer("store-apps").sha256)
    finally:
        await rig.stop()
        rig.sim.close()


async def test_fail__a_returned_stock_handheld_whose_key_is_no_longer_accepted_goes_to_repair(rig: Rig) -> None:
    await rent(rig)
    rental = rig.ledger.held_by("anna")[0]
    mark = rig.ledger.tail(1)[0].seq
    rig.sim.badge("A1B2C3")
    await rig.until(lambda: screen(rig).get("view") == "returning" and screen(rig).get("step") == "door")
    slot = int(screen(rig)["slot"])  # type: ignore[call-overload]
    rig.sim.locks.door(slot).pull()
    await rig.until(lambda: screen(rig).get("step") == "insert")
    rig.sim.insert(slot, rig.sim.handheld(SERIAL))
    _unauthorised(rig)  # its adb keys were revoked while it was out
    await rig.until(lambda: rig.controller.core.hardware.ports.present(slot) is not None)
    rig.sim.locks.door(slot).push()
    await rig.until(lambda: screen(rig).get("view") == "returned", within=10)
    assert screen(rig) == {"view": "returned", "slot": slot, "passed": False, "failing": ["unresponsive"]}
    checks = ", ".join(ENGLISH[f"check.{name}"] for name in screen(rig)["failing"])  # type: ignore[attr-defined]
    assert ENGLISH["returned.failed"].format(checks=checks) == "The device failed its self-test: does not respond"
    link = (
        f"slot {slot}, device {SERIAL}: unauthorised: it has not accepted this cabinet's adb key"
        " (authorise it at staging, docs/deployment.md)"
    )
    evidence = {"unresponsive": "no answer, also after a power cycle", "link": link}
    recorded = since(rig, mark)
    ticket_id = recorded[4][4].get("ticket_id")
    assert recorded == [
        ("return_started", slot, SERIAL, "anna", {"expected": SERIAL}),
        ("slot_state_changed", slot, None, None, {"from": "empty", "reason": "", "to": "receiving"}),
        ("slot_state_changed", slot, SERIAL, None, {"from": "receiving", "reason": "", "to": "inspecting"}),
        (
            "device_returned",
            slot,
            SERIAL,
            None,
            {"rental_id": rental.rental_id, "usage": {}, "selftest": evidence, "unexpected": False},
        ),
        ("repair_ticket_opened", slot, SERIAL, None, {"evidence": evidence, "ticket_id": ticket_id}),
        ("slot_state_changed", slot, SERIAL, None, {"from": "inspecting", "reason": "", "to": "faulty"}),
    ]
    assert rig.state(slot) == "faulty"
    assert rig.ledger.held_by("anna") == []  # the rental is closed: a return is never refused
