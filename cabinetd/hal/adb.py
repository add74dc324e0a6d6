"""The `adb` device link: stock Android handhelds through the adb server, with adbutils (docs/device-adb.md).

A slot's device is the one the server lists (`host:devices-l`) on the slot's USB port path. Every
request runs on the slot's own thread, as the agent link's do; each command is bounded by the device
request timeout (an install by INSTALL_LIMIT of them). Every failure is a `LinkError` naming the slot,
the device and the command: an unauthorised key, a device offline, Android's reason for a refused
install (`INSTALL_FAILED_VERSION_DOWNGRADE`).

The server is a unit of its own (systemd/cabinet-adb.service): the link never starts one, so a server
that is not there is said as such rather than hidden by a client that spawns its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

from cabinetd.config import CabinetConfig
from cabinetd.hal import adbchecks, adbparse
from cabinetd.hal.adbinstall import Installer
from cabinetd.hal.adbsession import AdbServer, AdbSession
from cabinetd.hal.agentprotocol import (
    AppPackage,
    Hello,
    ProvisionReport,
    SelftestReport,
    SessionEnded,
    UsageReport,
    since_ms,
)
from cabinetd.hal.base import DeviceLink, DeviceRefresh, DeviceRefreshSink
from cabinetd.hal.errors import LinkError, LinkFailure
from cabinetd.hal.usbhub import PortPath
from cabinetd.hal.wiring import LinkWiring

log = logging.getLogger(__name__)

REFRESH_S: Final = 60.0
PROPS: Final = (
    "ro.serialno",
    "ro.product.model",
    "ro.product.manufacturer",
    "ro.build.version.release",
    "ro.build.version.sdk",
    "ro.build.fingerprint",
)
T = TypeVar("T")


class AdbDeviceLink(DeviceLink):
    name = "adb device link"

    def __init__(
        self,
        ports: Mapping[int, PortPath],
        on_refresh: DeviceRefreshSink,
        *,
        host: str,
        port: int,
        packages: Path,
        request_timeout_s: float,
        refresh_s: float = REFRESH_S,
    ) -> None:
        super().__init__()
        self.ports = dict(ports)
        self.slots = tuple(sorted(ports))
        self.server = AdbServer(host, port, request_timeout_s)
        self.installer = Installer(packages)
        self.request_timeout_s = request_timeout_s
        self.refresh_s = refresh_s
        self._on_refresh = on_refresh
        self._threads: dict[int, ThreadPoolExecutor] = {}
        self._watching: dict[int, asyncio.Task[None]] = {}
        self._crash: BaseException | None = None
        self._crashed = asyncio.Event()
        # What the cabinet saw of each device, kept while the daemon runs (docs/device-adb.md, "Usage"):
        self._levels: dict[str, int] = {}  # battery at the last look
        self._left_with: dict[str, int] = {}  # battery when it left its slot
        self._provisioned: dict[str, str] = {}  # the work type last provisioned
        self._seen: dict[str, int] = {}  # the slot each device was last talked to in

    @classmethod
    def from_config(cls, config: CabinetConfig, on_refresh: DeviceRefreshSink, **options: Any) -> AdbDeviceLink:
        ports = {slot.number: PortPath.parse(slot.usb_port) for _, slot in config.slots()}
        settings: dict[str, Any] = {"host": config.adb.host, "port": config.adb.port, "packages": config.adb.packages}
        settings.update(options)
        return cls(ports, on_refresh, request_timeout_s=config.timeouts.device_request_s, **settings)

    # --- life cycle and watching ----------------------------------------------------------------------

    async def run(self) -> None:
        await self._crashed.wait()
        assert self._crash is not None
        raise self._crash

    async def cleanup(self) -> None:
        tasks = list(self._watching.values())
        self._watching.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for thread in self._threads.values():
            thread.shutdown(wait=False)
        self._threads.clear()

    def watch(self, slot: int) -> None:
        self._port(slot)
        task = self._watching.get(slot)
        if task is not None and not task.done():
            return
        task = asyncio.get_running_loop().create_task(self._refresh(slot), name=f"adb device link, slot {slot}")
        task.add_done_callback(self._refresh_ended)
        self._watching[slot] = task

    def unwatch(self, slot: int) -> None:
        self._port(slot)
        task = self._watching.pop(slot, None)
        if task is not None:
            task.cancel()
        serial = next((s for s, at in self._seen.items() if at == slot), None)
        if serial is not None and serial in self._levels:
            self._left_with[serial] = self._levels[serial]  # the battery it left with: usage's baseline

    async def _refresh(self, slot: int) -> None:
        while True:
            try:
                refresh = DeviceRefresh(slot, await self.hello(slot), None)
            except LinkError as error:
                log.warning("%s", error)
                refresh = DeviceRefresh(slot, None, error)
            self._on_refresh(refresh)
            await asyncio.sleep(self.refresh_s)

    def _refresh_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        log.error("%s died", task.get_name(), exc_info=task.exception())
        if self._crash is None:
            self._crash = task.exception()
            self._crashed.set()

    def _port(self, slot: int) -> PortPath:
        try:
            return self.ports[slot]
        except KeyError:
            raise ValueError(f"slot {slot} has no USB port in this cabinet") from None

    async def _on_thread(self, slot: int, work: Callable[[AdbSession], T]) -> T:
        self._port(slot)
        thread = self._threads.get(slot)
        if thread is None:
            thread = self._threads[slot] = ThreadPoolExecutor(1, thread_name_prefix=f"adb-slot-{slot}")

        def session() -> T:
            found = AdbSession(self.server, slot, self.ports[slot])
            assert found.serial is not None
            self._seen[found.serial] = slot
            return work(found)

        return await asyncio.get_running_loop().run_in_executor(thread, session)

    # --- requests -------------------------------------------------------------------------------------

    async def hello(self, slot: int) -> Hello:
        return await self._on_thread(slot, self._hello)

    def _hello(self, session: AdbSession) -> Hello:
        values = session.run("; ".join(f"getprop {name}" for name in PROPS)).split("\n")
        props = dict(zip(PROPS, values, strict=False))
        battery = session.parsed(adbparse.battery, "dumpsys", "battery")
        free = session.parsed(adbparse.free_bytes, "df", "-k", "/data")
        serial = props.get("ro.serialno") or session.serial or ""
        self._levels[serial] = battery.level
        try:
            return Hello(
                serial=serial,
                model=props.get("ro.product.model", ""),
                manufacturer=props.get("ro.product.manufacturer", ""),
                os_version=props.get("ro.build.version.release", ""),
                sdk_int=int(props.get("ro.build.version.sdk") or 1),
                battery_percent=battery.level,
                battery_health=battery.health,
                charging=battery.charging,
                storage_free_bytes=free,
                work_type=self._provisioned.get(serial),
                fingerprint=props.get("ro.build.fingerprint", ""),
                battery_temperature_c=battery.temperature_c,
                charge_counter_uah=battery.charge_counter_uah,
            )
        except ValueError as error:
            raise session.error(LinkFailure.BAD_REPLY, f"getprop: {error}") from None

    async def selftest(self, slot: int, *, since: datetime | None = None) -> SelftestReport:
        def test(session: AdbSession) -> SelftestReport:
            battery = session.parsed(adbparse.battery, "dumpsys", "battery")
            free = session.parsed(adbparse.free_bytes, "df", "-k", "/data")
            uptime = session.parsed(adbparse.uptime_s, "cat", "/proc/uptime")
            zone = session.zone()
            entries = session.parsed(lambda text: adbparse.dropbox(text, zone), "dumpsys", "dropbox")
            return adbchecks.judge(battery, free, uptime, entries, since)

        return await self._on_thread(slot, test)

    async def provision(
        self,
        slot: int,
        work_type: str,
        apps: Sequence[AppPackage],
        *,
        home_app: str | None = None,
        others: Sequence[str] = (),
    ) -> ProvisionReport:
        if not apps:
            raise ValueError(f"work type {work_type!r} has no apps to provision")
        home = home_app or apps[0].package
        if home not in {app.package for app in apps}:
            raise ValueError(f"home app {home!r} is not one of work type {work_type!r}'s apps")

        def provision(session: AdbSession) -> ProvisionReport:
            report = self.installer.provision(session, work_type, apps, home, others)
            assert session.serial is not None
            self._provisioned[session.serial] = work_type
            return report

        return await self._on_thread(slot, provision)

    async def usage(self, slot: int, since: datetime) -> UsageReport:
        until = datetime.now(UTC)

        def read(session: AdbSession) -> UsageReport:
            zone = session.zone()
            events = session.parsed(lambda text: adbparse.usage_events(text, zone), "dumpsys", "usagestats")
            battery = session.parsed(adbparse.battery, "dumpsys", "battery")
            apps, screen = adbchecks.usage(events, since, until)
            left_with = self._left_with.get(session.serial or "")
            return UsageReport(
                since_ms=since_ms(since),
                until_ms=since_ms(until),
                apps=apps,
                scans=0,  # a stock device keeps no count of scans
                screen_on_minutes=screen,
                battery_drain_percent=max(0, left_with - battery.level) if left_with is not None else 0,
                drops=0,  # nor of drops
            )

        return await self._on_thread(slot, read)

    async def end_session(self, slot: int, *, clear: Sequence[str] = ()) -> SessionEnded:
        def end(session: AdbSession) -> SessionEnded:
            held = session.parsed(adbparse.package_names, "pm", "list", "packages")
            cleared = []
            for package in (p for p in clear if p in held):
                session.run("am", "force-stop", package)
                session.run("pm", "clear", package)
                cleared.append(package)
            return SessionEnded(signed_out=True, cleared=cleared)

        return await self._on_thread(slot, end)


def build_adb_link(config: CabinetConfig, wiring: LinkWiring) -> DeviceLink:
    """The registry's builder for the `adb` link (drivers.py)."""
    return AdbDeviceLink.from_config(config, wiring.on_refresh, **wiring.adb_options)
