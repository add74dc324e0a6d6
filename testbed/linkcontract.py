"""One handheld in slot 1 behind each device-link back-end, for the contract suite
(tests/hal/test_device_link_contract.py), each through its lowest-layer fake and the daemon's own
composition of the links (drivers.build_device_link, a `LinkChoice` over every back-end):

    aoa-agent                the agent app of a simulated handheld on the emulated USB bus
    adb                      a simulated stock Android handheld behind the fake adb server (loopback TCP)
    mdm:headwind+adb         the same, with the fake Headwind MDM server (loopback HTTP) moving it first
    mdm:headwind+aoa-agent   the agent handheld, moved by the fake Headwind server first

A `Handset` is the test's hand on the device itself, the same calls whatever is underneath: set its
battery, give it an app, make its next install fail, use it for a while.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from cabinetd.config import CabinetConfig, TimeoutsSection
from cabinetd.hal.agentprotocol import AppPackage, BatteryHealth
from cabinetd.hal.drivers import build_device_link
from cabinetd.hal.linkchoice import LinkChoice
from cabinetd.sim.adbserver import FakeAdbServer
from cabinetd.sim.agent import HandheldAgent
from cabinetd.sim.android import HEALTH_GOOD, Package, SimAndroid
from cabinetd.sim.handheld import SimHandheld
from cabinetd.sim.usbbus import SimUsbBackend
from cabinetd.sim.usbtopology import bus_for_config
from testbed.apkbuild import build_apk, signer
from testbed.headwind import FakeHeadwind
from testbed.usbrig import usb_config

SLOT: Final = 1
PORT: Final = "1-1.1"
LINKS: Final = ("aoa-agent", "adb", "mdm:headwind+adb", "mdm:headwind+aoa-agent")
# The Headwind configuration each work type's devices are moved into, by id (the fake's) and name.
CONFIGURATIONS: Final = {1: "Default", 7: "Price tags", 8: "Picking"}
WORK_CONFIGURATIONS: Final = {"price-tags": "Price tags", "picking": "Picking"}
REQUEST_S: Final = 2.0
STORE: Final = "store-apps"  # the test signer of the store's own apps (testbed/apkbuild.py)
# android.os.BatteryManager's BATTERY_HEALTH_* values, as `dumpsys battery` prints them.
ANDROID_HEALTH: Final[dict[BatteryHealth, int]] = {"good": HEALTH_GOOD, "overheat": 3, "dead": 4, "cold": 7}


class Handset(abc.ABC):
    """The device in the slot, as the test handles it."""

    serial: str

    @abc.abstractmethod
    def identity(self) -> dict[str, object]:
        """What the device says it is: serial, model, Android release and SDK level."""

    @abc.abstractmethod
    def build(self) -> tuple[str, str]:
        """Which field of the hello names the device's build, and what it must say: the build fingerprint
        of a stock device, the agent app's version on an agent handheld."""

    @abc.abstractmethod
    def set_battery(self, percent: int, *, charging: bool, health: BatteryHealth = "good") -> None: ...

    @abc.abstractmethod
    def give(self, package: str, version_code: int) -> None:
        """The device holds this app already, enabled (put there at staging or by an earlier provision)."""

    @abc.abstractmethod
    def apps(self) -> dict[str, tuple[int, bool]]:
        """Every app the device holds besides the system's: version code and whether it is enabled."""

    @abc.abstractmethod
    def fail_installs(self, package: str) -> None:
        """Installing `package` fails from now on, the way this kind of device fails one."""

    @abc.abstractmethod
    def worked(self, since: datetime, until: datetime, package: str, *, drain: int) -> None:
        """Someone used it: `package` in the foreground and the screen on from `since` to `until`, `drain`
        percentage points of battery spent, 40 scans and one drop where the device counts them."""

    @abc.abstractmethod
    def holds_data(self, package: str) -> bool:
        """Whether the app holds a person's data."""


class AgentHandset(Handset):
    def __init__(self, handheld: SimHandheld) -> None:
        self.serial = handheld.serial
        self.agent: HandheldAgent = handheld.agent
        self._system = set(self.agent.installed)

    def identity(self) -> dict[str, object]:
        agent = self.agent
        return {"serial": agent.serial, "model": agent.model, "os_version": agent.os_version, "sdk_int": agent.sdk_int}

    def build(self) -> tuple[str, str]:
        return "agent_version", self.agent.agent_version

    def set_battery(self, percent: int, *, charging: bool, health: BatteryHealth = "good") -> None:
        self.agent.set_battery(percent, charging=charging)
        self.agent.battery_health = health

    def give(self, package: str, version_code: int) -> None:
        self.agent.installed[package] = version_code
        self.agent.enabled.add(package)

    def apps(self) -> dict[str, tuple[int, bool]]:
        return {p: (v, p in self.agent.enabled) for p, v in self.agent.installed.items() if p not in self._system}

    def fail_installs(self, package: str) -> None:
        self.agent.unavailable.add(package)  # its download fails

    def worked(self, since: datetime, until: datetime, package: str, *, drain: int) -> None:
        minutes = (until - since).total_seconds() / 60
        at_ms = int(since.timestamp() * 1000)
        self.agent.use(
            package, minutes, scans=40, screen_on_minutes=minutes, battery_drain_percent=drain, drops=1, at_ms=at_ms
        )

    def holds_data(self, package: str) -> bool:
        return package in self.agent.session_data


