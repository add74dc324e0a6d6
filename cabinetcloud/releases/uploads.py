"""A release comes in: the package and its detached signature, checked before anything is kept.

The signature is checked first, with the fleet's release public key, so that only bytes the fleet's
own key signed are parsed at all; then the package must be a .deb of `cabinetd` with a Debian version.
Its name, version and architecture are read from the package itself, never from the upload's file
name. The same bytes uploaded again are the release already kept; other bytes under a version
already kept are refused: a cabinet that took one build must never be offered another as the same.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import Connection

from cabinetcloud import audit
from cabinetcloud.releases.tables import CHUNK_BYTES, release_chunks, releases
from cabinetcloud.storage import Storage
from cabinetproto import debpackage, debversion, releasesig

PACKAGE: Final = "cabinetd"
# The cabinet's package holds its whole virtual environment: tens of megabytes; this is the ceiling.
MAX_PACKAGE_BYTES: Final = 256 * 1024 * 1024
NO_KEY: Final = (
    "this fleet service has no release public key: uploads are refused until `cabinet-cloud serve` "
    "is started with --release-key PATH (or CABINET_CLOUD_RELEASE_KEY)"
)


class ReleaseError(Exception):
    """A release refused; `status` and `code` are the HTTP refusal's, the message names the package."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Upload:
    data: bytes
    signature: bytes
    name: str  # the uploaded file's name, for messages only


def record(row: Any) -> dict[str, Any]:
    """A release as the API, the audit log and the dashboard show it."""
    return {
        "id": row.id,
        "package": row.package,
        "version": row.version,
        "architecture": row.architecture,
        "sha256": row.sha256,
        "size": row.size,
        "signature": row.signature,
        "uploaded_by": row.uploaded_by,
        "uploaded_at": row.uploaded_at,
    }


def checked(key: Ed25519PublicKey | None, upload: Upload) -> debpackage.Control:
    """The package's control fields, once its signature and its contents pass; else ReleaseError."""
    if key is None:
        raise ReleaseError(409, "no_release_key", NO_KEY)
    if not upload.data:
        raise ReleaseError(422, "invalid", f"{upload.name}: the package is empty")
    try:
        releasesig.verify(key, upload.data, upload.signature)
    except releasesig.BadSignature as error:
        raise ReleaseError(422, "bad_signature", f"{upload.name}: {error}") from None
    try:
        control = debpackage.read_control(upload.data, upload.name)
    except debpackage.PackageError as error:
        raise ReleaseError(422, "not_a_package", str(error)) from None
    if control.package != PACKAGE:
        raise ReleaseError(
            422,
            "wrong_package",
            f"{upload.name} is the package {control.package!r}, not {PACKAGE!r}: only the cabinet's own is released",
        )
    try:
        debversion.check(control.version)
    except debversion.VersionError as error:
        raise ReleaseError(422, "bad_version", f"{upload.name}: {error}") from None
    if len(control.version) > 64 or len(control.architecture) > 32:
        raise ReleaseError(422, "bad_version", f"{upload.name}: version or architecture too long to keep")
    return control


def _kept(conn: Connection, control: debpackage.Control) -> Any:
    return conn.execute(
        sa.select(releases).where(
            releases.c.package == control.package,
            releases.c.version == control.version,
            releases.c.architecture == control.architecture,
        )
    ).first()


def _same_or_refused(row: Any, digest: str, name: str) -> Any:
    if row.sha256 != digest:
        raise ReleaseError(
            409,
            "version_taken",
            f"{name}: {row.package} {row.version} ({row.architecture}) is release {row.id} already, with other "
            f"bytes (sha256 {row.sha256}): a new build needs a new version",
        )
    return row


def accept(
    storage: Storage, key: Ed25519PublicKey | None, upload: Upload, actor: audit.Actor, now: datetime
) -> tuple[dict[str, Any], bool]:
    """Keep the release (with its bytes) and audit it; returns its record and whether it is new."""
    control = checked(key, upload)
    digest = hashlib.sha256(upload.data).hexdigest()
    with storage.writing() as conn:
        row = _kept(conn, control)
        if row is not None:
            return record(_same_or_refused(row, digest, upload.name)), False
        values = {
            "package": control.package,
            "version": control.version,
            "architecture": control.architecture,
            "sha256": digest,
            "size": len(upload.data),
            "signature": releasesig.encode_signature(upload.signature),
            "uploaded_by": actor.name,
            "uploaded_at": now,
        }
        # Two uploads of one version at once: the second waits for the first's commit, then finds it.
        inserted = conn.execute(storage.insert_ignoring_duplicates(releases).values(**values).returning(releases.c.id))
        release_id = inserted.scalar()
        if release_id is None:
            return record(_same_or_refused(_kept(conn, control), digest, upload.name)), False
        chunks = [
            {"release_id": release_id, "number": number, "data": upload.data[at : at + CHUNK_BYTES]}
            for number, at in enumerate(range(0, len(upload.data), CHUNK_BYTES))
        ]
        for chunk in chunks:
            conn.execute(sa.insert(release_chunks).values(**chunk))
        kept = record(conn.execute(sa.select(releases).where(releases.c.id == release_id)).one())
        audit.record(conn, actor, "upload", "release", str(release_id), after=kept, now=now)
    return kept, True


def listed(conn: Connection, limit: int = 200) -> list[dict[str, Any]]:
    """The releases, newest first."""
    rows = conn.execute(sa.select(releases).order_by(releases.c.id.desc()).limit(limit)).all()
    return [record(row) for row in rows]


def one(conn: Connection, release_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(releases).where(releases.c.id == release_id)).first()
    return None if row is None else record(row)
