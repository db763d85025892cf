"""The outbox: the relay that publishes pending messages, the reconciler, and the consumer that handles each message once."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, text, update

from config.settings import Settings
from services import deliveries, notify
from services.models import Json, Notification, UtcDateTime
from services.runtime import PUBLISHED, Publish, Runtime, groups

log = logging.getLogger(__name__)

_SKIP_LOCKED = {"postgresql": " FOR UPDATE SKIP LOCKED", "sqlite": ""}
_PENDING = "SELECT id, message_id, queue FROM outbox WHERE status = 'pending' ORDER BY id LIMIT :limit"
_STALE = """SELECT id, message_id, queue FROM outbox WHERE status = 'published' AND published_at < :before
    ORDER BY published_at LIMIT :limit"""


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
        for queue, message_ids in groups([(row.queue, row.message_id) for row in rows]):
            publish(queue, message_ids)
        if rows:
            conn.execute(PUBLISHED, {"ids": [row.message_id for row in rows], "now": rt.clock.now()})
    return len(rows)


@dataclass(frozen=True)
class Handled:
    """What handling a message did: "handled", "duplicate" or "unknown", and how many deliveries it sent."""

    outcome: str
    sent: int = 0


def handle(rt: Runtime, settings: Settings, message_id: str) -> Handled:
    """Handle a message once: take its deliveries, send them, then record its notifications and what was sent.

    Each step is idempotent, so a worker killed anywhere leaves nothing half done that the next attempt does not
    finish: notifications and deliveries are unique per (message, recipient, channel), a delivery already sent is
    not sent again, and one attempt at a time holds a delivery (services.deliveries). A delivery that the server
    took just before the worker died is the one case sent twice; e-mails carry a stable Message-ID and webhooks an
    Idempotency-Key so the receiver can drop it. On PostgreSQL: three statements (the message with its rung and
    recipients, the take, the close), each its own transaction.
    """
    with _transaction(rt, writes=False) as conn:
        message, notice = _read(conn, rt, message_id)
    if message is None:
        log.warning("message %s is not in the outbox", message_id)
        return Handled("unknown")
    if message.status == "done":
        return Handled("duplicate")
    now = rt.clock.now()
    lease_until = now + timedelta(seconds=settings.delivery_lease_seconds)
    wanted = notify.wanted(message, notice, settings)
    taken = []
    if wanted:
        with _transaction(rt) as conn:
            taken = deliveries.take(conn, message_id, wanted, now, lease_until)
    sent, failure = _send(settings, message, notice, taken)
    closing = _closing(message, notice, settings, taken, sent, failure, lease_until)
    with _transaction(rt) as conn:
        unsent = deliveries.close(conn, closing, rt.clock.now())
    if failure is not None:
        raise failure[1]
    if unsent:  # what this attempt sent is marked sent all the same: a later attempt must not send it again
        raise DeliveriesPending(f"deliveries of message {message_id} are held by another attempt")
    return Handled("handled", len(sent))


@dataclass
class Batch:
    """What handling a task's messages did: the errors of those that failed, and those left for lack of time."""

    failed: dict[str, Exception] = field(default_factory=dict)
    left: list[str] = field(default_factory=list)


# Messages handled at once by a task on PostgreSQL: one waits on the database or the mail server while the other
# runs (bench/reminders.py). SQLite takes one writer at a time, so there they go one by one.
OVERLAP = {"postgresql": 2}


def handle_each(rt: Runtime, settings: Settings, message_ids: list[str], *, seconds: float) -> Batch:
    """Handle messages each on its own as `handle` does, a few at once (OVERLAP); start no new one after `seconds`.

    A message that fails does not stop the others; the caller decides what to try again.
    """
    until = time.monotonic() + seconds

    def attempt(message_id: str) -> Exception | bool:
        if time.monotonic() > until:
            return False  # left for the next task
        try:
            handle(rt, settings, message_id)
        except Exception as error:
            return error
        return True

    overlap = min(OVERLAP.get(rt.engine.dialect.name, 1), len(message_ids))
    if overlap <= 1:
        outcomes = [attempt(message_id) for message_id in message_ids]
    else:
        pool = ThreadPoolExecutor(overlap, thread_name_prefix="outbox")
        try:
            outcomes = list(pool.map(attempt, message_ids))
        finally:  # interrupted (a soft time limit): start no other message, let those begun finish
            pool.shutdown(cancel_futures=True)
    batch = Batch()
    for message_id, outcome in zip(message_ids, outcomes, strict=True):
        if outcome is False:
            batch.left.append(message_id)
        elif isinstance(outcome, Exception):
            batch.failed[message_id] = outcome
    return batch


