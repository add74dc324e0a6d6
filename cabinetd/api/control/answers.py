"""How the control API reads a request and answers it: what it is handed (`Desk`), request bodies,
query numbers, who is asking, and the one error shape.

Every refusal or failure is `{"error": "one line"}` (shapes.Problem) with a 4xx/5xx status: a
maintenance refusal answers 404 (no such slot), 409 (not now) or 502 (the hardware failed).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cabinetd.api.control.peer import PEER_KEY, Peer
from cabinetd.api.jsonbody import BodyError, read_object
from cabinetd.config import CabinetConfig
from cabinetd.ledger import Ledger
from cabinetd.maintenance import Maintenance, Refused, Technician, Why
from cabinetd.packages.service import CacheReport
from cabinetd.views import CabinetView

log = logging.getLogger(__name__)

STATUS: Final = {Why.NO_SLOT: 404, Why.NOT_NOW: 409, Why.HARDWARE: 502}
WHOLE: Final = re.compile(r"-?[0-9]{1,19}")
DECIMAL: Final = re.compile(r"-?[0-9]{1,9}(\.[0-9]{1,9})?")


@dataclass(frozen=True)
class Desk:
    """What the control socket is handed: the technicians' actions, the cabinet's view, the ledger
    (opened by its own subsystem, so asked for when needed), the configuration and the package
    cache's report."""

    maintenance: Maintenance
    view: CabinetView
    ledger: Callable[[], Ledger]
    config: CabinetConfig
    packages: Callable[[], CacheReport] | None = None  # what the app package cache holds and lacks


class Denied(Exception):
    """A refusal of the API's own (not the cabinet's): `status` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReasonBody(Body):
    reason: Annotated[str, Field(min_length=1, max_length=200)]


class OptionalReasonBody(Body):
    reason: Annotated[str, Field(max_length=200)] = ""


Handler = Callable[[Request], Awaitable[Response]]
BodyT = TypeVar("BodyT", bound=Body)


def problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def answer(handler: Callable[[Request], Awaitable[BaseModel | Response]]) -> Handler:
    """Shapes become JSON; refusals and bad input become a Problem with one line."""

    async def respond(request: Request) -> Response:
        try:
            found = await handler(request)
        except Refused as exc:
            return problem(STATUS[exc.why], str(exc))
        except Denied as exc:
            return problem(exc.status, str(exc))
        except BodyError as exc:
            return problem(exc.status, f"bad request: {exc}")
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            return problem(400, f"bad request: {where}: {first['msg']}")
        except ValueError as exc:
            return problem(400, f"bad request: {exc}")
        except Exception as exc:
            log.exception("control API: %s %s failed", request.method, request.url.path)
            return problem(500, f"internal error: {type(exc).__name__}: {exc}")
        if isinstance(found, Response):
            return found
        return JSONResponse(found.model_dump(mode="json"))

    return respond


async def body(request: Request, model: type[BodyT]) -> BodyT:
    return model.model_validate(await read_object(request))


def who(request: Request) -> Technician:
    peer = request.scope.get(PEER_KEY)
    if not isinstance(peer, Peer):  # the gate lets no such request through; be sure all the same
        raise Denied(403, "refused: the kernel did not say who is connecting")
    return Technician(peer.user, peer.uid)


def query_int(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    # Plain ASCII digits only: int() also takes "1_000", " 7 " and other scripts' digits.
    if not WHOLE.fullmatch(text):
        raise ValueError(f"{name} must be a whole number, got {text[:40]!r}")
    value = int(text)
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def query_float(request: Request, name: str, default: float, lo: float, hi: float) -> float:
    """A finite number within [lo, hi]: float() takes "nan" and "inf", and NaN passes every min() and
    max() (min(nan, 30) is nan), so an unchecked wait could never end."""
    text = request.query_params.get(name)
    if text is None:
        return default
    if not DECIMAL.fullmatch(text):
        raise ValueError(f"{name} must be a number of seconds, got {text[:40]!r}")
    value = float(text)
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo:g} and {hi:g}, got {text}")
    return value


def slot_of(request: Request) -> int:
    return int(request.path_params["slot"])
