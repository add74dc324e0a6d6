"""An APK comes in: its facts read from the APK itself, checked against what the fleet holds, kept.

The package name, versionCode and versionName come from the binary AndroidManifest.xml and the signer
from the verified v2/v3 signing block (cabinetproto.apk), never from what the operator says. The same
bytes again are the record already kept. Refused, as Android refuses them on a device: an APK whose
signer is not the one the fleet already holds for that package name (a device would refuse it as an
update), and other bytes under a versionCode already kept (a cabinet holding one build must never be
handed another as the same). Every work type whose replica changes with the upload (one of its apps is
now this APK) is republished in the same transaction, so the cabinets see it within one long poll.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import audit, fleet, schema
from cabinetcloud.apppackages import matching
from cabinetcloud.apppackages.tables import CHUNK_BYTES, app_package_chunks, app_packages
from cabinetcloud.storage import Storage
from cabinetproto.apk import ApkError, ApkFacts, read_apk
from cabinetproto.wire import Entity

MEDIA_TYPE: Final = "application/vnd.android.package-archive"
# A store app is a few to a few tens of megabytes; the bytes are held in memory while they are read.
MAX_APK_BYTES: Final = 256 * 1024 * 1024
RESOURCE: Final = "app_package"


class PackageError(Exception):
    """An APK refused; `status` and `code` are the HTTP refusal's, the message names the file."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def record(row: Any) -> dict[str, Any]:
    """An app package as the API and the audit log show it."""
    return {
        "sha256": row.sha256,
        "package": row.package,
        "version_code": row.version_code,
        "version_name": row.version_name,
        "size": row.size,
        "signer_sha256": row.signer_sha256,
        "uploaded_by": row.uploaded_by,
        "uploaded_at": row.uploaded_at,
    }


def facts_of(data: bytes, name: str) -> ApkFacts:
    try:
        facts = read_apk(data, name)
    except ApkError as error:
        raise PackageError(422, "not_an_apk", str(error)) from None
    if len(facts.package) > 200 or (facts.version_name is not None and len(facts.version_name) > 64):
        raise PackageError(422, "not_an_apk", f"{name}: package name or versionName too long to keep")
    return facts


def _one(conn: Connection, sha256: str) -> Any:
    return conn.execute(sa.select(app_packages).where(app_packages.c.sha256 == sha256)).first()


def _refusal_against(conn: Connection, facts: ApkFacts, name: str) -> PackageError | None:
    kept = conn.execute(
        sa.select(app_packages).where(app_packages.c.package == facts.package).order_by(app_packages.c.version_code)
    ).all()
    for row in kept:
        if row.signer_sha256 != facts.signer_sha256:
            return PackageError(
                409,
                "signer_differs",
                f"{name}: {facts.package} is signed by {facts.signer_sha256}, but the fleet holds it signed by "
                f"{row.signer_sha256} (versionCode {row.version_code}): a device refuses such an update",
            )
    for row in kept:
        if row.version_code == facts.version_code:
            return PackageError(
                409,
                "version_taken",
                f"{name}: {facts.package} versionCode {facts.version_code} is kept already with other bytes "
                f"(sha256 {row.sha256}): a new build needs a new versionCode",
            )
    return None


def _keep(conn: Connection, facts: ApkFacts, data: bytes, actor: audit.Actor, now: datetime) -> dict[str, Any]:
    conn.execute(
        sa.insert(app_packages).values(
            sha256=facts.sha256,
            package=facts.package,
            version_code=facts.version_code,
            version_name=facts.version_name,
            size=facts.size,
            signer_sha256=facts.signer_sha256,
            uploaded_by=actor.name,
            uploaded_at=now,
        )
    )
    for number, at in enumerate(range(0, len(data), CHUNK_BYTES)):
        conn.execute(
            sa.insert(app_package_chunks).values(sha256=facts.sha256, number=number, data=data[at : at + CHUNK_BYTES])
        )
    kept = record(_one(conn, facts.sha256))
    audit.record(conn, actor, "upload", RESOURCE, facts.sha256, after=kept, now=now)
    return kept


def republish_changed(conn: Connection, package: str, before: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Republish the work types naming `package` whose apps, as the cabinets get them, are not `before`."""
    changed = [work_type for work_type, apps in matching.naming(conn, package).items() if before.get(work_type) != apps]
    for work_type in changed:
        fleet.republish(conn, Entity.WORK_TYPES, work_type)
    return changed


def accept(storage: Storage, data: bytes, name: str, actor: audit.Actor, now: datetime) -> tuple[dict[str, Any], bool]:
    """Keep the APK and audit it; returns its record and whether it is new. PackageError when refused."""
    if not data:
        raise PackageError(422, "not_an_apk", f"{name}: the upload is empty")
    facts = facts_of(data, name)
    with storage.writing() as conn:
        # Uploads one at a time, behind the change feed's counter (held until commit): on PostgreSQL a
        # second upload of the package then reads the first's rows, so two signers never both get in.
        conn.execute(storage.lock_for_update(sa.select(schema.counters).where(schema.counters.c.name == "changes")))
        kept = _one(conn, facts.sha256)
        if kept is not None:
            return record(kept), False
        refused = _refusal_against(conn, facts, name)
        if refused is not None:
            raise refused
        before = matching.naming(conn, facts.package)
        new = _keep(conn, facts, data, actor, now)
        republish_changed(conn, facts.package, before)
    return new, True


def listed(conn: Connection, package: str | None = None) -> list[dict[str, Any]]:
    """The app packages by package name, the newest versionCode first."""
    query = sa.select(app_packages).order_by(app_packages.c.package, app_packages.c.version_code.desc())
    if package is not None:
        query = query.where(app_packages.c.package == package)
    return [record(row) for row in conn.execute(query).all()]


def one(conn: Connection, sha256: str) -> dict[str, Any] | None:
    row = _one(conn, sha256)
    return None if row is None else record(row)


def remove(storage: Storage, sha256: str, actor: audit.Actor, now: datetime) -> None:
    """Forget an APK no work type needs; PackageError 404 for an unknown one, 409 naming the work types."""
    with storage.writing() as conn:
        kept = one(conn, sha256)
        if kept is None:
            raise PackageError(404, "not_found", f"app package {sha256} is not known")
        users = matching.needed_by(conn, sha256)
        if users:
            raise PackageError(
                409,
                "in_use",
                f"app package {sha256} ({kept['package']} versionCode {kept['version_code']}) is an app of the "
                f"work types {', '.join(users)}: change their apps or upload a newer build first",
            )
        conn.execute(sa.delete(app_package_chunks).where(app_package_chunks.c.sha256 == sha256))
        conn.execute(sa.delete(app_packages).where(app_packages.c.sha256 == sha256))
        audit.record(conn, actor, "delete", RESOURCE, sha256, before=kept, now=now)
