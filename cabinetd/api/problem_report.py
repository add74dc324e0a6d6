"""`POST /kiosk/report`: "I have a problem with this device", sent from the report form while a return
is under way (or on its returned screen). The body is checked here, field by field, before the
controller sees it; the answer is the kiosk's document, as for the other buttons.

    {"reason": "screen" | "battery" | "scanner" | "wont_charge" | "damaged" | "other",
     "note": "free text, at most 500 characters (optional)"}
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cabinetd.api.jsonbody import BodyError, read_object
from cabinetproto.events import PROBLEM_REASONS

MAX_NOTE: Final = 500
FIELDS: Final = frozenset({"reason", "note"})


class Reporter(Protocol):
    async def report_problem(self, reason: str, note: str) -> str | None:
        """None when the report is recorded; else why not (no return to report on)."""


def read_report(body: dict[str, Any]) -> tuple[str, str]:
    """The reason and note of a report body; BodyError names the field that is wrong."""
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise BodyError(f"unknown field {unknown[0]!r}: a report has reason and note")
    reason = body.get("reason")
    if reason is None:
        raise BodyError("reason is missing: one of " + ", ".join(PROBLEM_REASONS))
    if not isinstance(reason, str) or reason not in PROBLEM_REASONS:
        raise BodyError(f"reason must be one of {', '.join(PROBLEM_REASONS)}")
    note = body.get("note", "")
    if note is None:
        note = ""
    if not isinstance(note, str):
        raise BodyError("note must be text")
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise BodyError(f"note is too long: {len(note)} characters, at most {MAX_NOTE}")
    return reason, note


def report_endpoint(
    reporter: Reporter, model: Callable[[], dict[str, Any]]
) -> Callable[[Request], Awaitable[Response]]:
    async def report(request: Request) -> Response:
        try:
            reason, note = read_report(await read_object(request))
        except BodyError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        refused = await reporter.report_problem(reason, note)
        if refused is not None:
            return JSONResponse({"error": refused}, status_code=409)
        return JSONResponse(model())

    return report
