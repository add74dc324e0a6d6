"""The control API: one JSON endpoint per `cabinetctl` command, served only on the control socket.

Reads are GET, anything that acts on the cabinet is POST and is recorded in the ledger. Every
refusal or failure is `{"error": "one line"}` with a 4xx/5xx status (shapes.Problem).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from cabinetd import logbuffer
from cabinetd.api.control import actions, shapes, views
from cabinetd.api.control.actions import Desk, Refused, Technician
from cabinetd.api.control.badges import BadgeWatch
from cabinetd.api.control.peer import PEER_KEY, Peer
from cabinetd.api.control.redact import redact
from cabinetd.ledger import Ledger

if TYPE_CHECKING:
    from cabinetd.cabinet import Cabinet

log = logging.getLogger(__name__)

MAX_EVENTS: Final = 10_000
EXPORT_PAGE: Final = 500
BADGE_WAIT_MAX_S: Final = 30.0


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReasonBody(Body):
    reason: Annotated[str, Field(min_length=1, max_length=200)]


class OptionalReasonBody(Body):
    reason: Annotated[str, Field(max_length=200)] = ""


class LockTestBody(Body):
    wait_s: Annotated[float, Field(gt=0, le=120)] | None = None


class PowerBody(Body):
    power: Literal["on", "off", "cycle"]


Handler = Callable[[Request], Awaitable[Response]]


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _answer(handler: Callable[[Request], Awaitable[BaseModel | Response]]) -> Handler:
    """Shapes become JSON; Refused and bad input become a Problem with one line."""

    async def respond(request: Request) -> Response:
        try:
            found = await handler(request)
        except Refused as exc:
            return _problem(exc.status, str(exc))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            return _problem(400, f"bad request: {where}: {first['msg']}")
        except ValueError as exc:
            return _problem(400, f"bad request: {exc}")
        except Exception as exc:
            log.exception("control API: %s %s failed", request.method, request.url.path)
            return _problem(500, f"internal error: {type(exc).__name__}: {exc}")
        if isinstance(found, Response):
            return found
        return JSONResponse(found.model_dump(mode="json"))

    return respond


async def _body(request: Request, model: type[Body]) -> Any:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        raise ValueError("the body is not JSON") from None
    return model.model_validate(data)


def _who(request: Request) -> Technician:
    peer = request.scope.get(PEER_KEY)
    if not isinstance(peer, Peer):  # the gate lets no such request through; be sure all the same
        raise Refused(403, "refused: the kernel did not say who is connecting")
    return Technician(peer.user, peer.uid)


def _int(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {text!r}") from None
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _slot(request: Request) -> int:
    return int(request.path_params["slot"])


def build_control_app(desk: Desk, badges: BadgeWatch) -> Starlette:
    cabinet: Cabinet = desk.cabinet

    def ledger() -> Ledger:
        return cabinet.controller.core.ledger

    async def status(request: Request) -> BaseModel:
        return views.status(cabinet)

    async def slots(request: Request) -> BaseModel:
        return shapes.SlotList(slots=views.slots(cabinet))

    async def slot(request: Request) -> BaseModel:
        return views.slot_detail(cabinet, desk.slot(_slot(request)), desk.switched_off)

    def slot_action(action: str, body: type[Body]) -> Handler:
        async def act(request: Request) -> BaseModel:
            parsed = await _body(request, body)
            return await actions.slot_action(desk, action, _slot(request), _who(request), parsed.reason)

        return _answer(act)

    async def lock_test(request: Request) -> BaseModel:
        parsed = await _body(request, LockTestBody)
        wait_s = parsed.wait_s or cabinet.config.timeouts.door_open_s
        return await actions.lock_test(desk, _slot(request), _who(request), wait_s)

    async def badge_reads(request: Request) -> BaseModel:
        after = _int(request, "after", -1, -1, 2**62)
        wait_s = min(float(request.query_params.get("wait_s", "0")), BADGE_WAIT_MAX_S)
        if after < 0:  # a new watcher: only reads from now on
            return shapes.BadgeReads(last=badges.last, reads=[])
        found = await badges.wait_after(after, wait_s)
        reads = [
            shapes.BadgeRead(
                seq=r.seq, at=r.at.isoformat(timespec="seconds"), badge=r.masked, reader=r.reader,
                staff=r.staff, name=r.name, role=r.role,
            )
            for r in found
        ]
        return shapes.BadgeReads(last=badges.last, reads=reads)

    async def usb_list(request: Request) -> BaseModel:
        ports = [views.usb_port(cabinet, n, desk.switched_off) for n in sorted(cabinet.controller.slots)]
        return shapes.UsbList(ports=ports, hubs=[views.part(p) for p in cabinet.hardware.ports.parts()])

    async def usb_power(request: Request) -> BaseModel:
        parsed = await _body(request, PowerBody)
        return await actions.usb_power(desk, _slot(request), parsed.power, _who(request))

    async def device_info(request: Request) -> BaseModel:
        return await actions.device_info(desk, _slot(request))

    async def selftest(request: Request) -> BaseModel:
        return await actions.selftest(desk, _slot(request), _who(request))

    async def ledger_tail(request: Request) -> BaseModel:
        n = _int(request, "n", 20, 1, MAX_EVENTS)
        found = ledger().tail(n)
        return shapes.EventList(epoch=ledger().sync_state().epoch, events=[views.event(e) for e in found])

    async def ledger_after(request: Request) -> BaseModel:
        current = ledger().sync_state().epoch
        epoch = request.query_params.get("epoch") or current
        seq = _int(request, "seq", 0, 0, 2**62)
        found = ledger().events_after(seq, EXPORT_PAGE, 1 << 20, epoch=epoch)
        return shapes.EventList(epoch=current, events=[views.event(e) for e in found])

    async def ledger_verify(request: Request) -> BaseModel:
        # On the loop: the ledger's connection belongs to it. A long chain holds the loop for a moment.
        result = ledger().verify()
        return shapes.LedgerVerify(
            ok=result.ok, events=result.events, epoch=result.epoch, seq=result.seq, reason=result.reason,
            summary=str(result),
        )

    async def ledger_stream(request: Request) -> Response:
        since_text = request.query_params.get("since")
        if since_text is not None:
            since = _moment(since_text)
            return StreamingResponse(_since(ledger(), since), media_type="application/x-ndjson")
        last = _int(request, "last", MAX_EVENTS, 1, MAX_EVENTS)
        found = ledger().tail(last)
        lines = [json.dumps(e.to_wire()) + "\n" for e in found]
        return StreamingResponse(
            _paced(lines), media_type="application/x-ndjson", headers={"x-event-count": str(len(lines))}
        )

    async def sync_status(request: Request) -> BaseModel:
        return views.sync_report(cabinet)

    async def sync_now(request: Request) -> BaseModel:
        return actions.sync_now(desk, _who(request))

    async def config(request: Request) -> BaseModel:
        return shapes.ConfigShow(config=redact(cabinet.config.model_dump(mode="json", exclude_none=True)))

    async def logs(request: Request) -> BaseModel:
        ring = logbuffer.recent()
        last = _int(request, "last", ring.capacity, 0, ring.capacity)
        records = [shapes.LogRecord(**vars(kept)) for kept in ring.records(last)]
        return shapes.LogList(capacity=ring.capacity, records=records)

    async def versions(request: Request) -> BaseModel:
        return views.versions(cabinet)

    slot_path = "/slots/{slot:int}"
    routes = [
        Route("/status", _answer(status)),
        Route("/slots", _answer(slots)),
        Route(slot_path, _answer(slot)),
        Route(f"{slot_path}/open", slot_action("open", ReasonBody), methods=["POST"]),
        Route(f"{slot_path}/disable", slot_action("disable", ReasonBody), methods=["POST"]),
        Route(f"{slot_path}/enable", slot_action("enable", OptionalReasonBody), methods=["POST"]),
        Route(f"{slot_path}/lock-test", _answer(lock_test), methods=["POST"]),
        Route(f"{slot_path}/usb-power", _answer(usb_power), methods=["POST"]),
        Route(f"{slot_path}/device", _answer(device_info)),
        Route(f"{slot_path}/selftest", _answer(selftest), methods=["POST"]),
        Route("/badges", _answer(badge_reads)),
        Route("/usb", _answer(usb_list)),
        Route("/ledger/tail", _answer(ledger_tail)),
        Route("/ledger/after", _answer(ledger_after)),
        Route("/ledger/verify", _answer(ledger_verify)),
        Route("/ledger/events", _answer(ledger_stream)),
        Route("/sync", _answer(sync_status)),
        Route("/sync/now", _answer(sync_now), methods=["POST"]),
        Route("/config", _answer(config)),
        Route("/logs", _answer(logs)),
        Route("/versions", _answer(versions)),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return _problem(404, f"no such endpoint: {request.method} {request.url.path}")

    async def wrong_method(request: Request, exc: Exception) -> Response:
        return _problem(405, f"{request.method} is not allowed on {request.url.path}")

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: wrong_method})


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"since must be an ISO 8601 time, got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _paced(lines: list[str]) -> AsyncIterator[str]:
    for index, line in enumerate(lines):
        yield line
        if index % EXPORT_PAGE == EXPORT_PAGE - 1:
            await asyncio.sleep(0)  # let the cabinet's own work go first


async def _since(ledger: Ledger, since: datetime) -> AsyncIterator[str]:
    """Every event at or after `since`, epoch by epoch, a page at a time."""
    for epoch in ledger.epochs():
        seq = 0
        while True:
            page = ledger.events_after(seq, EXPORT_PAGE, 1 << 22, epoch=epoch.epoch)
            if not page:
                break
            for event in page:
                if event.occurred() >= since:
                    yield json.dumps(event.to_wire()) + "\n"
            seq = page[-1].seq
            await asyncio.sleep(0)
