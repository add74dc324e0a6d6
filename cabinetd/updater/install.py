"""One run of the helper: take the request, check it, keep the running version, install, wait for
the new daemon, roll back when it does not come up, and answer with outcome.json.

Every outcome's reason starts with the step that decided it (request, installed, package, sha256,
signature, version, keep, install, health) and quotes the command's own message where one failed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from cabinetd.updater.attempt import INSTALLING, ROLLING_BACK, Attempt, StateDirectory
from cabinetd.updater.checks import PACKAGE, Refused, check_contents, copy_signed_package
from cabinetd.updater.commands import CommandError, Dpkg, Systemd
from cabinetd.updater.handoff import (
    REQUEST,
    WORKING,
    HandoffError,
    Request,
    UpdatesDirectory,
    finished_at,
    parse_request,
)
from cabinetd.updater.health import Endpoint, WaitClock, wait_healthy

log = logging.getLogger(__name__)
# A helper that died this many times on one request (power cut, OOM) gives up and rolls back.
MAX_STARTS: Final = 3


@dataclass(frozen=True)
class Installer:
    updates: Path
    state: StateDirectory
    release_key: Path
    healthy_within_s: float
    endpoint: Endpoint
    dpkg: Dpkg
    systemd: Systemd
    clock: WaitClock


def outcome(request: Request, from_version: str, result: str, reason: str) -> dict[str, Any]:
    return {
        "release": request.release,
        "version": request.version,
        "from_version": from_version,
        "outcome": result,
        "reason": reason,
        "finished_at": finished_at(),
    }


def handle(installer: Installer) -> dict[str, Any] | None:
    """Carry out the request in the updates directory, if there is one; the outcome written."""
    updates = UpdatesDirectory(installer.updates)
    try:
        if not updates.exists(WORKING):
            if not updates.exists(REQUEST):
                log.info("no request in %s", installer.updates)
                return None
            updates.take_request()
        else:
            log.warning("%s found: a helper before this one stopped mid-install", installer.updates / WORKING)
        try:
            request = parse_request(updates.read(WORKING), str(installer.updates / WORKING))
        except HandoffError as error:
            unreadable = Request("", "", "", "", False, "", "")
            result = outcome(unreadable, "", "refused", f"request: {error}")
        else:
            result = carry_out(installer, updates, request)
            updates.remove(request.package)
            updates.remove(request.signature)
        updates.write_outcome(result)
        updates.remove(WORKING)
        installer.state.clear()
        log.info("release %s: %s %s", result["release"], result["outcome"], result["reason"])
        return result
    finally:
        updates.close()


def installed_version(dpkg: Dpkg) -> str:
    try:
        version, status = dpkg.status(PACKAGE)
    except CommandError as error:
        raise Refused("installed", str(error)) from None
    if status != "ii ":
        shown = status.strip() or "not installed"
        raise Refused("installed", f"{PACKAGE} is not installed cleanly (dpkg status {shown})")
    return version


def carry_out(installer: Installer, updates: UpdatesDirectory, request: Request) -> dict[str, Any]:
    installer.state.prepare()
    attempt = installer.state.load(request.release)
    if attempt is not None:
        attempt = replace(attempt, starts=attempt.starts + 1)
        installer.state.save(attempt)
        if attempt.phase == ROLLING_BACK or attempt.starts > MAX_STARTS:
            stopped = f"install: the helper stopped {attempt.starts - 1} times installing {request.version}"
            return roll_back(installer, request, attempt, attempt.reason or stopped)
    from_version = request.from_version
    try:
        from_version = attempt.from_version if attempt is not None else installed_version(installer.dpkg)
        deb = copy_signed_package(request, updates, installer.release_key, installer.state.incoming)
        check_contents(request, deb, from_version, installer.dpkg)
        if attempt is None:
            kept = keep(installer, from_version)
            attempt = Attempt(request.release, request.version, from_version, kept, INSTALLING, 1)
            installer.state.save(attempt)
    except Refused as refusal:
        log.warning("release %s refused: %s", request.release, refusal)
        return outcome(request, from_version, "refused", str(refusal))
    return install(installer, request, attempt, deb)


def keep(installer: Installer, version: str) -> str:
    """The installed package rebuilt into kept/ (dpkg-repack): what a rollback installs again."""
    kept = installer.state.kept
    try:
        for old in kept.iterdir():
            old.unlink()
    except OSError as error:
        raise Refused("keep", f"cannot empty {kept}: {error.strerror}") from None
    try:
        installer.dpkg.repack(PACKAGE, kept)
        made = sorted(path for path in kept.iterdir() if path.suffix == ".deb")
        if len(made) != 1:
            raise Refused("keep", f"dpkg-repack left {len(made)} packages in {kept}, expected one")
        found = installer.dpkg.field(made[0], "Version")
    except CommandError as error:
        raise Refused("keep", f"{PACKAGE} {version} to roll back to: {error}") from None
    if found != version:
        raise Refused("keep", f"dpkg-repack made {made[0].name} of version {found}, not the installed {version}")
    log.info("kept %s %s as %s", PACKAGE, version, made[0])
    return made[0].name


def install(installer: Installer, request: Request, attempt: Attempt, deb: Path) -> dict[str, Any]:
    log.info(
        "installing %s %s over %s (release %s, requested at %s)",
        PACKAGE,
        request.version,
        attempt.from_version,
        request.release,
        request.requested_at,
    )
    try:
        installer.dpkg.install(deb)
    except CommandError as error:
        return roll_back(installer, request, attempt, f"install: {error}")
    within = installer.healthy_within_s
    problem = wait_healthy(installer.systemd, installer.endpoint, within, installer.clock)
    if problem is None:
        return outcome(request, attempt.from_version, "installed", "")
    reason = f"health: {PACKAGE} {request.version} was not active and healthy within {within:g} s: {problem}"
    return roll_back(installer, request, attempt, reason)


def roll_back(installer: Installer, request: Request, attempt: Attempt, reason: str) -> dict[str, Any]:
    """Install the kept package again and see the daemon back; the outcome is rolled_back either way,
    its reason saying whether the kept version came back."""
    log.warning("rolling %s back to %s: %s", PACKAGE, attempt.from_version, reason)
    installer.state.save(replace(attempt, phase=ROLLING_BACK, reason=reason))
    previous = attempt.from_version
    try:
        installer.dpkg.install(installer.state.kept / attempt.kept)
    except CommandError as error:
        return outcome(request, previous, "rolled_back", f"{reason}; rollback to {previous}: {error}")
    within = installer.healthy_within_s
    problem = wait_healthy(installer.systemd, installer.endpoint, within, installer.clock)
    if problem is not None:
        failed = f"{PACKAGE} {previous} is installed again but not active and healthy within {within:g} s: {problem}"
        return outcome(request, previous, "rolled_back", f"{reason}; rollback: {failed}")
    return outcome(request, previous, "rolled_back", f"{reason}; rolled back to {previous}")
