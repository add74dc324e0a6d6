"""Talking to cabinetd over its control socket, and saying in one line why that did not work."""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import httpx

from cabinetd import configfile
from cabinetd.config import ApiSection

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1  # the daemon refused or the action failed
EXIT_USAGE: Final = 2
EXIT_UNREACHABLE: Final = 3

DEFAULT_TIMEOUT_S: Final = 10.0
TECH_GROUP: Final = "cabinet-tech"


class CtlError(Exception):
    """One line for stderr and the exit code that goes with it."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def socket_path(explicit: Path | None, config_files: list[Path]) -> Path:
    """`--socket`, else `api.control_socket` from the daemon's config (the same files, the same layering).

    Without `--config`, a config that cannot be read (a technician may not read /etc/cabinetd, or a
    developer has none) gives the default socket path rather than an error.
    """
    if explicit is not None:
        return explicit
    try:
        return configfile.load(config_files).api.control_socket
    except configfile.ConfigError as exc:
        if config_files:
            raise CtlError("\n".join(exc.lines), EXIT_USAGE) from None
        return ApiSection().control_socket


def _os_error(exc: BaseException) -> OSError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno is not None:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def unreachable(exc: httpx.TransportError, path: Path, timeout_s: float) -> CtlError:
    if isinstance(exc, httpx.TimeoutException):
        return CtlError(f"cabinetd did not answer on {path} within {timeout_s:g} s", EXIT_UNREACHABLE)
    found = _os_error(exc)
    code = found.errno if found is not None else None
    if code in (errno.EACCES, errno.EPERM):
        return CtlError(f"refused: no permission to use {path} (needs root or group {TECH_GROUP})", EXIT_FAILED)
    if code == errno.ENOENT:
        return CtlError(f"cannot reach cabinetd: no socket at {path} (is the daemon running?)", EXIT_UNREACHABLE)
    if code == errno.ECONNREFUSED:
        return CtlError(f"cannot reach cabinetd: nothing listens on {path} (is the daemon running?)", EXIT_UNREACHABLE)
    if isinstance(exc, httpx.RemoteProtocolError):
        return CtlError(f"cabinetd closed the connection on {path} without an answer", EXIT_UNREACHABLE)
    why = found.strerror if found is not None and found.strerror else str(exc) or type(exc).__name__
    return CtlError(f"cannot reach cabinetd on {path}: {why}", EXIT_UNREACHABLE)


def _problem(response: httpx.Response) -> CtlError:
    try:
        message = str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        message = f"unexpected answer from cabinetd (HTTP {response.status_code})"
    return CtlError(message, EXIT_FAILED)


class ControlClient:
    def __init__(self, path: Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._http = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(path)), base_url="http://cabinetd", timeout=timeout_s
        )

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, url: str, *, timeout_s: float | None, **kwargs: Any) -> Any:
        timeout = self.timeout_s if timeout_s is None else timeout_s
        try:
            response = self._http.request(method, url, timeout=timeout, **kwargs)
        except httpx.TransportError as exc:
            raise unreachable(exc, self.path, timeout) from None
        if response.status_code >= 400:
            raise _problem(response)
        try:
            return response.json()
        except ValueError:
            raise CtlError(f"unexpected answer from cabinetd (HTTP {response.status_code}, not JSON)") from None

    def get(self, url: str, *, timeout_s: float | None = None, **params: Any) -> Any:
        return self._send("GET", url, timeout_s=timeout_s, params={k: v for k, v in params.items() if v is not None})

    def post(self, url: str, body: dict[str, Any] | None = None, *, timeout_s: float | None = None) -> Any:
        return self._send("POST", url, timeout_s=timeout_s, json=body or {})

    @contextmanager
    def lines(self, url: str, **params: Any) -> Iterator[tuple[int | None, Iterator[str]]]:
        """A streamed answer of JSON lines: (the count the daemon announced, the lines)."""
        request = self._http.build_request("GET", url, params={k: v for k, v in params.items() if v is not None})
        try:
            response = self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise unreachable(exc, self.path, self.timeout_s) from None
        try:
            if response.status_code >= 400:
                response.read()
                raise _problem(response)
            announced = response.headers.get("x-event-count")

            def read() -> Iterator[str]:
                try:
                    yield from (line for line in response.iter_lines() if line)
                except httpx.TransportError as exc:
                    raise unreachable(exc, self.path, self.timeout_s) from None

            yield (int(announced) if announced else None), read()
        finally:
            response.close()


def dumps(data: Any) -> str:
    """JSON as `--json` prints it: one document, keys in the daemon's order."""
    return json.dumps(data, ensure_ascii=False, indent=2)
