"""A message's deliveries and in-app notifications in the database: taken by one attempt, then sent, given back or done.

A delivery (an e-mail or a webhook call) is written once per (message, channel, recipient) and held by one attempt
at a time: a lease, so a killed worker's hold runs out. An attempt *takes* the deliveries it will send, sends them,
and *closes*: it records the notifications, marks what it sent, gives back what it did not get to, and marks the
message done once no delivery is left unsent — whoever sent it. On PostgreSQL each of the two is one statement run
as its own transaction (no BEGIN/COMMIT round trips); on SQLite each is a short write transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, text

from services.db import PLAN_EACH_TIME
from services.models import Json, UtcDateTime

# A new row is taken at once; an existing one only if it is pending or its holder's lease ran out. RETURNING gives
# the attempt exactly the deliveries it holds.
_ON_CONFLICT = """ON CONFLICT (message_id, channel, recipient) DO UPDATE
        SET status = 'sending', lease_until = excluded.lease_until, attempts = deliveries.attempts + 1
        WHERE deliveries.status = 'pending' OR (deliveries.status = 'sending' AND deliveries.lease_until < excluded.created_at)
    RETURNING id, channel, recipient"""
# The take commits without waiting for its WAL flush (synchronous_commit off for this statement alone). Losing it
# in a database crash never makes us send twice, nor lose anything: the crash also fails this attempt's closing
# statement (its connection dies), so the message stays not done and is handled again — and a mail sent between
# the take and the crash is sent again whether or not the take survived (with a surviving take, once its lease
# runs out). The closing statement, whose "sent" and "done" marks are what prevent a second send, commits
# synchronously, and its flush carries every earlier take with it (the WAL is written in order).
_TAKE_PG = text(
    f"""WITH lazy AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true))
    INSERT INTO deliveries (message_id, channel, recipient, status, attempts, created_at, lease_until)
    SELECT :message_id, wanted.channel, wanted.recipient, 'sending', 1, :now, :lease_until
    FROM unnest(CAST(:channels AS text[]), CAST(:recipients AS text[])) AS wanted (channel, recipient) CROSS JOIN lazy
    {_ON_CONFLICT}"""
).bindparams(bindparam("now", type_=UtcDateTime), bindparam("lease_until", type_=UtcDateTime))
_TAKE = text(
    f"""INSERT INTO deliveries (message_id, channel, recipient, status, attempts, created_at, lease_until)
    VALUES (:message_id, :channel, :recipient, 'sending', 1, :now, :lease_until)
    {_ON_CONFLICT}"""
).bindparams(bindparam("now", type_=UtcDateTime), bindparam("lease_until", type_=UtcDateTime))


def take(conn: Connection, message_id: str, wanted: list[tuple[str, str]], now: datetime, lease_until: datetime) -> list[Any]:
    """Write the wanted deliveries and take those nobody holds; return the taken rows (id, channel, recipient)."""
    params = {"message_id": message_id, "now": now, "lease_until": lease_until}
    if conn.dialect.name == "postgresql":
        channels, recipients = [channel for channel, _ in wanted], [recipient for _, recipient in wanted]
        return list(conn.execute(_TAKE_PG, params | {"channels": channels, "recipients": recipients}))
    return [row for channel, recipient in wanted for row in conn.execute(_TAKE, params | {"channel": channel, "recipient": recipient})]


@dataclass(frozen=True)
class Closing:
    """What an attempt closes with: the message, who is notified and with what, what it sent and what it gives back."""

    message: Any
    users: list[int]
    data: dict[str, Any]
    sent: list[int]
    returned: list[int]
    failed: int | None = None  # the delivery whose error is recorded
    error: str | None = None
    lease_until: datetime | None = None  # the attempt's lease: only deliveries it still holds are given back


# The deliveries grow from empty: a plan kept from then would scan them all, so the close is planned each time
# (the take's insert finds its rows by the unique index whatever the plan).
_CLOSE_PG = (
    text(
        """WITH noted AS (
        INSERT INTO notifications (message_id, user_id, case_id, topic, data, created_at)
        SELECT :message_id, users.id, CAST(:case_id AS bigint), :topic, :data, :now FROM unnest(CAST(:users AS bigint[])) AS users (id)
        ON CONFLICT (message_id, user_id) DO NOTHING
    ), sent AS (
        UPDATE deliveries SET status = 'sent', sent_at = :now, lease_until = NULL, last_error = NULL
        WHERE message_id = :message_id AND id = ANY(CAST(:sent AS bigint[]))
    ), returned AS (
        UPDATE deliveries SET status = 'pending', lease_until = NULL,
            last_error = CASE WHEN id = CAST(:failed AS bigint) THEN CAST(:error AS text) ELSE last_error END
        WHERE message_id = :message_id AND id = ANY(CAST(:returned AS bigint[])) AND status = 'sending' AND lease_until = :lease_until
    ), unsent AS (
        SELECT count(*) AS n FROM deliveries
        WHERE message_id = :message_id AND status <> 'sent' AND NOT id = ANY(CAST(:sent AS bigint[]))
    ), done AS (
        UPDATE outbox SET status = 'done', handled_at = :now
        WHERE message_id = :message_id AND status <> 'done' AND (SELECT n FROM unsent) = 0
    )
    SELECT n FROM unsent"""
    )
    .bindparams(bindparam("data", type_=Json), bindparam("now", type_=UtcDateTime), bindparam("lease_until", type_=UtcDateTime))
    .execution_options(**PLAN_EACH_TIME)
)
_NOTE = text(
    """INSERT INTO notifications (message_id, user_id, case_id, topic, data, created_at)
    VALUES (:message_id, :user_id, :case_id, :topic, :data, :now) ON CONFLICT (message_id, user_id) DO NOTHING"""
).bindparams(bindparam("data", type_=Json), bindparam("now", type_=UtcDateTime))
_SENT = text(
    "UPDATE deliveries SET status = 'sent', sent_at = :now, lease_until = NULL, last_error = NULL WHERE message_id = :message_id AND id IN :ids"
).bindparams(bindparam("ids", expanding=True), bindparam("now", type_=UtcDateTime))
_RETURNED = text(
    """UPDATE deliveries SET status = 'pending', lease_until = NULL, last_error = CASE WHEN id = :failed THEN :error ELSE last_error END
    WHERE message_id = :message_id AND id IN :ids AND status = 'sending' AND lease_until = :lease_until"""
).bindparams(bindparam("ids", expanding=True), bindparam("lease_until", type_=UtcDateTime))
_UNSENT = text("SELECT count(*) FROM deliveries WHERE message_id = :message_id AND status <> 'sent'")
_DONE = text("UPDATE outbox SET status = 'done', handled_at = :now WHERE message_id = :message_id AND status <> 'done'").bindparams(
    bindparam("now", type_=UtcDateTime)
)


def close(conn: Connection, closing: Closing, now: datetime) -> int:
    """Record an attempt's outcome in one transaction; return how many deliveries are still unsent (0: the message is done)."""
    message = closing.message
    params = {"message_id": message.message_id, "case_id": message.case_id, "topic": message.topic, "data": closing.data, "now": now}
    gives_back = {"failed": closing.failed, "error": closing.error, "lease_until": closing.lease_until}
    if conn.dialect.name == "postgresql":
        return int(
            conn.scalar(_CLOSE_PG, params | gives_back | {"users": closing.users, "sent": closing.sent, "returned": closing.returned})
        )
    if closing.users:
        conn.execute(_NOTE, [params | {"user_id": user} for user in closing.users])
    if closing.sent:
        conn.execute(_SENT, {"message_id": message.message_id, "ids": closing.sent, "now": now})
    if closing.returned:
        conn.execute(_RETURNED, {"message_id": message.message_id, "ids": closing.returned} | gives_back)
    unsent = int(conn.scalar(_UNSENT, {"message_id": message.message_id}) or 0)
    if not unsent:
        conn.execute(_DONE, {"message_id": message.message_id, "now": now})
    return unsent