_MESSAGE_COLUMNS = "o.id, o.message_id, o.topic, o.queue, o.case_id, o.payload, o.status"
_MESSAGE = text(f"SELECT {_MESSAGE_COLUMNS} FROM outbox o WHERE o.message_id = :message_id").columns(payload=Json)
# On PostgreSQL a fired rung's message comes with its rung and recipients in one statement: a round trip fewer.
# The casts only read a rung's message: PostgreSQL may evaluate them before the topic test, on any message.
_RUNG_OF_MESSAGE = notify.rung_query(
    "CAST(CASE WHEN o.topic LIKE 'deadline.%' THEN o.payload ->> 'deadline_id' END AS bigint)",
    "CAST(CASE WHEN o.topic LIKE 'deadline.%' THEN o.payload ->> 'rung' END AS integer)",
)
_MESSAGE_AND_RUNG_PG = text(
    f"""SELECT {_MESSAGE_COLUMNS}, rung.* FROM outbox o
    LEFT JOIN LATERAL ({_RUNG_OF_MESSAGE} AND o.topic LIKE 'deadline.%') rung ON true
    WHERE o.message_id = :message_id ORDER BY rung.user_id"""
).columns(payload=Json, due_at=UtcDateTime)


def _read(conn: Connection, rt: Runtime, message_id: str) -> tuple[Any, notify.Notice | None]:
    """Return the message (None if unknown) and, for a fired rung, its notice."""
    if conn.dialect.name == "postgresql":
        rows = conn.execute(_MESSAGE_AND_RUNG_PG, {"message_id": message_id}).all()
        rung = [row for row in rows if row.clock is not None]  # none: not a rung's message, or its deadline is gone
        return (rows[0], notify.notice_of(rt, rows[0].payload, rung)) if rows else (None, None)
    message = conn.execute(_MESSAGE, {"message_id": message_id}).first()
    if message is None or not message.topic.startswith("deadline."):
        return message, None
    return message, notify.rung_notice(conn, rt, message.payload)


@contextmanager
def _transaction(rt: Runtime, *, writes: bool = True) -> Iterator[Connection]:
    """Open a connection for one step: each statement its own transaction on PostgreSQL, one transaction on SQLite.

    Every step of handle is a single statement on PostgreSQL, so autocommit saves BEGIN and COMMIT round trips.
    """
    if rt.engine.dialect.name != "postgresql":
        with rt.unit_of_work(writes=writes) as conn:
            yield conn
        return
    with rt.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        yield conn


class DeliveriesPending(Exception):
    """Another attempt holds some deliveries of the message: try again when its lease has run out."""


def _send(
    settings: Settings, message: Any, notice: notify.Notice | None, taken: list[Any]
) -> tuple[list[int], tuple[int, Exception] | None]:
    """Send the deliveries this attempt holds, stopping at the first failure; return the ids sent and the failure."""
    sent: list[int] = []
    for delivery in taken:
        try:
            notify.send(delivery.channel, delivery.recipient, message, notice, settings)
        except Exception as error:
            return sent, (delivery.id, error)
        sent.append(delivery.id)
    return sent, None


def _closing(
    message: Any,
    notice: notify.Notice | None,
    settings: Settings,
    taken: list[Any],
    sent: list[int],
    failure: tuple[int, Exception] | None,
    lease_until: datetime,
) -> deliveries.Closing:
    """Describe how an attempt closes: the failed delivery and those not tried after it go back to pending."""
    users = [user_id for user_id, _ in notice.users] if notice else []
    data = {**notice.data, "subject": notice.subject(settings.language)} if notice else {}
    returned = [delivery.id for delivery in taken if delivery.id not in sent]
    if failure is None:
        return deliveries.Closing(message, users, data, sent, returned, lease_until=lease_until)
    failed, error = failure
    error_text = f"{type(error).__name__}: {error}"[:500]
    return deliveries.Closing(message, users, data, sent, returned, failed, error_text, lease_until)


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
