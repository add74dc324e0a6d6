"""Request bodies as the local APIs read them: JSON with stated limits, refused with a 4xx that says why.

Every body the kiosk, the simulator and the control socket take is a small flat object, so the limits
are far above any real request and far below what could hurt the daemon: Python's own parser recurses
once per nesting level (100,000 levels is a RecursionError, a 500), reads the whole body into memory,
and takes NaN, Infinity and lone surrogates that the ledger and the cloud cannot store.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

from starlette.requests import Request

MAX_BODY_BYTES: Final = 64 * 1024
MAX_DEPTH: Final = 32


class BodyError(ValueError):
    """A body refused before any handler sees it; `status` is the HTTP answer (400 or 413)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


async def read_json(request: Request, *, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """The body's JSON value, or None for an empty body."""
    raw = await _read(request, max_bytes)
    if not raw.strip():
        return None
    return parse(raw, max_depth=max_depth)


async def read_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object ({} for an empty body)."""
    found = await read_json(request)
    if found is None:
        return {}
    if not isinstance(found, dict):
        raise BodyError(f"the body must be a JSON object, got {_kind(found)}")
    return found


def parse(raw: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(f"the body is not UTF-8 (byte {exc.start})") from None
    deepest = _too_deep_at(raw, max_depth)
    if deepest is not None:
        raise BodyError(f"the body nests deeper than {max_depth} levels (byte {deepest})")
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except BodyError:
        raise
    except ValueError as exc:
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        where = f" (character {exc.pos})" if isinstance(exc, json.JSONDecodeError) else ""
        raise BodyError(f"the body is not JSON: {message}{where}") from None
    _check_text(value, "$")
    return value


async def _read(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyError(f"the body is too large: {int(declared)} bytes, at most {max_bytes}", 413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyError(f"the body is too large: more than {max_bytes} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_deep_at(raw: bytes, max_depth: int) -> int | None:
    """The byte offset where nesting first passes `max_depth`, or None; brackets inside strings do not
    count. Linear and without recursion, so it is safe on any body the size limit lets through."""
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return None
    depth = 0
    in_string = escaped = False
    for offset, byte in enumerate(raw):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > max_depth:
                return offset
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return None


def _no_constant(name: str) -> Any:
    raise BodyError(f"the body holds {name}, which is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BodyError(f"the body holds the number {text}, too large for a float")
    return value


def _check_text(value: Any, where: str) -> None:
    """No lone surrogate (not text: it cannot be written as UTF-8) and no NUL in any key or string."""
    if isinstance(value, str):
        _check_string(value, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_string(key, f"{where} (a key)")
            _check_text(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(item, f"{where}[{index}]")


def _check_string(text: str, where: str) -> None:
    if "\x00" in text:
        raise BodyError(f"the body holds a NUL character at {where}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BodyError(f"the body holds a lone surrogate at {where}") from None


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "true or false", int: "a number", float: "a number"}.get(
        type(value), "null"
    )
