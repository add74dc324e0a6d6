"""One app package from the cloud: `GET /v1/packages/{sha256}` with the cabinet's token, streamed
into `<sha256>.part`.

A download either fills the part file with the whole body, raises `Unreachable` (no answer, a
timeout, a cloud that is overloaded or failing: try again later, nothing is wrong with the file) or
raises `Refusal` (the cloud does not serve that package, the body ended before its Content-Length,
or it is not the size the work type names). No Range resume: an APK is tens of megabytes, and a
download cut short starts again from its first byte after the backoff.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import httpx

from cabinetd.config import CabinetConfig
from cabinetd.packages.cache import Need, Refusal
from cabinetd.sync.errors import SyncError
from cabinetd.sync.link import read_token, tls_context

CHUNK: Final = 64 * 1024
# Past this a body is not an app package, whatever the cloud says: never fill the ledger's partition.
MAX_BYTES: Final = 2 * 1024 * 1024 * 1024
NOT_SERVED: Final = frozenset({401, 403, 404, 410})


class Unreachable(Exception):
    """The cloud could not be asked (or did not answer well); `retry_after_s` when it said when to
    come back."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def package_path(sha256: str) -> str:
    return f"/v1/packages/{sha256}"


def client(config: CabinetConfig, transport: httpx.AsyncBaseTransport | None, timeout_s: float) -> httpx.AsyncClient:
    """A client for the cloud with the cabinet's token; Unreachable when there is no cloud or token."""
    cloud = config.cloud
    if cloud.url is None:
        raise Unreachable("no cloud.url in the configuration to download packages from")
    try:
        token = read_token(cloud.token_file)
        verify = tls_context(cloud.ca_bundle)
    except SyncError as exc:
        raise Unreachable(str(exc)) from None
    return httpx.AsyncClient(
        base_url=str(cloud.url).rstrip("/"),
        headers={"Authorization": f"Bearer {token}", "User-Agent": "cabinetd-packages"},
        timeout=httpx.Timeout(timeout_s, read=2 * timeout_s),
        verify=verify,
        transport=transport,
        follow_redirects=False,
    )


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def _length(what: str, response: httpx.Response, need: Need) -> int | None:
    """The body's announced length, checked against the size the work type names before any byte."""
    text = response.headers.get("content-length")
    if text is None:
        return None
    if not text.isdigit():
        raise Unreachable(f"{what}: Content-Length {text[:40]!r} is not a number")
    length = int(text)
    if need.size is not None and length != need.size:
        raise Refusal("size", f"{what}: the cloud offers {length} bytes; {need.what} has {need.size}")
    if length > MAX_BYTES:
        raise Refusal("size", f"{what}: the cloud offers {length} bytes, more than an app package may have")
    return length


async def fetch(http: httpx.AsyncClient, need: Need, part: Path) -> int:
    """Download `need` into `part`; returns the bytes written."""
    what = f"GET {package_path(need.sha256)} ({need.package})"
    limit = need.size if need.size is not None else MAX_BYTES
    written = 0
    answered = False
    try:
        async with http.stream("GET", package_path(need.sha256)) as response:
            status = response.status_code
            if status in NOT_SERVED:
                raise Refusal("not_served", f"{what}: {status} {response.reason_phrase}")
            if status != 200:
                raise Unreachable(f"{what}: {status} {response.reason_phrase}", _retry_after(response))
            length = _length(what, response, need)
            answered = True
            with part.open("wb") as file:
                async for chunk in response.aiter_raw(CHUNK):
                    written += len(chunk)
                    if written > limit:
                        raise Refusal("size", f"{what}: the body runs past {limit} bytes")
                    file.write(chunk)  # synced by PackageCache.admit, in a worker thread
    except httpx.HTTPError as exc:
        if answered:
            raise Refusal("truncated", f"{what}: the body ended early: {exc.__class__.__name__}: {exc}") from None
        raise Unreachable(f"{what}: {exc.__class__.__name__}: {exc}") from None
    if length is not None and written < length:
        raise Refusal("truncated", f"{what}: {written} of {length} bytes came")
    return written
