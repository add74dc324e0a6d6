"""The projection tables (schema version 5, `_v5_projections`): what the projector derives from the
ingested events, read by the fleet's views (docs/fleet-views.md).

Two kinds of rows. Facts, one per event that carries one (a rental, a return, a repair ticket, a
problem report), written once by the projector of the cabinet that sent the event. And what the
facts of one device add up to across cabinets (how each rental ended, whether it overlaps another,
where the device is), settled again from all of that device's facts whenever one is added, under
the device's row lock: so the result depends on the set of facts, never on the order in which the
cabinets' batches were projected.
"""

from __future__ import annotations

import sqlalchemy as sa

from cabinetcloud import schema
from cabinetcloud.schema import UtcDateTime, metadata

# How far the projector has got in each epoch of each cabinet; claimed (FOR UPDATE SKIP LOCKED) by
# the worker that projects it.
progress = sa.Table(
    "projection_progress",
    metadata,
    sa.Column("cabinet_id", sa.String(64), primary_key=True),
    sa.Column("epoch", sa.String(64), primary_key=True),
    sa.Column("projected_seq", sa.BigInteger, nullable=False),
)

# One row per device_rented. The columns after `seq` are settled from the device's facts.
rentals = sa.Table(
    "projected_rentals",
    metadata,
    sa.Column("cabinet_id", sa.String(64), primary_key=True),
    sa.Column("rental_id", sa.String(64), primary_key=True),
    sa.Column("device", sa.String(128), nullable=False),
    sa.Column("staff", sa.String(128), nullable=False),
    sa.Column("store", sa.String(64), nullable=False),
    sa.Column("slot", sa.Integer, nullable=False),
    sa.Column("work_type", sa.String(64), nullable=True),
    sa.Column("rented_at", UtcDateTime, nullable=False),
    sa.Column("due_at", UtcDateTime, nullable=True),
    sa.Column("battery_out", sa.Integer, nullable=True),
    sa.Column("epoch", sa.String(64), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    # settled: the return (or cancel) that ended it, and whether another rental of the device overlaps it
    sa.Column("ended_at", UtcDateTime, nullable=True),
    sa.Column("ended_by", sa.String(16), nullable=True),  # returned | cancelled
    sa.Column("end_cabinet", sa.String(64), nullable=True),
    sa.Column("end_event", sa.String(36), nullable=True),
    sa.Column("end_store", sa.String(64), nullable=True),
    sa.Column("battery_in", sa.Integer, nullable=True),
    sa.Column("conflict", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("projected_rentals_by_device", "device"),
    sa.Index("projected_rentals_by_store", "store", "rented_at"),
)

# One row per device_returned and rental_cancelled (kind says which).
returns = sa.Table(
    "projected_returns",
    metadata,
    sa.Column("cabinet_id", sa.String(64), primary_key=True),
    sa.Column("event_id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("device", sa.String(128), nullable=False),
    sa.Column("rental_id", sa.String(64), nullable=True),
    sa.Column("store", sa.String(64), nullable=False),
    sa.Column("slot", sa.Integer, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("battery_in", sa.Integer, nullable=True),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("epoch", sa.String(64), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Index("projected_returns_by_device", "device"),
)

# Repair tickets, problem reports and technicians clearing a report (kind: ticket | report | cleared).
faults = sa.Table(
    "projected_faults",
    metadata,
    sa.Column("cabinet_id", sa.String(64), primary_key=True),
    sa.Column("event_id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("device", sa.String(128), nullable=True),
    sa.Column("staff", sa.String(128), nullable=True),
    sa.Column("store", sa.String(64), nullable=False),
    sa.Column("slot", sa.Integer, nullable=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("ticket_id", sa.String(64), nullable=True),
    sa.Column("evidence", sa.Text, nullable=True),  # JSON: the self-test evidence of a ticket
    sa.Column("reason", sa.String(32), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("critical", sa.Boolean, nullable=False),
    sa.Column("rental_id", sa.String(64), nullable=True),  # the report's own, or the return's before a ticket
    sa.Column("return_event", sa.String(36), nullable=True),  # the device_returned just before a ticket
    sa.Column("epoch", sa.String(64), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    # settled: when the device was back in service (rented again, a passing return, a report cleared)
    sa.Column("closed_at", UtcDateTime, nullable=True),
    sa.Index("projected_faults_by_device", "device"),
    sa.Index("projected_faults_by_store", "store", "at"),
)

# One row per device any event named: the lock its settling takes, and what it settles to.
devices = sa.Table(
    "projected_devices",
    metadata,
    sa.Column("serial", sa.String(128), primary_key=True),
    sa.Column("last_seen_at", UtcDateTime, nullable=True),
    sa.Column("last_seen_cabinet", sa.String(64), nullable=True),
    # the latest event that put it in a slot (status, return, cancel), by its time
    sa.Column("placed_at", UtcDateTime, nullable=True),
    sa.Column("placed_cabinet", sa.String(64), nullable=True),
    sa.Column("placed_slot", sa.Integer, nullable=True),
    sa.Column("state", sa.String(16), nullable=True),  # in_slot | rented | in_repair, settled
)

# The live picture of each cabinet's slots: the latest slot event by (epoch ordinal, seq).
slots = sa.Table(
    "projected_slots",
    metadata,
    sa.Column("cabinet_id", sa.String(64), primary_key=True),
    sa.Column("slot", sa.Integer, primary_key=True),
    sa.Column("state", sa.String(16), nullable=True),
    sa.Column("device", sa.String(128), nullable=True),
    sa.Column("since", UtcDateTime, nullable=False),
    sa.Column("ordinal", sa.BigInteger, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
)

# One row per update_* event a cabinet sent (cabinetproto/update_events.py): a rollout's progress
# (schema version 11, `_v11_releases`, which is why it is not among the tables above).
updates = sa.Table(
    "projected_updates",
    metadata,
    sa.Column("cabinet_id", sa.String(64), primary_key=True),
    sa.Column("event_id", sa.String(36), primary_key=True),
    sa.Column("release", sa.String(64), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),  # refused: reason and detail; rolled back: the reason
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("ordinal", sa.BigInteger, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Index("projected_updates_by_release", "release", "cabinet_id"),
)

PROJECTION_TABLES = (progress, rentals, returns, faults, devices, slots)
UPDATE_TABLES = (updates,)
# What a recomputation empties (the progress goes back to nothing as well).
DERIVED_TABLES = (rentals, returns, faults, devices, slots, updates)

# A device's history and the projector's look-back (the battery before a rental, the work type its
# dispense named) read the events of one device: by this index rather than a scan of every event.
events_by_device = sa.Index(
    "events_by_device", schema.events.c.device, schema.events.c.cabinet_id, schema.events.c.epoch, schema.events.c.seq
)
