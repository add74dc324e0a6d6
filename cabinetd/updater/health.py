"""Whether the daemon came up: its unit active (Type=notify: it sent READY=1) and its local health
endpoint answering healthy (cabinetd/api/app.py `/health`), within a bound."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Final, Protocol

from cabinetd.updater.commands import CommandError, Systemd

UNIT: Final = "cabinetd.service"
POLL_S: Final = 1.0
HEALTH_S: Final = 5.0


class WaitClock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/health"


def health_problem(endpoint: Endpoint) -> str | None:
    """None when /health answers 200 with status "ok", else what it answered (or why it did not)."""
    connection = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=HEALTH_S)
    try:
        connection.request("GET", "/health")
        answer = connection.getresponse()
        body = answer.read(64 * 1024)
    except (OSError, http.client.HTTPException) as error:
        return f"no answer at {endpoint.url}: {error}"
    finally:
        connection.close()
    try:
        status = json.loads(body).get("status")
    except (ValueError, AttributeError):
        status = None
    if answer.status == 200 and status == "ok":
        return None
    return f"{endpoint.url} answered {answer.status} {body.decode('utf-8', 'replace').strip()[:200]}"


def wait_healthy(systemd: Systemd, endpoint: Endpoint, within_s: float, clock: WaitClock) -> str | None:
    """Restart the daemon and wait until it is active and healthy: None then, else the last thing
    that was wrong when the bound ran out."""
    deadline = clock.monotonic() + within_s
    restart_error = ""
    problem: str | None = None
    try:
        # Blocking: once the start job is done the daemon answering is the new one, not the old.
        systemd.restart(UNIT, within_s)
    except CommandError as error:
        # Restart=always may still bring it up within the bound: keep looking until then.
        restart_error = f" ({error})"
    while True:
        try:
            state = systemd.state(UNIT)
        except CommandError as error:
            state, problem = "", str(error)
        if state == "active":
            problem = health_problem(endpoint)
            if problem is None:
                return None
        elif state:
            problem = f"{UNIT} is {state}{restart_error}"
        if clock.monotonic() >= deadline:
            return problem
        clock.sleep(POLL_S)
