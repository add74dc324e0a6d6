"""The control API's actions: each a POST that asks the controller's maintenance desk (the same one the
cloud's commands go through), which checks it and records it as a `technician_action` event; here it
is only read from the request and answered in its documented shape."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.routing import Route

from cabinetd.api.control import shapes
from cabinetd.api.control.answers import (
    Body,
    Desk,
    Handler,
    OptionalReasonBody,
    ReasonBody,
    answer,
    body,
    slot_of,
    who,
)
from cabinetd.views import usb_device


class LockTestBody(Body):
    wait_s: Annotated[float, Field(gt=0, le=120)] | None = None


class PowerBody(Body):
    power: Literal["on", "off", "cycle"]


class Actions:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.maintenance = desk.maintenance
        self.view = desk.view

    def slot_action(
        self, action: Literal["open", "disable", "enable"], model: type[ReasonBody] | type[OptionalReasonBody]
    ) -> Handler:
        async def act(request: Request) -> BaseModel:
            reason = (await body(request, model)).reason
            number, asking = slot_of(request), who(request)
            match action:
                case "open":
                    await self.maintenance.open(number, asking, reason)
                case "disable":
                    await self.maintenance.disable(number, asking, reason)
                case "enable":
                    await self.maintenance.enable(number, asking, reason)
            state = self.maintenance.slot(number).state.value
            return shapes.ActionDone(slot=number, action=action, technician=asking.name, state=state)

        return answer(act)

    async def lock_test(self, request: Request) -> BaseModel:
        parsed = await body(request, LockTestBody)
        asking = who(request)
        done = await self.maintenance.lock_test(
            slot_of(request), asking, parsed.wait_s or self.desk.config.timeouts.door_open_s
        )
        return shapes.LockTest(
            slot=done.slot,
            door_opened=done.door_opened,
            waited_s=done.waited_s,
            door=self.view.door(done.slot),
            lock=self.view.lock(done.slot),
            technician=asking.name,
        )

    async def usb_power(self, request: Request) -> BaseModel:
        parsed = await body(request, PowerBody)
        number, asking = slot_of(request), who(request)
        back = await self.maintenance.usb_power(number, parsed.power, asking)
        device = shapes.UsbDevice.model_validate(usb_device(back), from_attributes=True) if back else None
        return shapes.UsbPower(slot=number, power=parsed.power, device=device, technician=asking.name)

    async def device_info(self, request: Request) -> BaseModel:
        found = await self.maintenance.device_info(slot_of(request))
        return shapes.DeviceInfo(
            slot=found.slot, **found.hello.model_dump(), health=found.health, last_rented_at=found.last_rented_at
        )

    async def selftest(self, request: Request) -> BaseModel:
        asking = who(request)
        done = await self.maintenance.selftest(slot_of(request), asking)
        checks = [shapes.SelftestCheck.model_validate(check.model_dump()) for check in done.checks]
        return shapes.Selftest(
            slot=done.slot, device=done.device, passed=done.passed, checks=checks, technician=asking.name
        )

    async def clear_report(self, request: Request) -> BaseModel:
        reason = (await body(request, OptionalReasonBody)).reason
        serial, asking = str(request.path_params["serial"]), who(request)
        held = await self.maintenance.clear_report(serial, asking, reason)
        return shapes.ReportCleared(
            device=serial,
            slot=held.number if held else None,
            technician=asking.name,
            state=held.state.value if held else None,
        )

    async def sync_now(self, request: Request) -> BaseModel:
        self.maintenance.sync_now(who(request))
        return shapes.SyncReport.model_validate(self.view.sync(), from_attributes=True)

    def routes(self) -> list[Route]:
        slot_path = "/slots/{slot:int}"
        return [
            Route(f"{slot_path}/open", self.slot_action("open", ReasonBody), methods=["POST"]),
            Route(f"{slot_path}/disable", self.slot_action("disable", ReasonBody), methods=["POST"]),
            Route(f"{slot_path}/enable", self.slot_action("enable", OptionalReasonBody), methods=["POST"]),
            Route(f"{slot_path}/lock-test", answer(self.lock_test), methods=["POST"]),
            Route(f"{slot_path}/usb-power", answer(self.usb_power), methods=["POST"]),
            Route(f"{slot_path}/device", answer(self.device_info)),
            Route(f"{slot_path}/selftest", answer(self.selftest), methods=["POST"]),
            Route("/devices/{serial}/clear", answer(self.clear_report), methods=["POST"]),
            Route("/sync/now", answer(self.sync_now), methods=["POST"]),
        ]
