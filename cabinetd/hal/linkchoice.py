"""One `DeviceLink` for the flows, several back-ends under it: each slot's device is talked to over the
link its device model names in the fleet data (cabinetproto.links: `aoa-agent`, `adb`, ...).

Which link a slot's device takes is asked at every request (`link_of`, given by the controller, which
knows the fleet data; hal does not), so a device put into a slot that held another model's is talked to
in its own way from its first request. A slot's refresh runs on the back-end chosen when it was watched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from cabinetd.hal.agentprotocol import AppPackage, Hello, ProvisionReport, SelftestReport, SessionEnded, UsageReport
from cabinetd.hal.base import DeviceLink, LinkOf
from cabinetd.hal.errors import LinkError, LinkFailure
from cabinetd.hal.mdm import MdmAdapter, MdmError
from cabinetproto.links import DEFAULT_LINK, local_link, mdm_adapter

log = logging.getLogger(__name__)


class LinkChoice(DeviceLink):
    name = "device link"

    def __init__(self, backends: Mapping[str, DeviceLink], mdm: Mapping[str, MdmAdapter] | None = None) -> None:
        super().__init__()
        self.mdm = dict(mdm or {})
        if DEFAULT_LINK not in backends:
            raise ValueError(f"the {DEFAULT_LINK} link is needed: device models without a link use it")
        self.backends = dict(backends)
        self.slots = tuple(sorted({slot for backend in backends.values() for slot in backend.slots}))
        self._link_of: LinkOf = lambda slot: DEFAULT_LINK

    def choose_by(self, link_of: LinkOf) -> None:
        self._link_of = link_of

    def link_name(self, slot: int) -> str:
        return local_link(self._link_of(slot))

    def backend(self, slot: int) -> DeviceLink:
        name = self.link_name(slot)
        found = self.backends.get(name)
        if found is None:
            # A device model the fleet gives a link this cabinet was not built with: say so, never guess.
            raise LinkError(slot, None, LinkFailure.NO_LINK, f"this cabinet has no {name} link")
        return found

    # --- life cycle -----------------------------------------------------------------------------------

    async def prepare(self) -> None:
        for backend in self.backends.values():
            await backend.prepare()

    async def run(self) -> None:
        """Until a back-end's own work ends; its error (a dead refresh task) is this link's."""
        tasks = [asyncio.ensure_future(backend.run()) for backend in self.backends.values()]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def cleanup(self) -> None:
        for backend in self.backends.values():
            await backend.cleanup()
        for adapter in self.mdm.values():
            await adapter.close()

    # --- the interface, by slot -----------------------------------------------------------------------

    def watch(self, slot: int) -> None:
        chosen = self.backend(slot)
        for backend in self.backends.values():
            if backend is not chosen:
                backend.unwatch(slot)  # the slot held another model's device before
        chosen.watch(slot)

    def unwatch(self, slot: int) -> None:
        for backend in self.backends.values():
            backend.unwatch(slot)

    async def hello(self, slot: int) -> Hello:
        return await self.backend(slot).hello(slot)

    async def selftest(self, slot: int, *, since: datetime | None = None) -> SelftestReport:
        return await self.backend(slot).selftest(slot, since=since)

    async def provision(
        self,
        slot: int,
        work_type: str,
        apps: Sequence[AppPackage],
        *,
        home_app: str | None = None,
        others: Sequence[str] = (),
    ) -> ProvisionReport:
        backend = self.backend(slot)
        adapter = mdm_adapter(self._link_of(slot))
        if adapter is not None:
            await self._through_mdm(slot, adapter, backend, work_type)
        # Over the local link in every case: after the MDM's move it checks (and from the cabinet's own
        # packages completes) what the device holds, so nothing unverified is handed out.
        return await backend.provision(slot, work_type, apps, home_app=home_app, others=others)

    async def _through_mdm(self, slot: int, name: str, backend: DeviceLink, work_type: str) -> None:
        adapter = self.mdm.get(name)
        if adapter is None:
            raise LinkError(slot, None, LinkFailure.NO_LINK, f"this cabinet has no MDM adapter {name} ([mdm.{name}])")
        serial = (await backend.hello(slot)).serial
        try:
            configuration = await adapter.assign(serial, work_type)
        except MdmError as exc:
            if adapter.policy == "refuse":
                raise LinkError(slot, serial, LinkFailure.MDM, str(exc)) from None
            log.warning("slot %d: MDM %s; provisioning %s from the cabinet's packages instead", slot, exc, serial)
            return
        log.info("slot %d: %s moved into %s configuration %r", slot, serial, name, configuration)

    async def usage(self, slot: int, since: datetime) -> UsageReport:
        return await self.backend(slot).usage(slot, since)

    async def end_session(self, slot: int, *, clear: Sequence[str] = ()) -> SessionEnded:
        return await self.backend(slot).end_session(slot, clear=clear)
