"""The agent app of a simulated handheld: what it knows and how it answers each request.

This is the protocol's other end (docs/device-protocol.md), written from the document alone, with
state a test or the simulated cabinet sets: battery level and how fast it charges, battery health,
self-test results, installed apps, usage during a rental. It knows nothing of USB: `handheld.py` feeds
it requests and sends its replies, and applies the faults that happen on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from cabinetd.clock import Clock
from cabinetd.hal.agentframe import VERSION
from cabinetd.hal.agentprotocol import (
    SELFTEST_CHECKS,
    AgentError,
    AppOutcome,
    AppUsage,
    BatteryHealth,
    Hello,
    Message,
    Progress,
    ProvisionArgs,
    ProvisionReport,
    Reply,
    Request,
    SelftestCheck,
    SelftestReport,
    SessionEnded,
    UsageArgs,
    UsageReport,
)

GIB = 1024**3


@dataclass
class CheckResult:
    passed: bool
    evidence: str
    measurements: dict[str, bool | int | float | str] = field(default_factory=dict)


def healthy_checks() -> dict[str, CheckResult]:
    """What a sound handheld reports (battery_health follows the battery's state unless overridden)."""
    return {
        "touchscreen": CheckResult(True, "touch controller passed its self-test, 0 dead zones", {"dead_zones": 0}),
        "scanner": CheckResult(True, "scan engine decoded the test pattern in 84 ms", {"decode_ms": 84}),
        "camera": CheckResult(True, "rear camera opened and focused", {}),
        "wifi": CheckResult(True, "associated, RSSI -58 dBm", {"rssi_dbm": -58}),
        "storage": CheckResult(True, "write and read-back of 4 MiB passed", {"test_bytes": 4 * 1024 * 1024}),
        "drop_counter": CheckResult(True, "2 drops since the last self-test (limit 10)", {"drops": 2, "limit": 10}),
    }


@dataclass
class UsageRecord:
    """Use of the device at one moment of a rental (wall clock, ms)."""

    at_ms: int
    package: str | None = None
    minutes: float = 0.0
    scans: int = 0
    screen_on_minutes: float = 0.0
    battery_drain_percent: int = 0
    drops: int = 0


class HandheldAgent:
    """The agent's state and request handling; every attribute is the test's to set."""

    def __init__(
        self,
        serial: str,
        *,
        model: str = "SIM-PDA-5",
        battery_percent: float = 80.0,
        charging: bool = True,
        charge_rate_per_min: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        self.serial = serial
        self.model = model
        self.manufacturer = "Simulated"
        self.os_version = "11"
        self.sdk_int = 30
        self.agent_version = "1.0.0"
        self.protocol_versions = [VERSION]
        self.battery_health: BatteryHealth = "good"
        self.storage_free_bytes = 12 * GIB
        self.charge_rate_per_min = charge_rate_per_min  # percent per minute while charging
        self.clock = clock or Clock()  # monotonic for charging, wall time for usage records
        self._battery = battery_percent
        self._battery_at = self.clock.monotonic()
        self._charging = charging
        self.checks = healthy_checks()
        self.installed: dict[str, int] = {}  # package -> version code
        self.enabled: set[str] = set()
        self.managed: set[str] = set()  # packages the cabinet provisioned at some point
        self.unavailable: set[str] = set()  # packages whose download fails
        self.installs: list[tuple[str, int]] = []  # every install or update, in order
        self.work_type: str | None = None
        self.usage_records: list[UsageRecord] = []
        self.session_data: set[str] = set()  # apps holding the signed-in staff member's data
        self.signed_in = False

    # --- battery --------------------------------------------------------------------------------------

    @property
    def battery_percent(self) -> int:
        return int(self._battery_now())

    @property
    def charging(self) -> bool:
        return self._charging and self._battery_now() < 100

    def power(self) -> tuple[int, bool]:
        """The battery's level and whether it charges, as a stock device's `dumpsys battery` tells them."""
        return self.battery_percent, self.charging

    def set_battery(self, percent: float, *, charging: bool | None = None) -> None:
        self._battery, self._battery_at = percent, self.clock.monotonic()
        if charging is not None:
            self._charging = charging

    def _battery_now(self) -> float:
        if not self._charging:
            return self._battery
        elapsed_min = (self.clock.monotonic() - self._battery_at) / 60
        return min(100.0, self._battery + self.charge_rate_per_min * elapsed_min)

    def _wall_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    # --- test controls ----------------------------------------------------------------------------------

    def fail_check(self, name: str, evidence: str, **measurements: bool | int | float | str) -> None:
        self.checks[name] = CheckResult(False, evidence, dict(measurements))

    def use(
        self,
        package: str | None = None,
        minutes: float = 0.0,
        *,
        scans: int = 0,
        screen_on_minutes: float = 0.0,
        battery_drain_percent: int = 0,
        drops: int = 0,
        at_ms: int | None = None,
    ) -> None:
        """Record use of the device (a staff member is signed in from now until `end_session`)."""
        when = self._wall_ms() if at_ms is None else at_ms
        self.usage_records.append(
            UsageRecord(when, package, minutes, scans, screen_on_minutes, battery_drain_percent, drops)
        )
        if package is not None:
            self.session_data.add(package)
        self.signed_in = True

    # --- requests ---------------------------------------------------------------------------------------

    def handle(self, request: Request) -> list[Reply]:
        """Replies to one request in order: `working` progress replies (long requests), then the answer."""
        if request.v != VERSION:
            return [self._error(request, "unsupported_version", f"this agent speaks {self.protocol_versions}")]
        try:
            if request.type == "hello":
                return [self._ok(request, self._hello())]
            if request.type == "selftest":
                report = self._selftest()
                progress = [
                    self._working(request, n, len(report.checks), check.name) for n, check in enumerate(report.checks)
                ]
                return [*progress, self._ok(request, report)]
            if request.type == "provision":
                return self._provision(request, ProvisionArgs.model_validate(request.args))
            if request.type == "usage":
                return [self._ok(request, self._usage(UsageArgs.model_validate(request.args).since_ms))]
            return [self._ok(request, self._end_session())]
        except ValidationError as error:
            return [self._error(request, "bad_request", str(error.errors()[0]["msg"]))]

    def _hello(self) -> Hello:
        return Hello(
            serial=self.serial,
            model=self.model,
            manufacturer=self.manufacturer,
            os_version=self.os_version,
            sdk_int=self.sdk_int,
            agent_version=self.agent_version,
            protocol_versions=self.protocol_versions,
            battery_percent=self.battery_percent,
            battery_health=self.battery_health,
            charging=self.charging,
            storage_free_bytes=self.storage_free_bytes,
            work_type=self.work_type,
        )

    def _selftest(self) -> SelftestReport:
        results = dict(self.checks)
        if "battery_health" not in results:
            good = self.battery_health == "good"
            results["battery_health"] = CheckResult(
                good, f"battery health {self.battery_health}", {"percent": self.battery_percent}
            )
        order = [name for name in SELFTEST_CHECKS if name in results] + sorted(set(results) - set(SELFTEST_CHECKS))
        return SelftestReport(
            checks=[
                SelftestCheck(
                    name=name,
                    passed=results[name].passed,
                    evidence=results[name].evidence,
                    measurements=results[name].measurements,
                )
                for name in order
            ]
        )

    def _provision(self, request: Request, args: ProvisionArgs) -> list[Reply]:
        replies: list[Reply] = []
        outcomes: list[AppOutcome] = []
        for done, app in enumerate(args.apps):
            have = self.installed.get(app.package)
            if have is None or have < app.version_code:
                if app.package in self.unavailable:
                    error = AgentError(code="install_failed", message="download failed: HTTP 404", package=app.package)
                    return [*replies, Reply(v=VERSION, id=request.id, type=request.type, status="error", error=error)]
                replies.append(self._working(request, done, len(args.apps), f"installing {app.package}"))
                self.installed[app.package] = app.version_code
                self.installs.append((app.package, app.version_code))
                action = "installed" if have is None else "updated"
            elif app.package not in self.enabled:
                action = "enabled"
            else:
                action = "unchanged"
            self.enabled.add(app.package)
            self.managed.add(app.package)
            outcomes.append(AppOutcome(package=app.package, version_code=self.installed[app.package], action=action))
        wanted = {app.package for app in args.apps}
        disabled = sorted(package for package in self.managed & self.enabled if package not in wanted)
        self.enabled -= set(disabled)
        self.work_type = args.work_type
        report = ProvisionReport(
            work_type=args.work_type, home_app=args.home_app, apps=outcomes, disabled=disabled, launched=True
        )
        return [*replies, self._ok(request, report)]

    def _usage(self, since_ms: int) -> UsageReport:
        records = [record for record in self.usage_records if record.at_ms >= since_ms]
        minutes: dict[str, float] = {}
        for record in records:
            if record.package is not None:
                minutes[record.package] = minutes.get(record.package, 0.0) + record.minutes
        return UsageReport(
            since_ms=since_ms,
            until_ms=self._wall_ms(),
            apps=[AppUsage(package=package, minutes=minutes[package]) for package in sorted(minutes)],
            scans=sum(record.scans for record in records),
            screen_on_minutes=sum(record.screen_on_minutes for record in records),
            battery_drain_percent=sum(record.battery_drain_percent for record in records),
            drops=sum(record.drops for record in records),
        )

    def _end_session(self) -> SessionEnded:
        ended = SessionEnded(signed_out=self.signed_in, cleared=sorted(self.session_data))
        self.signed_in = False
        self.session_data.clear()
        return ended

    # --- reply envelopes --------------------------------------------------------------------------------

    @staticmethod
    def _ok(request: Request, result: Message) -> Reply:
        return Reply(v=VERSION, id=request.id, type=request.type, status="ok", result=result.model_dump(mode="json"))

    @staticmethod
    def _working(request: Request, done: int, total: int, step: str) -> Reply:
        progress = Progress(done=done, total=total, step=step)
        return Reply(v=VERSION, id=request.id, type=request.type, status="working", progress=progress)

    @staticmethod
    def _error(request: Request, code: str, message: str) -> Reply:
        error = AgentError(code=code, message=message)
        return Reply(v=VERSION, id=request.id, type=request.type, status="error", error=error)
