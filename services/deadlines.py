"""The deadline sweep: every rung of a reminder ladder that is due fires once, as an outbox message.

A rung left behind by a higher rung of the same deadline to the same recipient that is due too (the sweep
did not run for a while, or the clock opened late) is marked skipped instead: a late case reminds each
recipient once, at the level it reached.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Date, bindparam, text

from services.db import WRITTEN
from services.models import Json, UtcDateTime
from services.runtime import Runtime

_DUE_SQL = """SELECT r.deadline_id, r.rung, r.action, r.recipient, d.case_id, d.clock, d.department
    FROM deadline_rungs r JOIN deadlines d ON d.id = r.deadline_id
    WHERE r.status = 'pending' AND r.fires_at <= :now
    ORDER BY r.fires_at
    LIMIT :limit"""
# Ordered by the indexed column alone, so the LIMIT stops the index scan early (every rung of a day fires
# at 08:00: a tie-breaker would make each batch read and sort all the due rungs; bench/sweep.py).
# Two beats (or a beat and a support engineer's `guestwork deadlines sweep`) may sweep at once: on
# PostgreSQL each skips the rungs the other holds; SQLite's BEGIN IMMEDIATE serialises the two.
#
# On PostgreSQL a batch is one statement: take the due rungs, keep the highest per deadline and recipient,
# mark each fired or skipped, and write the messages. A rung's message id is derived from its key (as
# rung_message_id does), so even a second sweep that got past the lock could not write it twice.
_SWEEP_BATCH_PG = text(
    f"""WITH due AS ({_DUE_SQL} FOR UPDATE OF r SKIP LOCKED),
    ranked AS (
        SELECT due.*, rung = max(rung) OVER (PARTITION BY deadline_id, recipient) AS fires,
               CASE WHEN recipient LIKE 'department:%' THEN substr(recipient, 12) ELSE department END AS queue,
               md5('rung:' || deadline_id || ':' || rung)::uuid::text AS message_id
        FROM due
    ), marked AS (
        UPDATE deadline_rungs r SET status = CASE WHEN ranked.fires THEN 'fired' ELSE 'skipped' END, fired_at = :now
        FROM ranked WHERE r.deadline_id = ranked.deadline_id AND r.rung = ranked.rung
    ), sent AS (
        INSERT INTO outbox (message_id, topic, queue, case_id, event_id, payload, status, created_at, attempts)
        SELECT message_id, 'deadline.' || action, queue, case_id, NULL,
               jsonb_build_object('deadline_id', deadline_id, 'rung', rung, 'clock', clock, 'action', action), 'pending', :now, 0
        FROM ranked WHERE fires
    )
    SELECT deadline_id, rung, action, recipient, case_id, clock, message_id, queue, fires FROM ranked"""
).bindparams(bindparam("now", type_=UtcDateTime))
_DUE = text(_DUE_SQL).bindparams(bindparam("now", type_=UtcDateTime))
_FIRE = text(
    """UPDATE deadline_rungs SET status = :status, fired_at = :now
    WHERE deadline_id = :deadline_id AND rung = :rung AND status = 'pending'"""
).bindparams(bindparam("now", type_=UtcDateTime))
_MESSAGE = text(
    """INSERT INTO outbox (message_id, topic, queue, case_id, event_id, payload, status, created_at, attempts)
    VALUES (:message_id, :topic, :queue, :case_id, NULL, :payload, 'pending', :now, 0)"""
).bindparams(bindparam("payload", type_=Json), bindparam("now", type_=UtcDateTime))


@dataclass(frozen=True)
class Fired:
    """A rung that fired: its key, and the message that carries it to a department's queue."""

    deadline_id: int
    rung: int
    action: str
    recipient: str
    case_id: int | None  # None for a periodic report's clock
    clock: str
    message_id: str
    queue: str


def rung_message_id(deadline_id: int, rung: int) -> str:
    """Return the message id of a rung (the same every time it is asked, here or in SQL)."""
    return str(uuid.UUID(hashlib.md5(f"rung:{deadline_id}:{rung}".encode()).hexdigest()))


