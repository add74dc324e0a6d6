"""Downloading a release's package from the cloud: `GET /v1/releases/{id}/package` with the cabinet's
token, into `<release>.deb.part`, resumed with `Range: bytes=N-` after a cut or a pause.

One call of `fetch` is one request. It ends by returning True (the part file holds `size` bytes),
False (paused: `may_go_on` said stop between two chunks, when a person came to the cabinet), or raising
`Cut` (the connection broke or the cloud failed: try again later from where it stopped), `Short` (the
cloud sent its whole package and it is shorter than offered) or `NotServed` (the cloud refused the
request: no such release, a bad token; trying again would not help).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Final
from urllib.parse import quote

import httpx

CHUNK: Final = 64 * 1024
_CONTENT_RANGE: Final = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class Cut(Exception):
    """The download stopped short of its end; the part file keeps what came."""


class Short(Exception):
    """The cloud's package is shorter than the offer says."""


class NotServed(Exception):
    """The cloud answered the request with a refusal that another try would get again."""


def size_of(part: Path) -> int:
    """Bytes already downloaded (0 before the first)."""
    try:
        return part.stat().st_size
    except FileNotFoundError:
        return 0


def start_over(part: Path) -> None:
    part.unlink(missing_ok=True)


def package_path(release: str) -> str:
    return f"/v1/releases/{quote(release, safe='')}/package"


async def fetch(client: httpx.AsyncClient, release: str, part: Path, size: int, may_go_on: Callable[[], bool]) -> bool:
    have = size_of(part)
    if have > size:
        start_over(part)  # not this offer's bytes
        have = 0
    if have == size:
        return True
    headers = {"Range": f"bytes={have}-"} if have else {}
    what = f"GET {package_path(release)}"
    try:
        async with client.stream("GET", package_path(release), headers=headers) as response:
            start = _start_of(what, response, have)
            with part.open("r+b" if start else "wb") as file:
                file.truncate(start)
                file.seek(start)
                done = await _copy(response, file, start, size, may_go_on)
                file.flush()
                os.fsync(file.fileno())
    except httpx.HTTPError as exc:
        raise Cut(f"{what}: {exc.__class__.__name__}: {exc}") from None
    if done is None:
        return False
    if done < size:
        raise Short(f"the cloud's package ends at {done} of {size} bytes")
    return True


def _start_of(what: str, response: httpx.Response, have: int) -> int:
    """Where the body starts in the file: `have` for a 206 that continues it, 0 for a whole 200."""
    status = response.status_code
    if status == 200:
        return 0
    if status == 206:
        found = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
        if found is None or int(found.group(1)) != have:
            raise Cut(f"{what}: 206 for bytes={have}- with Content-Range {response.headers.get('content-range')!r}")
        return have
    if status in (408, 429) or status >= 500:
        raise Cut(f"{what}: {status} {response.reason_phrase}")
    raise NotServed(f"{what}: {status} {response.reason_phrase}")


async def _copy(
    response: httpx.Response, file: BinaryIO, at: int, size: int, may_go_on: Callable[[], bool]
) -> int | None:
    """Bytes in the file once the body ended (never past `size`), or None when paused."""
    async for chunk in response.aiter_bytes(CHUNK):
        take = chunk[: size - at]
        file.write(take)
        at += len(take)
        if at >= size:
            return at
        if not may_go_on():
            return None
    return at
