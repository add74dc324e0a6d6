"""The local web API on the loopback listener: health and metrics, and the routes the cabinet adds
(the kiosk, and the simulator when it runs)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import BaseRoute, Route

from cabinetd import __version__
from cabinetd.api.origin import OwnOriginOnly
from cabinetd.hal.base import PartState
from cabinetd.lifecycle import Subsystem


def build_app(
    cabinet_id: str,
    parts: Callable[[], list[Subsystem]],
    started_at: float,
    routes: Sequence[BaseRoute] = (),
    part_states: Callable[[], list[PartState]] = list,
) -> Starlette:
    """`part_states`: the buses and boards whose counters /metrics shows (frames sent, faults ...)."""

    async def health(request: Request) -> JSONResponse:
        now = time.monotonic()
        stalled = [part.name for part in parts() if part.stalled(now)]
        body = {
            "status": "stalled" if stalled else "ok",
            "cabinet_id": cabinet_id,
            "version": __version__,
            "uptime_s": round(now - started_at, 1),
            "stalled": stalled,
        }
        return JSONResponse(body, status_code=503 if stalled else 200)

    async def metrics(request: Request) -> PlainTextResponse:
        now = time.monotonic()
        lines = [
            "# HELP cabinetd_uptime_seconds Seconds since the daemon started.",
            "# TYPE cabinetd_uptime_seconds gauge",
            f"cabinetd_uptime_seconds {now - started_at:.3f}",
            "# HELP cabinetd_subsystem_tick_age_seconds Seconds since each subsystem last ticked.",
            "# TYPE cabinetd_subsystem_tick_age_seconds gauge",
        ]
        lines += [
            f'cabinetd_subsystem_tick_age_seconds{{subsystem="{part.name}"}} {now - part.last_tick:.3f}'
            for part in parts()
        ]
        lines += _part_lines(part_states())
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    # Every request is checked to come from the kiosk's own page before a route sees it (origin.py).
    return Starlette(
        routes=[Route("/health", health), Route("/metrics", metrics), *routes], middleware=[Middleware(OwnOriginOnly)]
    )


def _part_lines(states: list[PartState]) -> list[str]:
    lines = [
        "# HELP cabinetd_part_connected Whether each bus and lock board answers (1) or not (0).",
        "# TYPE cabinetd_part_connected gauge",
    ]
    lines += [f'cabinetd_part_connected{{part="{state.part}"}} {int(state.connected)}' for state in states]
    lines += [
        "# HELP cabinetd_part_events_total What each bus and lock board counted since the start: frames sent, "
        "unlock frames, re-sends, replies, faults ...",
        "# TYPE cabinetd_part_events_total counter",
    ]
    lines += [
        f'cabinetd_part_events_total{{part="{state.part}",counter="{name}"}} {count}'
        for state in states
        for name, count in state.counters
    ]
    return lines
