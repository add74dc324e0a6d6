"""Provisioning a stock Android handheld over adb: bring it to a work type's apps, or say why not.

Compare `pm list packages --show-versioncode` with the work type's apps; install what is missing or
older from the cabinet's package directory (`<sha256>.apk`, checked against its sha256 before it is
pushed) with `pm install -r`; enable the work type's apps; `pm disable-user` the other work types' apps
where the device allows it (a device that protects one keeps it, and the report does not list it);
then read the packages again and verify every app is there, enabled, in a sufficient version. A device
that cannot be brought there is a LinkError: the flows do not hand it out and record why.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from cabinetd.hal import adbparse
from cabinetd.hal.adbsession import AdbSession
from cabinetd.hal.agentprotocol import AppAction, AppOutcome, AppPackage, ProvisionReport
from cabinetd.hal.errors import LinkFailure

log = logging.getLogger(__name__)

REMOTE_DIR: Final = "/data/local/tmp"
INSTALL_LIMIT: Final = 12  # an install may take this many device request timeouts (dexopt of a large app)
LAUNCH: Final = ("am", "start", "-a", "android.intent.action.MAIN", "-c", "android.intent.category.LAUNCHER")


class Installer:
    def __init__(self, packages: Path) -> None:
        self.packages = packages

    def apk(self, session: AdbSession, app: AppPackage) -> Path:
        """The cached APK of this app version, checked against its sha256."""
        path = self.packages / f"{app.sha256}.apk"
        what = f"{app.package} version {app.version_code} (sha256 {app.sha256[:12]}…)"
        try:
            with path.open("rb") as file:
                digest = hashlib.file_digest(file, "sha256").hexdigest()
        except FileNotFoundError:
            raise session.error(LinkFailure.REFUSED, f"{what} is not in the package cache {self.packages}") from None
        except OSError as error:
            raise session.error(LinkFailure.REFUSED, f"cannot read {path}: {error.strerror}") from None
        if digest != app.sha256:
            raise session.error(LinkFailure.REFUSED, f"{path} is not {what}: its sha256 is {digest}")
        return path

    def install(self, session: AdbSession, app: AppPackage) -> None:
        path = self.apk(session, app)
        remote = f"{REMOTE_DIR}/{app.package}.apk"
        session.call(f"push {path.name} to {remote}", lambda: session.device.sync.push(path, remote))
        result = session.attempt("pm", "install", "-r", remote, limit=INSTALL_LIMIT)
        session.attempt("rm", "-f", remote)
        reason = adbparse.install_failure(str(result.stdout) + str(result.stderr))
        if reason is not None:
            raise session.error(LinkFailure.INSTALL_FAILED, f"`pm install -r {remote}` ({app.package}): {reason}")

    def provision(
        self, session: AdbSession, work_type: str, apps: Sequence[AppPackage], home: str, others: Sequence[str]
    ) -> ProvisionReport:
        held = session.parsed(adbparse.packages, "pm", "list", "packages", "--show-versioncode")
        disabled = session.parsed(adbparse.package_names, "pm", "list", "packages", "-d")
        actions: dict[str, AppAction] = {}
        for app in apps:
            have = held.get(app.package)
            if have is None or have < app.version_code:
                self.install(session, app)
                actions[app.package] = "installed" if have is None else "updated"
            if app.package in disabled:
                session.run("pm", "enable", app.package)
                actions.setdefault(app.package, "enabled")
            actions.setdefault(app.package, "unchanged")
        wanted = {app.package for app in apps}
        turned_off = []
        for package in sorted(set(others) - wanted):
            if package not in held or package in disabled:
                continue
            result = session.attempt("pm", "disable-user", "--user", "0", package)
            if result.returncode == 0:
                turned_off.append(package)
            else:  # "where the device allows it": a protected package stays, the rest goes on
                log.info(
                    "slot %d, device %s keeps %s enabled: %s",
                    session.slot,
                    session.serial,
                    package,
                    str(result.stderr).strip().splitlines()[-1:],
                )
        self._verify(session, apps)
        launched = session.attempt(*LAUNCH, home).returncode == 0
        outcomes = [AppOutcome(package=a.package, version_code=a.version_code, action=actions[a.package]) for a in apps]
        return ProvisionReport(
            work_type=work_type, home_app=home, apps=outcomes, disabled=turned_off, launched=launched
        )

    def _verify(self, session: AdbSession, apps: Sequence[AppPackage]) -> None:
        held = session.parsed(adbparse.packages, "pm", "list", "packages", "--show-versioncode")
        disabled = session.parsed(adbparse.package_names, "pm", "list", "packages", "-d")
        for app in apps:
            have = held.get(app.package)
            if have is None or have < app.version_code:
                found = "missing" if have is None else f"at version {have}"
                detail = f"after provisioning, {app.package} is {found}; the work type needs {app.version_code}"
                raise session.error(LinkFailure.REFUSED, detail)
            if app.package in disabled:
                raise session.error(LinkFailure.REFUSED, f"after provisioning, {app.package} is still disabled")
