"""The `DeviceLink` over Android Open Accessory: one thread per slot for pyusb, results on the loop.

Each slot's blocking USB work (aoa.SlotAccessory) runs on the slot's own single thread, so requests
to one device never interleave, even when a caller gave up waiting on an earlier one; slots do not
wait for each other. Every request may stay silent for `request_timeout_s` (a `working` reply restarts
that timer) and may take at most REQUEST_LIMITS times it in all.

A watched slot's device is asked `hello` every `refresh_s` and each outcome goes to the refresh sink,
called on the loop. A refresh task that dies of anything but a LinkError stops `run()`, and with it
the daemon.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from cabinetd.config import CabinetConfig
from cabinetd.hal.agentframe import VERSION
from cabinetd.hal.agentprotocol import (
    AppPackage,
    Hello,
    ProvisionArgs,
    ProvisionReport,
    RequestType,
    SelftestReport,
    SessionEnded,
    UsageReport,
    since_ms,
)
from cabinetd.hal.aoa import AccessoryIdentity, ResultT, SlotAccessory
from cabinetd.hal.base import DeviceLink, DeviceRefresh, DeviceRefreshSink
from cabinetd.hal.errors import LinkError, LinkFailure
from cabinetd.hal.usbhub import PortPath
from cabinetd.hal.wiring import LinkWiring

log = logging.getLogger(__name__)

# How long each request may take in all, in request timeouts: a self-test runs its checks one by one,
# provisioning may download and install several apps.
REQUEST_LIMITS: Final[dict[RequestType, int]] = {
    "hello": 1,
    "selftest": 6,
    "provision": 30,
    "usage": 1,
    "end_session": 1,
}
REFRESH_S: Final = 60.0
CLOSE_WAIT_S: Final = 2.0


class AoaDeviceLink(DeviceLink):
    name = "device link"

    def __init__(
        self,
        ports: Mapping[int, PortPath],
        on_refresh: DeviceRefreshSink,
        *,
        cabinet_id: str,
        request_timeout_s: float,
        backend: Any = None,
        refresh_s: float = REFRESH_S,
        handshake_timeout_s: float | None = None,
        poll_s: float = 0.05,
        identity: AccessoryIdentity | None = None,
    ) -> None:
        super().__init__()
        self.slots = tuple(sorted(ports))
        self.request_timeout_s = request_timeout_s
        self.refresh_s = refresh_s
        self._on_refresh = on_refresh
        base = identity or AccessoryIdentity()
        self._accessories = {
            slot: SlotAccessory(
                slot,
                path,
                replace(base, serial=f"{cabinet_id}/slot-{slot}"),
                backend=backend,
                request_timeout_s=request_timeout_s,
                handshake_timeout_s=request_timeout_s if handshake_timeout_s is None else handshake_timeout_s,
                poll_s=poll_s,
            )
            for slot, path in ports.items()
        }
        self._threads: dict[int, ThreadPoolExecutor] = {}
        self._watching: dict[int, asyncio.Task[None]] = {}
        self._crash: BaseException | None = None
        self._crashed = asyncio.Event()

    @classmethod
    def from_config(
        cls, config: CabinetConfig, on_refresh: DeviceRefreshSink, *, backend: Any = None, **options: Any
    ) -> AoaDeviceLink:
        ports = {slot.number: PortPath.parse(slot.usb_port) for _, slot in config.slots()}
        return cls(
            ports,
            on_refresh,
            cabinet_id=config.cabinet.id,
            request_timeout_s=config.timeouts.device_request_s,
            backend=backend,
            **options,
        )

    def accessory(self, slot: int) -> SlotAccessory:
        try:
            return self._accessories[slot]
        except KeyError:
            raise ValueError(f"slot {slot} has no USB port in this cabinet") from None

    # --- life cycle -----------------------------------------------------------------------------------

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
        closing = [
            asyncio.wrap_future(self._threads[slot].submit(self._accessories[slot].close)) for slot in self._threads
        ]
        if closing:
            # A thread stuck in a read finishes at its timeout; shutdown does not wait that long.
            await asyncio.wait(closing, timeout=CLOSE_WAIT_S)
        for thread in self._threads.values():
            thread.shutdown(wait=False)
        self._threads.clear()

    # --- watching -------------------------------------------------------------------------------------

    def watch(self, slot: int) -> None:
        self.accessory(slot)
        task = self._watching.get(slot)
        if task is not None and not task.done():
            return
        task = asyncio.get_running_loop().create_task(self._refresh(slot), name=f"device link, slot {slot}")
        task.add_done_callback(self._refresh_ended)
        self._watching[slot] = task

    def unwatch(self, slot: int) -> None:
        accessory = self.accessory(slot)
        task = self._watching.pop(slot, None)
        if task is not None:
            task.cancel()
        if slot in self._threads:
            # Queued behind any request still running, so it closes what that request used.
            self._threads[slot].submit(accessory.close)

    def watched(self) -> tuple[int, ...]:
        return tuple(sorted(slot for slot, task in self._watching.items() if not task.done()))

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

    # --- requests -------------------------------------------------------------------------------------

    async def _call(self, slot: int, kind: RequestType, args: dict[str, Any], result: type[ResultT]) -> ResultT:
        accessory = self.accessory(slot)
        thread = self._threads.get(slot)
        if thread is None:
            thread = self._threads[slot] = ThreadPoolExecutor(1, thread_name_prefix=f"aoa-slot-{slot}")
        total_s = self.request_timeout_s * REQUEST_LIMITS[kind]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(thread, accessory.call, kind, args, result, total_s)

    async def hello(self, slot: int) -> Hello:
        hello = await self._call(slot, "hello", {}, Hello)
        accessory = self.accessory(slot)
        if accessory.serial is not None and hello.serial != accessory.serial:
            raise accessory.error(LinkFailure.WRONG_SERIAL, f"the agent reports serial {hello.serial!r}")
        if VERSION not in hello.protocol_versions:
            versions = ", ".join(str(version) for version in hello.protocol_versions) or "none"
            raise accessory.error(
                LinkFailure.UNKNOWN_VERSION, f"the agent speaks versions {versions}, the cabinet {VERSION}"
            )
        return hello

    async def selftest(self, slot: int, *, since: datetime | None = None) -> SelftestReport:
        return await self._call(slot, "selftest", {}, SelftestReport)  # the agent keeps its own counts

    async def provision(
        self,
        slot: int,
        work_type: str,
        apps: Sequence[AppPackage],
        *,
        home_app: str | None = None,
        others: Sequence[str] = (),
    ) -> ProvisionReport:
        # The agent knows which apps it installed for other work types and disables them itself.
        if not apps:
            raise ValueError(f"work type {work_type!r} has no apps to provision")
        home = home_app or apps[0].package
        if home not in {app.package for app in apps}:
            raise ValueError(f"home app {home!r} is not one of work type {work_type!r}'s apps")
        unreachable = [app.package for app in apps if app.url is None]
        if unreachable:
            # The agent downloads each app itself; the fleet gave these to cabinets only (by sha256).
            detail = f"no download URL for the agent for {', '.join(unreachable)}"
            raise self.accessory(slot).error(LinkFailure.REFUSED, detail)
        args = ProvisionArgs(work_type=work_type, home_app=home, apps=list(apps))
        return await self._call(slot, "provision", args.model_dump(mode="json"), ProvisionReport)

    async def usage(self, slot: int, since: datetime) -> UsageReport:
        return await self._call(slot, "usage", {"since_ms": since_ms(since)}, UsageReport)

    async def end_session(self, slot: int, *, clear: Sequence[str] = ()) -> SessionEnded:
        return await self._call(slot, "end_session", {}, SessionEnded)  # the agent clears its own session


def build_aoa_link(config: CabinetConfig, wiring: LinkWiring) -> DeviceLink:
    """The registry's builder for the `aoa` link (drivers.py)."""
    return AoaDeviceLink.from_config(config, wiring.on_refresh, backend=wiring.backend, **wiring.options)
