"""The releases' tables (schema version 11, `_v11_releases`).

A release's bytes live in the database, in chunks: every `cabinet-cloud serve` process, on any host,
serves the same package, a backup or `cabinet-cloud copy` takes it along, and a download (or its
resumption at a byte offset) reads only the chunks it sends.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa

from cabinetcloud.schema import UtcDateTime, metadata

# One package of a few tens of megabytes is a few dozen rows; a chunk is what one read sends on.
CHUNK_BYTES: Final = 1024 * 1024

releases = sa.Table(
    "releases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("package", sa.String(64), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("architecture", sa.String(32), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("signature", sa.String(88), nullable=False),  # base64 of the detached 64-byte signature
    sa.Column("uploaded_by", sa.String(128), nullable=False),
    sa.Column("uploaded_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("package", "version", "architecture", name="releases_one_per_version"),
)

release_chunks = sa.Table(
    "release_chunks",
    metadata,
    sa.Column("release_id", sa.Integer, sa.ForeignKey("releases.id"), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

# One operator's rollout of a release: to a store, to listed cabinets, or to a share of the fleet
# (of one store when `store` is set).
rollouts = sa.Table(
    "rollouts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("release_id", sa.Integer, sa.ForeignKey("releases.id"), nullable=False),
    sa.Column("target", sa.String(16), nullable=False),  # store | cabinets | share
    sa.Column("store", sa.String(64), nullable=True),
    sa.Column("percent", sa.Integer, nullable=True),
    sa.Column("allow_downgrade", sa.Boolean, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)

# The cabinets a rollout chose, each with the offer_update command it holds: queued by this rollout,
# or by an earlier rollout of the same release (never a second offer), or none when the cabinet
# already reported the release's version.
rollout_cabinets = sa.Table(
    "rollout_cabinets",
    metadata,
    sa.Column("rollout_id", sa.Integer, sa.ForeignKey("rollouts.id"), primary_key=True),
    sa.Column("cabinet_id", sa.String(64), sa.ForeignKey("cabinets.id"), primary_key=True),
    sa.Column("command_id", sa.String(36), nullable=True),
    sa.Column("release_id", sa.Integer, nullable=False),
    sa.Index("rollout_cabinets_by_release", "release_id", "cabinet_id"),
)

RELEASE_TABLES: Final = (releases, release_chunks, rollouts, rollout_cabinets)
