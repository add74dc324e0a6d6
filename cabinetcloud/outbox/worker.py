"""The delivery worker: claim what is due, send it, settle it. Run in every `cabinet-cloud serve` process
(each claims different rows) or by `cabinet-cloud deliveries run` in a test."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa

from cabinetcloud import schema
from cabinetcloud.outbox import channels, queue, tickets, webhooks
from cabinetcloud.outbox.publish import clear_alarm, raise_alarm
from cabinetcloud.outbox.queue import Claimed, Outcome
from cabinetcloud.storage import Storage

log = logging.getLogger(__name__)

BATCH: Final = 32
SENDERS: Final = 8
Clock = Callable[[], datetime]


def _endpoint(storage: Storage, endpoint_id: int) -> Any:
    with storage.reading() as conn:
        return conn.execute(sa.select(schema.endpoints).where(schema.endpoints.c.id == endpoint_id)).first()


def _send(endpoint: Any, claimed: Claimed, now: datetime, timeout_s: float) -> Outcome:
    if endpoint is None or not endpoint.active:
        return Outcome("gone", None, "the endpoint was disabled or removed")
    if endpoint.kind == "webhook":
        return webhooks.send(
            endpoint.url,
            json.loads(endpoint.secrets),
            claimed.message_id,
            claimed.payload,
            now,
            allow_private=endpoint.allow_private,
            timeout_s=timeout_s,
        )
    return channels.send(endpoint.url, json.loads(claimed.payload), allow_private=endpoint.allow_private)


def _settle(
    storage: Storage, endpoint: Any, claimed: Claimed, result: Outcome, started: datetime, now: datetime
) -> None:
    with storage.writing() as conn:
        status = queue.settle(conn, claimed, result, started, now)
        if endpoint is None:
            return
        subject = f"endpoint:{endpoint.id}"
        if status == queue.HELD and endpoint.active:
            queue.hold_endpoint(conn, endpoint.id, result.detail)
            raise_alarm(
                storage,
                conn,
                endpoint.store,
                "endpoint_gone",
                subject,
                f"{endpoint.name}: {result.detail}",
                now,
                exclude=endpoint.id,
            )
        elif status == queue.FAILED:
            tries = f"failed after {claimed.attempt} attempts"
            detail = f"{endpoint.name}: delivery {claimed.message_id} {tries}: {result.detail}"
            raise_alarm(storage, conn, endpoint.store, "endpoint_failing", subject, detail, now, exclude=endpoint.id)
        elif status == queue.DELIVERED:
            clear_alarm(conn, "endpoint_failing", subject, now)
            if claimed.event_type == "repair_ticket.opened":
                tickets.take_reference(conn, json.loads(claimed.payload)["data"]["ticket_id"], result.answer)
    if status is None:
        log.warning("delivery %s: lease lost before the attempt was settled", claimed.message_id)


def run_once(
    storage: Storage,
    now: datetime | None = None,
    *,
    clock: Clock | None = None,
    limit: int = BATCH,
    timeout_s: float = webhooks.TIMEOUT_S,
    only: int | None = None,
) -> int:
    """Send what is due now; returns how many attempts were made."""
    tick: Clock = clock or (lambda: datetime.now(UTC))
    started = now or tick()
    claimed = queue.claim(storage, started, limit, only=only)
    if not claimed:
        return 0

    def attempt(item: Claimed) -> None:
        endpoint = _endpoint(storage, item.endpoint_id)
        try:
            result = _send(endpoint, item, started, timeout_s)
        except Exception as exc:  # a sender's bug must not leave the lease to run out unexplained
            log.exception("delivery %s: sender failed", item.message_id)
            result = Outcome("retry", None, f"{type(exc).__name__}: {exc}")
        _settle(storage, endpoint, item, result, started, now or tick())

    with ThreadPoolExecutor(max_workers=min(SENDERS, len(claimed))) as pool:
        list(pool.map(attempt, claimed))
    return len(claimed)
