"""The outbox's tables (schema version 7, `_v7_outbox`; docs/webhooks.md, docs/notifications.md), in the
cloud's one `metadata` beside schema.py's: endpoints, deliveries and their attempts, the cloud's own
alarms, repair tickets with the repair service, store notice settings and the reminders noted."""

from __future__ import annotations

import sqlalchemy as sa

from cabinetcloud.schema import UtcDateTime, metadata

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
