"""Outbound deliveries: the messages the cloud sends to the world, each written to an outbox of its own in
the transaction that caused it, claimed by one worker, retried on a schedule, and logged attempt by
attempt (docs/webhooks.md).
"""
