"""The app packages' tables (schema version 12, `_v12_app_packages`).

An APK's bytes live in the database in chunks, as a release's do (cabinetcloud/releases/tables.py):
every `cabinet-cloud serve` process on any host serves the same bytes, a backup or `cabinet-cloud copy`
takes them along, and a download reads only the chunks it sends. The key is the sha256 of the bytes.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa

from cabinetcloud.schema import UtcDateTime, metadata

CHUNK_BYTES: Final = 1024 * 1024

app_packages = sa.Table(
    "app_packages",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("package", sa.String(200), nullable=False),
    sa.Column("version_code", sa.BigInteger, nullable=False),
    sa.Column("version_name", sa.String(64), nullable=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("signer_sha256", sa.String(64), nullable=False),
    sa.Column("uploaded_by", sa.String(128), nullable=False),
    sa.Column("uploaded_at", UtcDateTime, nullable=False),
    # One build per version code: a cabinet that holds one must never be handed another as the same.
    sa.UniqueConstraint("package", "version_code", name="app_packages_one_per_version_code"),
)

app_package_chunks = sa.Table(
    "app_package_chunks",
    metadata,
    sa.Column("sha256", sa.String(64), sa.ForeignKey("app_packages.sha256"), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

APP_PACKAGE_TABLES: Final = (app_packages, app_package_chunks)
