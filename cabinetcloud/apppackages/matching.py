"""Which uploaded APK a work type's app is: what the cabinets' replica of the work type carries.

A work type names each app by package and version, as an operator writes it ("2.4.0", or a version
code "240"). The APK that matches is one of that package whose versionName is the version, or whose
versionCode written in decimal is; of several, the highest versionCode. The work type the cabinets
receive then carries the APK's version_code, sha256, size and signer_sha256, which is all the cabinet
needs to fetch it (`GET /v1/packages/{sha256}`) and to check what it got.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.apppackages.tables import app_packages

FACTS = ("version_code", "sha256", "size", "signer_sha256")


def _matches(row: Any, version: str) -> bool:
    return bool(row.version_name == version or str(row.version_code) == version)


def _candidates(conn: Connection, packages: Iterable[str]) -> dict[str, list[Any]]:
    wanted = sorted(set(packages))
    found: dict[str, list[Any]] = {name: [] for name in wanted}
    if not wanted:
        return found
    rows = conn.execute(
        sa.select(app_packages)
        .where(app_packages.c.package.in_(wanted))
        .order_by(app_packages.c.package, app_packages.c.version_code.desc())
    ).all()
    for row in rows:
        found[row.package].append(row)
    return found


def resolved_apps(conn: Connection, apps: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The apps with the facts of the APK each one is, where the fleet holds one."""
    candidates = _candidates(conn, (str(app["package"]) for app in apps))
    resolved: list[dict[str, Any]] = []
    for app in apps:
        entry = dict(app)
        row = next((row for row in candidates[str(app["package"])] if _matches(row, str(app["version"]))), None)
        if row is not None:
            entry.update({name: getattr(row, name) for name in FACTS})
        resolved.append(entry)
    return resolved


def needed_by(conn: Connection, sha256: str) -> list[str]:
    """The work types whose apps are the APK `sha256` now, sorted."""
    users: list[str] = []
    for work_type, apps in conn.execute(sa.select(schema.work_types.c.id, schema.work_types.c.apps)):
        if any(app.get("sha256") == sha256 for app in resolved_apps(conn, json.loads(apps))):
            users.append(str(work_type))
    return sorted(users)


def naming(conn: Connection, package: str) -> dict[str, list[dict[str, Any]]]:
    """The work types that name `package` among their apps, each with its apps as the cabinets get them."""
    found: dict[str, list[dict[str, Any]]] = {}
    for work_type, apps in conn.execute(sa.select(schema.work_types.c.id, schema.work_types.c.apps)):
        listed = json.loads(apps)
        if any(app.get("package") == package for app in listed):
            found[str(work_type)] = resolved_apps(conn, listed)
    return found
