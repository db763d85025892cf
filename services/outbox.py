"""The outbox: the relay that publishes pending messages, the reconciler, and the consumer that handles each message once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, text, update

from config.settings import Settings
from services import notify
from services.models import Delivery, Json, Notification, UtcDateTime
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
        taken = notify.record_notice(conn, message, notice, settings, rt.clock.now())
    sent = _send(rt, settings, message, notice, taken.deliveries)
    with rt.unit_of_work() as conn:
        if sent:
            conn.execute(_SENT, {"ids": sent, "now": rt.clock.now()})
        if len(sent) < taken.wanted and conn.scalar(_UNSENT, {"message_id": message_id}):
            raise DeliveriesPending(f"deliveries of message {message_id} are held by another attempt")
        conn.execute(_DONE, {"message_id": message_id, "now": rt.clock.now()})
    return Handled("handled", len(sent))


def _notice(conn: Connection, rt: Runtime, message: Any) -> notify.Notice | None:
    if message.topic.startswith("deadline."):
        return notify.rung_notice(conn, rt, message.payload)
    return None


class DeliveriesPending(Exception):
    """Another attempt holds some deliveries of the message: try again when its lease has run out."""


_SENT = text("UPDATE deliveries SET status = 'sent', sent_at = :now, lease_until = NULL, last_error = NULL WHERE id IN :ids").bindparams(
    bindparam("ids", expanding=True), bindparam("now", type_=UtcDateTime)
)
_UNSENT = text("SELECT count(*) FROM deliveries WHERE message_id = :message_id AND status <> 'sent'")
_DONE = text("UPDATE outbox SET status = 'done', handled_at = :now WHERE message_id = :message_id AND status <> 'done'").bindparams(
    bindparam("now", type_=UtcDateTime)
)


def _send(rt: Runtime, settings: Settings, message: Any, notice: notify.Notice | None, taken: list[Any]) -> list[int]:
    """Send the deliveries this attempt holds; on a failure, give it back (pending, with the error) and raise."""
    sent: list[int] = []
    for delivery in taken:
        try:
            notify.send(delivery.channel, delivery.recipient, message, notice, settings)
        except Exception as error:
            with rt.unit_of_work() as conn:
                if sent:
                    conn.execute(_SENT, {"ids": sent, "now": rt.clock.now()})
                error_text = f"{type(error).__name__}: {error}"[:500]
                conn.execute(
                    update(Delivery).where(Delivery.id == delivery.id).values(status="pending", lease_until=None, last_error=error_text)
                )
            raise
        sent.append(delivery.id)
    return sent


def unread(rt: Runtime, user_id: int) -> list[dict[str, Any]]:
    """Return a user's unread in-app notifications, newest first."""
    with rt.unit_of_work(writes=False) as conn:
        rows = conn.execute(
            select(Notification.id, Notification.case_id, Notification.topic, Notification.data, Notification.created_at)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
            .order_by(Notification.id.desc())
        ).all()
    return [row._asdict() for row in rows]


def unread_count(rt: Runtime, user_id: int) -> int:
    """Count a user's unread in-app notifications (the inbox badge)."""
    with rt.unit_of_work(writes=False) as conn:
        query = select(func.count()).select_from(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
        return int(conn.scalar(query) or 0)


def mark_read(rt: Runtime, user_id: int, notification_ids: list[int], now: datetime) -> None:
    """Mark notifications of a user read."""
    with rt.unit_of_work() as conn:
        conn.execute(
            update(Notification)
            .where(Notification.user_id == user_id, Notification.id.in_(notification_ids), Notification.read_at.is_(None))
            .values(read_at=now)
        )
