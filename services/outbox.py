"""The outbox: the relay that publishes pending messages, the reconciler, and the consumer that handles each message once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, text, update

from config.settings import Settings
from services import notify
from services.models import Delivery, Json, Notification, OutboxMessage, UtcDateTime
from services.runtime import PUBLISHED, Publish, Runtime

log = logging.getLogger(__name__)

_SKIP_LOCKED = {"postgresql": " FOR UPDATE SKIP LOCKED", "sqlite": ""}
_PENDING = "SELECT id, message_id, queue FROM outbox WHERE status = 'pending' ORDER BY id LIMIT :limit"
_STALE = """SELECT id, message_id, queue FROM outbox WHERE status = 'published' AND published_at < :before
    ORDER BY published_at LIMIT :limit"""
_LOCK_MESSAGE = {
    "postgresql": "SELECT id, message_id, topic, queue, case_id, payload, status FROM outbox WHERE message_id = :message_id FOR UPDATE",
    "sqlite": "SELECT id, message_id, topic, queue, case_id, payload, status FROM outbox WHERE message_id = :message_id",
}


def relay(rt: Runtime, publish: Publish, *, limit: int = 500) -> int:
    """Publish the messages still pending (oldest first) and mark them published; return how many."""
    return _publish(rt, publish, text(_PENDING + _SKIP_LOCKED[rt.engine.dialect.name]), {"limit": limit})


def reconcile(rt: Runtime, publish: Publish, settings: Settings, *, limit: int = 500) -> int:
    """Publish again what was published long ago and never handled (a lost broker message); return how many."""
    before = rt.clock.now() - timedelta(seconds=settings.republish_after_seconds)
    query = text(_STALE + _SKIP_LOCKED[rt.engine.dialect.name]).bindparams(bindparam("before", type_=UtcDateTime))
    return _publish(rt, publish, query, {"limit": limit, "before": before})


def _publish(rt: Runtime, publish: Publish, query: Any, params: dict[str, Any]) -> int:
    # The rows stay locked while they are published: a second relay skips them; a broker error rolls back.
    with rt.unit_of_work() as conn:
        rows = conn.execute(query, params).all()
        for row in rows:
            publish(row.queue, row.message_id)
        if rows:
            conn.execute(PUBLISHED, {"ids": [row.message_id for row in rows], "now": rt.clock.now()})
    return len(rows)


@dataclass(frozen=True)
class Handled:
    """What handling a message did: "handled", "duplicate" or "unknown", and how many deliveries it sent."""

    outcome: str
    sent: int = 0


def handle(rt: Runtime, settings: Settings, message_id: str) -> Handled:
    """Handle a message once: record its notifications, send its deliveries, then mark it handled.

    Each step is idempotent, so a worker killed anywhere leaves nothing half done that the next attempt
    does not finish: notifications and deliveries are unique per (message, recipient, channel), a
    delivery already sent is not sent again, and one attempt at a time holds a delivery (a lease, so a
    killed worker's hold runs out). A delivery that the server took just before the worker died is the
    one case sent twice; e-mails carry a stable Message-ID and webhooks an Idempotency-Key so the
    receiver can drop it.
    """
    with rt.unit_of_work() as conn:
        message = conn.execute(text(_LOCK_MESSAGE[conn.dialect.name]).columns(payload=Json), {"message_id": message_id}).first()
        if message is None:
            log.warning("message %s is not in the outbox", message_id)
            return Handled("unknown")
        if message.status == "done":
            return Handled("duplicate")
        notice = _notice(conn, rt, message)
        notify.record_notice(conn, message, notice, settings, rt.clock.now())
    sent = _send_pending(rt, settings, message, notice)
    with rt.unit_of_work() as conn:
        conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.message_id == message_id, OutboxMessage.status != "done")
            .values(status="done", handled_at=rt.clock.now())
        )
    return Handled("handled", sent)


def _notice(conn: Connection, rt: Runtime, message: Any) -> notify.Notice | None:
    if message.topic.startswith("deadline."):
        return notify.rung_notice(conn, rt, message.payload)
    return None


class DeliveriesPending(Exception):
    """Another attempt holds some deliveries of the message: try again when its lease has run out."""


def _send_pending(rt: Runtime, settings: Settings, message: Any, notice: notify.Notice | None) -> int:
    """Send each delivery not yet sent that this attempt can claim; raise DeliveriesPending if some are held."""
    with rt.unit_of_work(writes=False) as conn:
        unsent = conn.execute(
            select(Delivery.id, Delivery.channel, Delivery.recipient)
            .where(Delivery.message_id == message.message_id, Delivery.status != "sent")
            .order_by(Delivery.id)
        ).all()
    held = 0
    for delivery in unsent:
        if not _claim(rt, delivery.id, settings.delivery_lease_seconds):
            held += 1
            continue
        try:
            notify.send(delivery.channel, delivery.recipient, message, notice, settings)
        except Exception as error:
            _mark(rt, delivery.id, {"status": "pending", "lease_until": None, "last_error": f"{type(error).__name__}: {error}"[:500]})
            raise
        _mark(rt, delivery.id, {"status": "sent", "sent_at": rt.clock.now(), "lease_until": None, "last_error": None})
    if held:
        raise DeliveriesPending(f"{held} deliveries of message {message.message_id} are held by another attempt")
    return len(unsent)


def _claim(rt: Runtime, delivery_id: int, lease_seconds: int) -> bool:
    """Take a delivery for this attempt (two handlers of one message never both send it)."""
    now = rt.clock.now()
    free = or_(Delivery.status == "pending", and_(Delivery.status == "sending", Delivery.lease_until < now))
    with rt.unit_of_work() as conn:
        claimed = conn.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, free)
            .values(status="sending", lease_until=now + timedelta(seconds=lease_seconds), attempts=Delivery.attempts + 1)
        )
    return claimed.rowcount == 1


def _mark(rt: Runtime, delivery_id: int, values: dict[str, Any]) -> None:
    with rt.unit_of_work() as conn:
        conn.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values))


def unread(rt: Runtime, user_id: int) -> list[dict[str, Any]]:
    """Return a user's unread in-app notifications, newest first (the inbox badge counts them)."""
    with rt.unit_of_work(writes=False) as conn:
        rows = conn.execute(
            select(Notification.id, Notification.case_id, Notification.topic, Notification.data, Notification.created_at)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
            .order_by(Notification.id.desc())
        ).all()
    return [row._asdict() for row in rows]


def mark_read(rt: Runtime, user_id: int, notification_ids: list[int], now: datetime) -> None:
    """Mark notifications of a user read."""
    with rt.unit_of_work() as conn:
        conn.execute(
            update(Notification)
            .where(Notification.user_id == user_id, Notification.id.in_(notification_ids), Notification.read_at.is_(None))
            .values(read_at=now)
        )
