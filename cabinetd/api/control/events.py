"""The control API's view of the ledger: its last events, the events after a point, a walk of its
hash chain, and every event as JSON lines (for `ledger export` and the diagnostics bundle)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Final

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from cabinetd.api.control import shapes
from cabinetd.api.control.answers import answer, query_int
from cabinetd.ledger import Ledger, StoredEvent
from cabinetproto.chain import parse_utc

MAX_EVENTS: Final = 10_000
EXPORT_PAGE: Final = 500


def event(stored: StoredEvent) -> shapes.Event:
    return shapes.Event.model_validate(stored.to_wire())


class Events:
    def __init__(self, ledger: Callable[[], Ledger]) -> None:
        self.ledger = ledger  # opened by its own subsystem: asked for at each request

    async def tail(self, request: Request) -> BaseModel:
        ledger = self.ledger()
        n = query_int(request, "n", 20, 1, MAX_EVENTS)
        found = ledger.tail(n)
        return shapes.EventList(epoch=ledger.sync_state().epoch, events=[event(e) for e in found])

    async def after(self, request: Request) -> BaseModel:
        ledger = self.ledger()
        current = ledger.sync_state().epoch
        epoch = request.query_params.get("epoch") or current
        seq = query_int(request, "seq", 0, 0, 2**62)
        found = ledger.events_after(seq, EXPORT_PAGE, 1 << 20, epoch=epoch)
        return shapes.EventList(epoch=current, events=[event(e) for e in found])

    async def verify(self, request: Request) -> BaseModel:
        # On the loop: the ledger's connection belongs to it. A long chain holds the loop for a moment.
        result = self.ledger().verify()
        return shapes.LedgerVerify(
            ok=result.ok, events=result.events, epoch=result.epoch, seq=result.seq, reason=result.reason,
            summary=str(result),
        )

    async def stream(self, request: Request) -> Response:
        since_text = request.query_params.get("since")
        if since_text is not None:
            since = _moment(since_text)
            return StreamingResponse(_since(self.ledger(), since), media_type="application/x-ndjson")
        last = query_int(request, "last", MAX_EVENTS, 1, MAX_EVENTS)
        found = self.ledger().tail(last)
        lines = [json.dumps(e.to_wire()) + "\n" for e in found]
        return StreamingResponse(
            _paced(lines), media_type="application/x-ndjson", headers={"x-event-count": str(len(lines))}
        )

    def routes(self) -> list[Route]:
        return [
            Route("/ledger/tail", answer(self.tail)),
            Route("/ledger/after", answer(self.after)),
            Route("/ledger/verify", answer(self.verify)),
            Route("/ledger/events", answer(self.stream)),
        ]


def _moment(text: str) -> datetime:
    try:
        moment = parse_utc(text)
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
            for stored in page:
                if stored.occurred() >= since:
                    yield json.dumps(stored.to_wire()) + "\n"
            seq = page[-1].seq
            await asyncio.sleep(0)
