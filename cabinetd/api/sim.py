"""`/sim/*`: play the simulated cabinet's physical world over HTTP, and the panel page that does it.

Only mounted when `[hal] type = "sim"`. Every action goes through the physical models under the
production drivers: a badge is a frame written into the reader's pty, a door is pulled on its model,
a handheld is plugged on the emulated USB bus. A `take` or `put` on a slot whose lock holds the door
answers 409 and changes nothing. Every answer that succeeds carries the world as `GET /sim/state` does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cabinetd.api.jsonbody import BodyError, read_object
from cabinetd.ledger import Ledger
from cabinetd.sim.badgereader import card_data
from cabinetd.sim.world import SimConflict, SimNotFound, SimWorld

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BadgeBody(_Body):
    uid: str


class PutBody(_Body):
    serial: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    model: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class DoorBody(_Body):
    open: bool
    force: bool = False


class DeviceBody(_Body):
    battery: Annotated[float, Field(ge=0, le=100)] | None = None
    selftest: str | None = None
    responsive: bool | None = None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


BodyT = TypeVar("BodyT", bound=_Body)


async def _body(request: Request, model: type[BodyT]) -> BodyT:
    return model.model_validate(await read_object(request))


def _answering(world: SimWorld, action: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """A POST that changes the world: the world's state after it, or the reason it was refused."""

    async def endpoint(request: Request) -> Response:
        try:
            await action(request)
        except BodyError as exc:
            return _error(exc.status, str(exc))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"]) or "body"
            return _error(400, f"{where}: {error['msg']}")
        except ValueError as exc:  # bad JSON, or a value the world refuses
            return _error(400, str(exc))
        except SimNotFound as exc:
            return _error(404, str(exc))
        except SimConflict as exc:
            return _error(409, str(exc))
        return JSONResponse(world.state())

    return endpoint


def sim_routes(world: SimWorld, ledger: Callable[[], Ledger]) -> list[BaseRoute]:
    def answer(action: Callable[[Request], Any]) -> Callable[[Request], Any]:
        return _answering(world, action)

    async def panel(request: Request) -> FileResponse:
        return FileResponse(STATIC / "sim.html", headers={"Cache-Control": "no-cache"})

    async def state(request: Request) -> JSONResponse:
        return JSONResponse(world.state())

    async def staff(request: Request) -> JSONResponse:
        # The roster replica, so that the panel offers badges that mean something to this cabinet.
        rows = ledger().store.rows("SELECT badge, name, store, work_type, role, active FROM staff ORDER BY name")
        keys = ("badge", "name", "store", "work_type", "role", "active")
        return JSONResponse([dict(zip(keys, row, strict=True)) | {"active": bool(row[5])} for row in rows])

    async def badge(request: Request) -> None:
        uid = (await _body(request, BadgeBody)).uid.strip()
        card_data(uid)  # refuses, with the forms it takes, what no card could carry
        log.info("simulator: badge %s presented", uid)
        world.badge(uid)

    async def take(request: Request) -> None:
        await world.take(request.path_params["slot"])

    async def put(request: Request) -> None:
        body = await _body(request, PutBody)
        await world.put(request.path_params["slot"], body.serial, body.model)

    async def door(request: Request) -> None:
        body = await _body(request, DoorBody)
        await world.door(request.path_params["slot"], to_open=body.open, force=body.force)

    async def device(request: Request) -> None:
        body = await _body(request, DeviceBody)
        world.set_device(
            request.path_params["serial"], battery=body.battery, selftest=body.selftest, responsive=body.responsive
        )

    return [
        Route("/sim", panel),
        Route("/sim/state", state),
        Route("/sim/staff", staff),
        Route("/sim/badge", answer(badge), methods=["POST"]),
        Route("/sim/slots/{slot:int}/take", answer(take), methods=["POST"]),
        Route("/sim/slots/{slot:int}/put", answer(put), methods=["POST"]),
        Route("/sim/slots/{slot:int}/door", answer(door), methods=["POST"]),
        Route("/sim/devices/{serial:str}", answer(device), methods=["POST"]),
    ]
