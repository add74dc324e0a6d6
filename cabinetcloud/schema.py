"""The cloud's tables (SQLAlchemy Core): one schema for SQLite and PostgreSQL.

Times are stored as naive UTC and read back as aware UTC, so both databases agree. JSON is kept as
text: the cloud hands it on as it came and computes checksums over its own canonical form.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the cloud stores UTC only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = sa.MetaData()

schema_version = sa.Table("schema_version", metadata, sa.Column("version", sa.Integer, nullable=False))

# Serialises the writers of a sequence: the row lock is held to commit, so ids commit in order and a
# reader that has seen id N can never later find an id below N appear.
counters = sa.Table(
    "counters",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

settings = sa.Table(
    "settings",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

stores = sa.Table(
    "stores",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
)

cabinets = sa.Table(
    "cabinets",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("store", sa.String(64), sa.ForeignKey("stores.id"), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=True, unique=True),
    sa.Column("token_issued_at", UtcDateTime, nullable=True),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
    sa.Column("last_session_at", UtcDateTime, nullable=True),
    sa.Column("software_version", sa.Text, nullable=True),
    sa.Column("protocol_version", sa.Integer, nullable=True),
    sa.Column("schema_version", sa.Integer, nullable=True),
    sa.Column("skew_s", sa.Float, nullable=True),
    sa.Column("skew_flagged", sa.Boolean, nullable=False, server_default=sa.false()),
    # Where the cabinet's ledger stood at its last session (schema version 9): with what the cloud has
    # acknowledged of that epoch, how many events it still held unsent then.
    sa.Column("reported_epoch", sa.String(64), nullable=True),
    sa.Column("reported_seq", sa.BigInteger, nullable=True),
)

# Where each of a cabinet's epochs stands: the next upload must start at acked_seq + 1 and link to
# last_hash. `ordinal` keeps the order in which the cloud first saw the epochs.
epochs = sa.Table(
    "epochs",
    metadata,
    sa.Column("cabinet_id", sa.String(64), sa.ForeignKey("cabinets.id"), primary_key=True),
    sa.Column("epoch", sa.String(64), primary_key=True),
    sa.Column("ordinal", sa.BigInteger, nullable=False),
    sa.Column("acked_seq", sa.BigInteger, nullable=False),
    sa.Column("last_hash", sa.String(128), nullable=False),
    sa.Column("first_seen_at", UtcDateTime, nullable=False),
    sa.Column("fork_detected_at", UtcDateTime, nullable=True),
)


def _event_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("cabinet_id", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("epoch", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("received_at", UtcDateTime, nullable=False),
    ]


events = sa.Table(
    "events",
    metadata,
    *_event_columns(),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("schema_version", sa.Integer, nullable=False),
    sa.Column("occurred_at", sa.Text, nullable=False),
    # The cabinet's wall time parsed, or NULL when it was not a time; never a reason to refuse.
    sa.Column("occurred_at_utc", UtcDateTime, nullable=True),
    sa.Column("mono_ns", sa.BigInteger, nullable=False),
    sa.Column("boot_id", sa.String(64), nullable=False),
    sa.Column("slot", sa.Integer, nullable=True),
    sa.Column("device", sa.String(128), nullable=True),
    sa.Column("staff", sa.String(128), nullable=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(128), nullable=False),
    sa.Column("hash", sa.String(128), nullable=False),
    sa.Index("events_by_position", "cabinet_id", "epoch", "seq"),
)

# Events the cloud acknowledged but could not accept: kept whole, with the reason, for a person.
dead_letters = sa.Table(
    "dead_letters",
    metadata,
    *_event_columns(),
    sa.Column("code", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("raw", sa.Text, nullable=False),
)

work_types = sa.Table(
    "work_types",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("apps", sa.Text, nullable=False),
    sa.Column("battery_threshold", sa.Integer, nullable=False),
    sa.Column("rental_limit_minutes", sa.Integer, nullable=False),
    sa.Column("device_limit", sa.Integer, nullable=False),
    sa.Column("device_models", sa.Text, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    # Language tag → name (JSON); {} for an entry given one plain name (schema version 3).
    sa.Column("names", sa.Text, nullable=False, server_default="{}"),
)

device_models = sa.Table(
    "device_models",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("slot_type", sa.String(64), nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("names", sa.Text, nullable=False, server_default="{}"),  # as work_types.names
    # How the cabinet talks to this model's handhelds (cabinetproto.links; schema version 10).
    sa.Column("link", sa.String(64), nullable=False, server_default="aoa-agent"),
)

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("serial", sa.String(64), primary_key=True),
    sa.Column("model", sa.String(64), nullable=False),
    sa.Column("store", sa.String(64), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
)

staff = sa.Table(
    "staff",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("badge", sa.String(64), nullable=False),
    sa.Column("store", sa.String(64), nullable=False),
    sa.Column("work_type", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("pin_hash", sa.Text, nullable=True),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
)

# The downlink feed: one row per change of a replicated entity, ids from the `changes` counter.
changes = sa.Table(
    "changes",
    metadata,
    sa.Column("change_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("entity", sa.String(32), nullable=False),
    sa.Column("entity_id", sa.String(128), nullable=False),
    sa.Column("op", sa.String(8), nullable=False),
    sa.Column("data", sa.Text, nullable=True),
    sa.Column("changed_at", UtcDateTime, nullable=False),
)

commands = sa.Table(
    "commands",
    metadata,
    sa.Column("command_id", sa.String(36), primary_key=True),
    sa.Column("number", sa.BigInteger, nullable=False, unique=True),
    sa.Column("cabinet_id", sa.String(64), sa.ForeignKey("cabinets.id"), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("args", sa.Text, nullable=False),
    sa.Column("issued_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("delivered_at", UtcDateTime, nullable=True),
    # pending until the cabinet's command_result event arrives: then done or failed.
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("result_detail", sa.Text, nullable=True),
    sa.Column("result_at", UtcDateTime, nullable=True),
    sa.Index("commands_by_cabinet", "cabinet_id", "number"),
)

# --- operators (schema version 4: `_v4_operators`) ------------------------------------------------

# The people (and scripts) who run the fleet. A store-manager's stores are in operator_stores.
operators = sa.Table(
    "operators",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    # argon2id (argon2-cffi's encoded form); NULL until a password is set: tokens only.
    sa.Column("password_hash", sa.Text, nullable=True),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

operator_stores = sa.Table(
    "operator_stores",
    metadata,
    sa.Column("operator_id", sa.Integer, sa.ForeignKey("operators.id"), primary_key=True),
    sa.Column("store", sa.String(64), sa.ForeignKey("stores.id"), primary_key=True),
)

# Operators' API tokens: only the SHA-256 of the token is kept (it is 256 random bits).
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("operator_id", sa.Integer, sa.ForeignKey("operators.id"), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_used_at", UtcDateTime, nullable=True),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
)

# Browser logins, kept on the server: the cookie holds the id, the table its SHA-256.
operator_sessions = sa.Table(
    "operator_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("operator_id", sa.Integer, sa.ForeignKey("operators.id"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)

# Every change an operator makes: who, when, what, and the resource before and after (JSON text).
audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("via", sa.String(16), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("resource", sa.String(32), nullable=False),
    sa.Column("resource_id", sa.String(128), nullable=False),
    sa.Column("before", sa.Text, nullable=True),
    sa.Column("after", sa.Text, nullable=True),
    sa.Index("audit_by_resource", "resource", "resource_id", "id"),
)

OPERATOR_TABLES = (operators, operator_stores, api_tokens, operator_sessions, audit_events)

# --- fleet administration (schema version 6: `_v6_fleet_admin`) ------------------------------------

# Where a staff member's notices go (docs/fleet.md, "Fleet data"): kept in the cloud only, never
# replicated to a cabinet, so it is a table of its own beside the replicated `staff`.
staff_contacts = sa.Table(
    "staff_contacts",
    metadata,
    sa.Column("staff_id", sa.String(64), primary_key=True),
    sa.Column("notify", sa.Text, nullable=False),
)

# The slot numbers of each cabinet, as its modules number them: what a remote command is checked
# against. A cabinet's events name only the slots that ever changed, so the cloud is told them.
cabinet_slots = sa.Table(
    "cabinet_slots",
    metadata,
    sa.Column("cabinet_id", sa.String(64), sa.ForeignKey("cabinets.id"), primary_key=True),
    sa.Column("slot", sa.Integer, primary_key=True, autoincrement=False),
)

FLEET_ADMIN_TABLES = (staff_contacts, cabinet_slots)


# --- background jobs (schema version 8: `_v8_background_jobs`) ------------------------------------

# One row per registered job that is claimed whole (cabinetcloud/jobs.py: not `parallel`). A process
# about to run the job locks its row (FOR UPDATE SKIP LOCKED on PostgreSQL) until the run ends, so the
# job runs in one process at a time, and `due_at` is shared, so every process keeps to one schedule: a
# job every 30 s runs every 30 s, not every 30 s in each of the workers.
background_jobs = sa.Table(
    "background_jobs",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("due_at", UtcDateTime, nullable=False),
    sa.Column("last_run_at", UtcDateTime, nullable=True),
    sa.Column("last_count", sa.BigInteger, nullable=True),
)

JOB_TABLES = (background_jobs,)