class AndroidHandset(Handset):
    def __init__(self, android: SimAndroid) -> None:
        self.serial = android.serial
        self.android = android
        self._system = set(android.packages)

    def identity(self) -> dict[str, object]:
        android = self.android
        return {"serial": android.serial, "model": android.model, "os_version": android.release, "sdk_int": android.sdk}

    def build(self) -> tuple[str, str]:
        return "fingerprint", self.android.fingerprint

    def set_battery(self, percent: int, *, charging: bool, health: BatteryHealth = "good") -> None:
        self.android.battery.level = percent
        self.android.set_charging(charging)
        self.android.battery.health = ANDROID_HEALTH[health]

    def give(self, package: str, version_code: int) -> None:
        self.android.packages[package] = Package(version_code, signer_sha256=signer(STORE).sha256)

    def apps(self) -> dict[str, tuple[int, bool]]:
        held = self.android.packages.items()
        return {p: (found.version_code, found.enabled) for p, found in held if p not in self._system}

    def fail_installs(self, package: str) -> None:
        self.android.install_failure = "INSTALL_FAILED_INSUFFICIENT_STORAGE"  # Android refuses every one

    def worked(self, since: datetime, until: datetime, package: str, *, drain: int) -> None:
        self.android.worked(since.timestamp(), until.timestamp(), [package], drain)

    def holds_data(self, package: str) -> bool:
        found = self.android.packages.get(package)
        return found is not None and found.has_data


@dataclass
class ContractRig:
    link_name: str
    link: LinkChoice
    device: Handset
    packages: Path
    headwind: FakeHeadwind | None
    bus: SimUsbBackend
    adb: FakeAdbServer

    def take_out(self) -> None:
        """The handheld leaves the slot: off the USB port, and so out of the adb server's list."""
        self.bus.unplug(PORT)
        self.adb.detach(self.device.serial)

    def app(self, package: str, version_code: int) -> AppPackage:
        """The app as the fleet lists it, a real signed APK in the cabinet's package directory (the adb
        link's cache; the agent downloads its own)."""
        apk = build_apk(package, version_code, signed_by=STORE)
        digest = hashlib.sha256(apk).hexdigest()
        (self.packages / f"{digest}.apk").write_bytes(apk)
        return AppPackage(
            package=package, version_code=version_code, url=f"https://apps.example/{package}.apk", sha256=digest
        )


def _config(tmp_path: Path, headwind: FakeHeadwind | None) -> CabinetConfig:
    config = usb_config({SLOT: PORT})
    data = config.model_dump()
    data["timeouts"] = TimeoutsSection(device_request_s=REQUEST_S).model_dump()
    if headwind is not None:
        secret = tmp_path / "headwind.password"
        secret.write_text(headwind.password + "\n")
        data["mdm"] = {
            "headwind": {
                "url": headwind.url,
                "login": headwind.login,
                "password_file": str(secret),
                "policy": "refuse",  # the contract is the MDM's move: a failing one must not pass unseen
                "timeout_s": 1.0,
                "configurations": WORK_CONFIGURATIONS,
            }
        }
    return CabinetConfig.model_validate(data)


@contextlib.asynccontextmanager
async def contract_rig(link_name: str, tmp_path: Path) -> AsyncIterator[ContractRig]:
    """Slot 1 holding a handheld of a device model whose link is `link_name`."""
    stock = link_name.endswith("adb")
    serial = "A1-0001" if stock else "SIM0001"
    headwind = FakeHeadwind(configurations=dict(CONFIGURATIONS)) if link_name.startswith("mdm:") else None
    if headwind is not None:
        headwind.add_device(serial, configuration_id=1)
    config = _config(tmp_path, headwind)
    adb = FakeAdbServer()
    handheld = SimHandheld(serial, agent=HandheldAgent(serial, model="PDA R1"))
    device: Handset
    if stock:
        android = SimAndroid(serial, model="PDA A1")
        adb.attach(android, PORT)
        bus = bus_for_config(config)
        device = AndroidHandset(android)
    else:
        bus = bus_for_config(config, devices={SLOT: handheld.usb})
        device = AgentHandset(handheld)
    packages = tmp_path / "packages"
    packages.mkdir()
    link = build_device_link(
        config,
        lambda refresh: None,
        backend=bus,
        adb={"host": adb.host, "port": adb.port, "packages": packages},
        poll_s=0.01,
    )
    assert isinstance(link, LinkChoice)
    link.choose_by(lambda slot: link_name)
    await link.prepare()
    try:
        yield ContractRig(link_name, link, device, packages, headwind, bus, adb)
    finally:
        await link.cleanup()
        adb.close()
        if headwind is not None:
            headwind.close()
