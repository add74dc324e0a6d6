"""Headwind MDM over its public REST API (docs/device-mdm.md, from the server's own resource classes):

    POST /rest/public/jwt/login              {"login", "password": MD5 of the password, upper-case hex}
                                             -> 200 {"id_token"}; 401 for a wrong login or password
    GET  /rest/private/configurations/list   -> {"status": "OK", "data": [{"id", "name"}, ...]}
    GET  /rest/private/devices/number/{n}    -> {"status": "OK", "data": {"id", "number", "configurationId", ...}}
    PUT  /rest/private/devices               {"ids": [id], "configurationId": c} moves the devices and
                                             pushes the new configuration to them

Private calls carry `Authorization: Bearer <id_token>`. The server answers most errors with HTTP 200
and `{"status": "ERROR", "message": "error.…"}`; an expired token is a 401, after which the adapter logs
in once more.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx

from cabinetd.config import HeadwindSection
from cabinetd.hal.mdm import MdmAdapter, MdmError, MdmTrouble

NAME = "headwind"


class HeadwindAdapter(MdmAdapter):
    name = NAME

    def __init__(self, section: HeadwindSection, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.section = section
        self.policy = section.policy
        try:
            password = Path(section.password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(
                f"mdm.headwind.password_file: cannot read {section.password_file}: {exc.strerror}"
            ) from exc
        self._login = {"login": section.login, "password": hashlib.md5(password.encode()).hexdigest().upper()}
        self._token: str | None = None
        self._http = httpx.AsyncClient(
            base_url=str(section.url).rstrip("/"),
            timeout=section.timeout_s,
            transport=transport,
            follow_redirects=False,
        )

    async def assign(self, serial: str, work_type: str) -> str:
        wanted = self.section.configurations.get(work_type)
        if wanted is None:
            raise MdmError(NAME, MdmTrouble.NO_CONFIGURATION, f"work type {work_type!r} maps to no configuration")
        configurations = await self._private("GET", "/rest/private/configurations/list")
        found = next((c for c in configurations or [] if isinstance(c, dict) and c.get("name") == wanted), None)
        if found is None:
            raise MdmError(NAME, MdmTrouble.NO_CONFIGURATION, f"no configuration named {wanted!r}")
        device = await self._private("GET", f"/rest/private/devices/number/{serial}")
        if not isinstance(device, dict) or "id" not in device:
            raise MdmError(NAME, MdmTrouble.UNKNOWN_DEVICE, f"no device {serial}")
        if device.get("configurationId") != found["id"]:
            await self._private("PUT", "/rest/private/devices", {"ids": [device["id"]], "configurationId": found["id"]})
        return wanted

    async def close(self) -> None:
        await self._http.aclose()

    # --- the wire -------------------------------------------------------------------------------------

    async def _private(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        for _ in range(2):  # the second only after a 401: a stale token
            if self._token is None:
                self._token = await self._log_in()
            reply = await self._send(method, path, body, {"Authorization": f"Bearer {self._token}"})
            self._token = None if reply.status_code == 401 else self._token  # expired: log in again
            if reply.status_code != 401:
                return self._data(method, path, reply)
        raise MdmError(NAME, MdmTrouble.REFUSED, f"{method} {path}: HTTP 401 with a fresh token")

    async def _log_in(self) -> str:
        reply = await self._send("POST", "/rest/public/jwt/login", self._login, {})
        if reply.status_code in (400, 401, 403):
            raise MdmError(NAME, MdmTrouble.REFUSED, f"login as {self.section.login!r}: HTTP {reply.status_code}")
        self._check_status(reply, "POST /rest/public/jwt/login")
        token = _json(reply).get("id_token")
        if not isinstance(token, str) or not token:
            raise MdmError(NAME, MdmTrouble.UNREACHABLE, "login answered without an id_token")
        return token

    async def _send(
        self, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]
    ) -> httpx.Response:
        try:
            return await self._http.request(method, path, json=body, headers=headers)
        except httpx.TimeoutException:
            raise MdmError(
                NAME, MdmTrouble.UNREACHABLE, f"{method} {path}: no answer in {self.section.timeout_s:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise MdmError(NAME, MdmTrouble.UNREACHABLE, f"{method} {path}: {exc}") from None

    def _data(self, method: str, path: str, reply: httpx.Response) -> Any:
        self._check_status(reply, f"{method} {path}")
        answer = _json(reply)
        if answer.get("status") != "OK":
            message = str(answer.get("message") or "no message")  # error.notfound.device, error.permission.denied, ...
            trouble = MdmTrouble.UNKNOWN_DEVICE if "notfound" in message else MdmTrouble.REFUSED
            raise MdmError(NAME, trouble, f"{method} {path}: {message}")
        return answer.get("data")

    def _check_status(self, reply: httpx.Response, what: str) -> None:
        if reply.status_code >= 500:
            raise MdmError(NAME, MdmTrouble.UNREACHABLE, f"{what}: HTTP {reply.status_code}")
        if reply.status_code in (401, 403):
            raise MdmError(NAME, MdmTrouble.REFUSED, f"{what}: HTTP {reply.status_code}")
        if reply.status_code >= 300:
            raise MdmError(NAME, MdmTrouble.UNREACHABLE, f"{what}: HTTP {reply.status_code}")


def _json(reply: httpx.Response) -> dict[str, Any]:
    try:
        answer = reply.json()
    except ValueError:
        raise MdmError(NAME, MdmTrouble.UNREACHABLE, f"not JSON: {reply.text[:80]!r}") from None
    if not isinstance(answer, dict):
        raise MdmError(NAME, MdmTrouble.UNREACHABLE, f"not a JSON object: {reply.text[:80]!r}")
    return answer
