"""The cabinet's HTTPS link to the cloud: one call per endpoint, every failure a SyncError.

TLS is always verified: against the system's CA store, or against the bundle named in config. The
token is read from its file for each new link and kept out of every log line and message.
"""

from __future__ import annotations

import contextlib
import email.utils
import gzip
import json
import logging
import os
import ssl
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from cabinetd.sync.errors import SyncError
from cabinetproto.wire import (
    BatchReply,
    ChangesPage,
    Command,
    ErrorReply,
    HistoryPage,
    SessionReply,
    SessionRequest,
    Snapshot,
)

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
_COMMANDS = TypeAdapter(list[Command])


class CloudRefusal(SyncError):
    """The cloud answered, but not with success: status, code and what it asked for are kept."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        retry_after_s: float | None = None,
        expected_seq: int | None = None,
        timed_out: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after_s = retry_after_s
        self.expected_seq = expected_seq
        self.timed_out = timed_out


def read_token(path: Path) -> str:
    """The cabinet's token; refused when others could read the file (it must be 0600)."""
    try:
        info = path.stat()
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SyncError(
                f"cloud token file {path}: mode {stat.S_IMODE(info.st_mode):04o} lets others read it; it must be 0600"
            )
        token = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise SyncError(
            f"cloud token file {path}: missing; enrol the cabinet (cabinet-cloud enroll) and put its token there"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SyncError(f"cloud token file {path}: cannot read it: {exc.__class__.__name__}") from None
    if not token or any(c.isspace() for c in token):
        raise SyncError(f"cloud token file {path}: does not hold one token")
    return token


def tls_context(ca_bundle: Path | None) -> ssl.SSLContext:
    try:
        if ca_bundle is None:
            return ssl.create_default_context()
        return ssl.create_default_context(cafile=os.fspath(ca_bundle))
    except (OSError, ssl.SSLError) as exc:
        raise SyncError(f"CA bundle {ca_bundle}: cannot load it: {exc}") from None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class CloudLink:
    def __init__(
        self,
        base_url: str,
        cabinet_id: str,
        token: str,
        *,
        ca_bundle: Path | None = None,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.cabinet_id = cabinet_id
        self.timeout_s = timeout_s
        self._prefix = f"/v1/cabinets/{cabinet_id}"
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "User-Agent": "cabinetd-sync"},
            timeout=timeout_s,
            verify=tls_context(ca_bundle),
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"CloudLink({self._client.base_url!s}, cabinet {self.cabinet_id})"

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: bytes | None = None,
        extra_s: float = 0.0,
    ) -> bytes:
        url = self._prefix + path
        what = f"{method} {url}"
        headers = {}
        if body is not None:
            headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
            body = gzip.compress(body, compresslevel=5)
        try:
            response = await self._client.request(
                method, url, params=params, content=body, headers=headers, timeout=self.timeout_s + extra_s
            )
            raw = response.content
        except httpx.TimeoutException:
            raise CloudRefusal(f"{what}: no answer within {self.timeout_s + extra_s:.0f} s", timed_out=True) from None
        except httpx.HTTPError as exc:
            raise CloudRefusal(f"{what}: {exc.__class__.__name__}: {exc}") from None
        if response.status_code >= 400:
            self._refuse(what, response)
        return raw

    def _refuse(self, what: str, response: httpx.Response) -> None:
        status = response.status_code
        reply: ErrorReply | None = None
        with contextlib.suppress(ValidationError):
            reply = ErrorReply.model_validate_json(response.content)
        detail = f": {reply.detail}" if reply is not None else ""
        raise CloudRefusal(
            f"{what}: {status} {response.reason_phrase}{detail}",
            status=status,
            code="" if reply is None else reply.code,
            retry_after_s=_retry_after(response.headers.get("retry-after")),
            expected_seq=None if reply is None else reply.expected_seq,
        )

    @staticmethod
    def _parse(what: str, model: type[M], data: bytes) -> M:
        # Python's parser first: pydantic's own stops at about 200 levels and refuses lone-surrogate
        # escapes, which the cloud sends back as they came in the dead letters of GET /events.
        try:
            return model.model_validate(json.loads(data))
        except (ValueError, RecursionError) as exc:
            if isinstance(exc, ValidationError):
                first = exc.errors(include_url=False)[0]
                where = ".".join(str(part) for part in first["loc"]) or "(reply)"
                wrong = f"{where}: {first['msg']}"
                raise CloudRefusal(f"{what}: the reply is not a valid {model.__name__}: {wrong}") from None
            raise CloudRefusal(f"{what}: the reply is not JSON: {exc}") from None

    async def session(self, request: SessionRequest) -> SessionReply:
        data = await self._call("POST", "/session", body=request.model_dump_json().encode())
        return self._parse(f"POST {self._prefix}/session", SessionReply, data)

    async def upload(self, batch_json: bytes) -> BatchReply:
        data = await self._call("POST", "/events", body=batch_json)
        return self._parse(f"POST {self._prefix}/events", BatchReply, data)

    async def changes(self, cursor: str, wait_s: float) -> ChangesPage:
        params = {"cursor": cursor, "wait": wait_s}
        data = await self._call("GET", "/changes", params=params, extra_s=wait_s)
        return self._parse(f"GET {self._prefix}/changes", ChangesPage, data)

    async def snapshot(self) -> Snapshot:
        data = await self._call("GET", "/snapshot")
        return self._parse(f"GET {self._prefix}/snapshot", Snapshot, data)

    async def commands(self, after: int) -> list[Command]:
        data = await self._call("GET", "/commands", params={"after": after})
        try:
            return _COMMANDS.validate_json(data)
        except ValidationError as exc:
            raise CloudRefusal(f"GET {self._prefix}/commands: the reply is not a list of commands: {exc}") from None

    async def history(self, epoch: str, after: int, limit: int = 500) -> HistoryPage:
        data = await self._call("GET", "/events", params={"epoch": epoch, "after": after, "limit": limit})
        return self._parse(f"GET {self._prefix}/events", HistoryPage, data)
