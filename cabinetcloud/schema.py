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
    # How the cabinet talks to this model's handhelds (cabinetproto.links; the storage step after the outbox).
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

# --- outbound deliveries (schema version 7: `_v7_outbox`; docs/webhooks.md) -----------------------

# Where a store's messages go: a webhook receiver (the repair service, an operator's system) signed in
# the Standard Webhooks form, or a chat / e-mail channel sent through Apprise.
endpoints = sa.Table(
    "endpoints",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("store", sa.String(64), sa.ForeignKey("stores.id"), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # webhook | channel
    # The receiver's URL, or the channel's Apprise URL (which may hold the channel's own token).
    sa.Column("url", sa.Text, nullable=False),
    # JSON list of whsec_ secrets, newest first: every one signs while a key is rotated.
    sa.Column("secrets", sa.Text, nullable=False, server_default="[]"),
    # JSON list of event types; [] is every type the endpoint's kind carries.
    sa.Column("event_types", sa.Text, nullable=False, server_default="[]"),
    # What the endpoint is for besides webhooks: reminders, escalation (a store manager's channel).
    sa.Column("purpose", sa.String(16), nullable=False, server_default="events"),
    sa.Column("allow_private", sa.Boolean, nullable=False, server_default=sa.false()),
    # The SHA-256 of the token the receiver uses to post repair-ticket updates back (webhooks only).
    sa.Column("callback_token_hash", sa.String(64), nullable=True, unique=True),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("disabled_reason", sa.Text, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("store", "name", name="endpoints_store_name"),
)

# One message to one endpoint, written in the transaction of what caused it. `dedup_key` makes the
# cause idempotent: the same event ingested twice, or a reminder for the same rental and interval,
# finds the row it made before.
deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("endpoint_id", sa.Integer, sa.ForeignKey("endpoints.id"), nullable=False),
    sa.Column("message_id", sa.String(64), nullable=False, unique=True),  # webhook-id: the same on every try
    sa.Column("dedup_key", sa.String(200), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    # pending → delivered | failed (schedule spent or refused) | held (its endpoint was disabled)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UtcDateTime, nullable=True),
    # While a worker sends, the row is leased to it; a worker that died leaves a lease that runs out.
    sa.Column("leased_until", UtcDateTime, nullable=True),
    sa.Column("last_status", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("delivered_at", UtcDateTime, nullable=True),
    sa.UniqueConstraint("endpoint_id", "dedup_key", name="deliveries_once"),
    sa.Index("deliveries_due", "status", "next_attempt_at"),
)

delivery_attempts = sa.Table(
    "delivery_attempts",
    metadata,
    sa.Column("delivery_id", sa.BigInteger, sa.ForeignKey("deliveries.id"), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    # delivered | retry | gone (410) | refused (unsafe address, redirect) | failed | interrupted
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
)

# Alarms the cloud raises itself (an endpoint that fails, a cabinet gone quiet), shown to operators
# and delivered as alarm.raised; cleared when the cause goes away.
cloud_alarms = sa.Table(
    "cloud_alarms",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("store", sa.String(64), nullable=False),
    sa.Column("alarm", sa.String(32), nullable=False),
    sa.Column("subject", sa.String(128), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("raised_at", UtcDateTime, nullable=False),
    sa.Column("cleared_at", UtcDateTime, nullable=True),
)

# A repair ticket's life with the store's repair service: opened by the cabinet's repair_ticket_opened,
# answered with the service's own reference, updated by its posts, closed by it (or an operator).
repair_tickets = sa.Table(
    "repair_tickets",
    metadata,
    sa.Column("ticket_id", sa.String(64), primary_key=True),
    sa.Column("store", sa.String(64), nullable=False),
    sa.Column("cabinet_id", sa.String(64), nullable=False),
    sa.Column("slot", sa.Integer, nullable=True),
    sa.Column("device", sa.String(128), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # open | accepted | in_repair | closed | rejected
    sa.Column("reference", sa.String(128), nullable=True),  # the repair service's own ticket id
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("updates", sa.Integer, nullable=False, server_default="0"),
    sa.Column("opened_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("closed_at", UtcDateTime, nullable=True),
    sa.Column("payload", sa.Text, nullable=False),  # the repair_ticket.opened data, as sent
    sa.Index("repair_tickets_by_device", "device", "status"),
)

# How a store's reminders go (docs/notifications.md): its time zone and languages, quiet hours, how
# often an overdue rental is reminded again, and when the store manager hears of it.
store_notices = sa.Table(
    "store_notices",
    metadata,
    sa.Column("store", sa.String(64), sa.ForeignKey("stores.id"), primary_key=True),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("languages", sa.Text, nullable=False),  # JSON list of language tags, the first the main one
    sa.Column("quiet_start", sa.String(5), nullable=True),  # "HH:MM" local time, or NULL: no quiet hours
    sa.Column("quiet_end", sa.String(5), nullable=True),
    sa.Column("overdue_every_min", sa.Integer, nullable=False),
    sa.Column("escalate_after_min", sa.Integer, nullable=True),  # NULL: never
)

# Each reminder once: per rental, kind (due_soon, overdue, escalation) and interval, whether the
# cabinet's own event or the cloud's clock noted it first.
reminders_sent = sa.Table(
    "reminders_sent",
    metadata,
    sa.Column("cabinet_id", sa.String(64), primary_key=True),
    sa.Column("rental_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("interval", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("staff", sa.String(64), nullable=True),
    sa.Column("noted_at", UtcDateTime, nullable=False),
    sa.Column("source", sa.String(8), nullable=False),  # cabinet | cloud
    sa.Column("delivered", sa.Boolean, nullable=False),  # false: too late to be worth a message
)

OUTBOX_TABLES = (endpoints, deliveries, delivery_attempts, cloud_alarms, repair_tickets, store_notices, reminders_sent)

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