def sweep(rt: Runtime, now: datetime | None = None, *, batch: int = 500) -> list[Fired]:
    """Fire every rung due by `now` (default: the runtime's clock), in batches of one transaction each."""
    now = now or rt.clock.now()
    fired: list[Fired] = []
    while True:
        with rt.unit_of_work() as conn:
            examined, done = _fire_batch(conn, now, batch)
            conn.info.setdefault(WRITTEN, []).extend((rung.queue, rung.message_id) for rung in done)
        fired += done
        if examined < batch:
            return fired


def _fire_batch(conn: Connection, now: datetime, batch: int) -> tuple[int, list[Fired]]:
    """Fire one batch of due rungs; return how many were due and those that fired (the highest per recipient)."""
    if conn.dialect.name == "postgresql":
        rows = conn.execute(_SWEEP_BATCH_PG, {"now": now, "limit": batch}).all()
        return len(rows), sorted((Fired(*row[:8]) for row in rows if row.fires), key=lambda f: (f.deadline_id, f.rung))
    due = [_fired(row) for row in conn.execute(_DUE, {"now": now, "limit": batch})]
    highest = {(rung.deadline_id, rung.recipient): rung.rung for rung in sorted(due, key=lambda rung: rung.rung)}
    fired = [rung for rung in due if highest[rung.deadline_id, rung.recipient] == rung.rung]
    if due:
        statuses = [("fired" if r.rung == highest[r.deadline_id, r.recipient] else "skipped", r) for r in due]
        conn.execute(_FIRE, [{"now": now, "deadline_id": r.deadline_id, "rung": r.rung, "status": status} for status, r in statuses])
    if fired:
        conn.execute(
            _MESSAGE,
            [
                {
                    "message_id": f.message_id, "topic": f"deadline.{f.action}", "queue": f.queue, "case_id": f.case_id, "now": now,
                    "payload": {"deadline_id": f.deadline_id, "rung": f.rung, "clock": f.clock, "action": f.action},
                }
                for f in fired
            ],
        )  # fmt: skip
    return len(due), sorted(fired, key=lambda f: (f.deadline_id, f.rung))


def _fired(row: Any) -> Fired:
    target = row.recipient.removeprefix("department:") if row.recipient.startswith("department:") else row.department
    message_id = rung_message_id(row.deadline_id, row.rung)
    return Fired(row.deadline_id, row.rung, row.action, row.recipient, row.case_id, row.clock, message_id, target)


_CASE_DEADLINES = text(
    """SELECT d.id, d.clock, d.department, d.application_no, d.counted_from, d.due_at, d.status, d.opened_at, d.closed_at,
           r.rung, r.fires_at, r.action, r.recipient, r.status AS rung_status, r.fired_at
    FROM deadlines d LEFT JOIN deadline_rungs r ON r.deadline_id = d.id
    WHERE d.case_id = :case_id ORDER BY d.due_at, d.id, r.rung"""
).columns(counted_from=Date, due_at=UtcDateTime, opened_at=UtcDateTime, closed_at=UtcDateTime, fires_at=UtcDateTime, fired_at=UtcDateTime)


def case_deadlines(rt: Runtime, case_id: int) -> list[dict[str, Any]]:
    """Return a case's clocks, earliest due first, each with its rungs and whether it was met."""
    found: dict[int, dict[str, Any]] = {}
    with rt.unit_of_work(writes=False) as conn:
        for row in conn.execute(_CASE_DEADLINES, {"case_id": case_id}):
            rule = rt.clocks.rules.get(row.clock)
            deadline = found.setdefault(
                row.id,
                {
                    "id": row.id, "clock": row.clock, "label_vi": rule.label_vi if rule else row.clock,
                    "label_en": rule.label_en if rule else row.clock, "department": row.department,
                    "application_no": row.application_no, "counted_from": row.counted_from, "due_at": row.due_at,
                    "status": row.status, "closed_at": row.closed_at,
                    "met": None if row.closed_at is None else row.closed_at <= row.due_at, "rungs": [],
                },
            )  # fmt: skip
            if row.rung is not None:
                deadline["rungs"].append(
                    {"rung": row.rung, "fires_at": row.fires_at, "action": row.action, "to": row.recipient, "status": row.rung_status}
                )
    return list(found.values())
