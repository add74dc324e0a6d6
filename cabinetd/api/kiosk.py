"""The touchscreen kiosk: its page and files, the state it renders, and the buttons it sends back.

The page is static (cabinetd/api/static, no build step). What it shows comes as one JSON document,
`GET /kiosk/state` once and `GET /kiosk/events` as server-sent events: the controller's screen (view and
its fields), the cabinet (online or offline, ready devices per work type, the slot map with alarms) and
the session of the person at the cabinet (name, work type, the devices they hold with due times, the
choices they have). Words are the page's business: it turns views and reasons into the catalogue of
the chosen language.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final, Protocol

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from cabinetd.api.jsonbody import BodyError, read_object
from cabinetd.api.problem_report import report_endpoint
from cabinetd.screen import Screen
from cabinetd.views import CabinetView

log = logging.getLogger(__name__)

STATIC: Final = Path(__file__).parent / "static"
# How often an open event stream looks for changes the screen does not announce (a device charged to
# ready, the cloud link going down); cheap, and only while a kiosk is connected.
CABINET_CHECK_S: Final = 2.0
KEEPALIVE_S: Final = 15.0
CHOICES: Final = frozenset({"rent", "return", "look", "cancel"})


def kiosk_model(view: CabinetView) -> dict[str, Any]:
    session = view.session()
    kiosk = view.config.kiosk
    return {
        "screen": view.screen.snapshot(),
        "notice": view.screen.notice,
        "cabinet": {
            "online": view.online(),
            "language": kiosk.language,
            "sound": kiosk.sound,
            "help_contact": kiosk.help_contact,
            "ready": [asdict(count) for count in view.ready()],
            "modules": [asdict(module) for module in view.modules()],
            "slots": [asdict(mark) for mark in view.slot_marks()],
        },
        "session": None if session is None else asdict(session),
        # The technician's screen shows the software: installed, offered, the last update's outcome.
        "software": asdict(view.software()) if view.screen.state.get("view") == "maintenance" else None,
    }


class Touchscreen(Protocol):
    """What the kiosk's buttons reach: the controller's screen choices and its PIN check."""

    async def choose(self, choice: str) -> None: ...

    async def submit_pin(self, pin: str) -> bool: ...

    async def report_problem(self, reason: str, note: str) -> str | None: ...


def kiosk_routes(view: CabinetView, touchscreen: Touchscreen) -> list[BaseRoute]:
    def model() -> dict[str, Any]:
        return kiosk_model(view)

    async def page(request: Request) -> FileResponse:
        return FileResponse(STATIC / "kiosk.html", headers={"Cache-Control": "no-cache"})

    async def state(request: Request) -> JSONResponse:
        return JSONResponse(model())

    async def choose(request: Request) -> Response:
        try:
            choice = (await read_object(request)).get("choice")
        except BodyError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        if choice not in CHOICES:
            return JSONResponse({"error": f"choice must be one of {', '.join(sorted(CHOICES))}"}, status_code=400)
        await touchscreen.choose(str(choice))
        return JSONResponse(model())

    async def pin(request: Request) -> Response:
        try:
            entered = (await read_object(request)).get("pin")
        except BodyError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        if not isinstance(entered, str) or not entered.isdigit() or not 4 <= len(entered) <= 8:
            return JSONResponse({"error": "pin must be 4 to 8 digits"}, status_code=400)
        accepted = await touchscreen.submit_pin(entered)
        return JSONResponse({"accepted": accepted})

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)  # a kiosk has no tab to show an icon in

    return [
        Route("/", page),
        Route("/favicon.ico", no_icon),
        Route("/kiosk/state", state),
        Route("/kiosk/events", EventStream(view.screen, model)),
        Route("/kiosk/choose", choose, methods=["POST"]),
        Route("/kiosk/pin", pin, methods=["POST"]),
        Route("/kiosk/report", report_endpoint(touchscreen, model), methods=["POST"]),
        Mount("/kiosk/static", StaticFiles(directory=STATIC), name="kiosk-static"),
    ]


class EventStream:
    """`GET /kiosk/events`: every change of what the kiosk shows, as one `data:` line of JSON, until the
    page goes away or the daemon stops.

    A plain ASGI app rather than a streaming response: the kiosk is connected for as long as the daemon
    runs, so the stream is still open when the daemon stops and its task is cancelled. That is the
    normal end of this stream, not an error for the server to log; the page reconnects by itself.
    """

    def __init__(self, screen: Screen, model: Callable[[], dict[str, Any]]) -> None:
        self.screen = screen
        self.model = model

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        sending = asyncio.ensure_future(self._send_changes(send))
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
        except asyncio.CancelledError:
            log.debug("kiosk event stream closed: the daemon is stopping")
        finally:
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await sending
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _send_changes(self, send: Send) -> None:
        screen = self.screen
        sent, quiet = "", 0.0
        await self._send(send, f"retry: {int(CABINET_CHECK_S * 1000)}\n\n")
        while True:
            text = json.dumps(self.model(), separators=(",", ":"))
            if text != sent:
                await self._send(send, f"data: {text}\n\n")
                sent, quiet = text, 0.0
            elif quiet >= KEEPALIVE_S:
                await self._send(send, ": still here\n\n")  # through anything that closes idle connections
                quiet = 0.0
            version = screen.version
            try:
                async with asyncio.timeout(CABINET_CHECK_S):
                    await screen.next_change(version)
            except TimeoutError:
                quiet += CABINET_CHECK_S

    @staticmethod
    async def _send(send: Send, text: str) -> None:
        await send({"type": "http.response.body", "body": text.encode(), "more_body": True})
