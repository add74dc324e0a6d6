"""Request bodies as the cloud reads them: at most MAX_BODY_BYTES (gzip undone, a gzip bomb refused),
UTF-8 JSON nested at most MAX_JSON_DEPTH levels (counted before parsing), finite numbers only, and
text a column can hold.

What an event carries is the exception to the text rule: an event holding a NUL or a lone surrogate
was sealed by the cabinet like any other, so it is dead-lettered on its own (validation.py) rather
than blocking the whole batch; every other field of a body is refused with 422 naming it.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from array import array
from collections.abc import Callable, Coroutine
from itertools import accumulate
from typing import Any, Final

from fastapi import Request, Response
from fastapi.routing import APIRoute

from cabinetcloud.replies import Refusal
from cabinetcloud.text import Place, find, place_text, text_flaw
from cabinetproto.wire import MAX_BODY_BYTES, MAX_JSON_DEPTH

# A JSON string, escapes included (the unrolled form: linear, no backtracking).
_STRING: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET: Final = re.compile(r"[^\[\]{}]+")
_STEP: Final = bytes.maketrans(b"[]{}", bytes([1, 255, 1, 255]))


def json_depth(text: str) -> int:
    """How deeply the arrays and objects of a JSON text nest, counted without parsing it."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return 0  # cannot nest deeper than it has openers: the common case costs two scans
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text)).encode("ascii")
    return max(accumulate(array("b", brackets.translate(_STEP))), default=0)


class _NotFinite:
    """Where the parser met NaN, Infinity or a number too large for a float; found again by `find`."""

    def __init__(self, token: str) -> None:
        self.token = token


def _events_inside(place: Place) -> bool:
    # The events of an upload: their text is checked event by event and dead-lettered (validation.py).
    return len(place) == 2 and place[0] == "events" and isinstance(place[1], int)


def _not_finite(item: Any) -> str | None:
    return f"{item.token} is not a finite number" if isinstance(item, _NotFinite) else None


def read_json(raw: bytes) -> Any:
    """The body parsed, or a Refusal naming the byte or the field that breaks the rules."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refusal(400, "bad_json", f"request body is not UTF-8 at byte {exc.start}") from None
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise Refusal(422, "too_deep", f"request body nests {depth} levels deep; the limit is {MAX_JSON_DEPTH}")
    odd: list[_NotFinite] = []

    def constant(token: str) -> _NotFinite:
        odd.append(_NotFinite(token))
        return odd[-1]

    def number(token: str) -> float | _NotFinite:
        value = float(token)
        return value if math.isfinite(value) else constant(token)

    try:
        value = json.loads(text, parse_constant=constant, parse_float=number)
    except json.JSONDecodeError as exc:
        at = len(text[: exc.pos].encode("utf-8"))
        raise Refusal(400, "bad_json", f"request body is not JSON at byte {at}: {exc.msg}") from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise Refusal(400, "bad_json", f"request body: {exc}") from None
    found = find(value, _not_finite) if odd else None
    if found is None and "\\u" in text:  # NUL and lone surrogates can only come as \u escapes
        found = find(value, text_flaw, keys=True, skip=_events_inside)
    if found is not None:
        place, problem = found
        raise Refusal(422, "invalid", f"{place_text('body', place)}: {problem}")
    return value


class BodyLimitedRequest(Request):
    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            raw = bytearray()
            async for chunk in self.stream():
                raw += chunk
                if len(raw) > MAX_BODY_BYTES:
                    raise Refusal(413, "too_large", f"request body over {MAX_BODY_BYTES} bytes")
            body = bytes(raw)
            encoding = self.headers.get("content-encoding", "identity").lower()
            if encoding == "gzip":
                inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
                try:
                    body = inflater.decompress(body, MAX_BODY_BYTES + 1)
                except zlib.error as exc:
                    raise Refusal(400, "bad_encoding", f"gzip body cannot be read: {exc}") from None
                if len(body) > MAX_BODY_BYTES or inflater.unconsumed_tail:
                    raise Refusal(413, "too_large", f"request body over {MAX_BODY_BYTES} bytes uncompressed")
            elif encoding != "identity":
                raise Refusal(415, "bad_encoding", f"content encoding {encoding!r}: send gzip or nothing")
            self._body = body
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = read_json(await self.body())
        return self._json


class BodyLimitedRoute(APIRoute):
    """A route whose handler reads its body through BodyLimitedRequest."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            return await handler(BodyLimitedRequest(request.scope, request.receive))

        return limited
