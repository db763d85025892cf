"""Reading and writing a case's rows inside a unit of work: the case, records, events, outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Row, TextClause, bindparam, select, text

from services.models import Case, Enterprise, HealthFacility, Json, TrainingSchool, UtcDateTime
from services.users import Actor
from workflows import subject as ref
from workflows.errors import Conflict, NotFound, problem
from workflows.history import GENESIS, canonical_time, event_hash
from workflows.records import load_record

_CASE_HEAD = select(Case.id, Case.state, Case.version, Case.application_no, Case.last_seq, Case.head_hash, Case.commune_id, Case.person_id)

# The hot path (one command = one read and four writes) uses prepared text statements: building and
# caching Core constructs per call cost more than the database work itself (bench/transitions.py).
_CASE_AND_RECORDS_SQL = """SELECT c.id, c.state, c.version, c.application_no, c.last_seq, c.head_hash, c.commune_id, c.person_id,
    r.kind, r.data
    FROM cases c LEFT JOIN case_records r ON r.case_id = c.id AND r.application_no = c.application_no
    WHERE c.id = :case_id"""
# A command locks the case row while it decides, so a racing command waits and then reads the new
# version (a clear conflict) instead of colliding on the event's key. SQLite's BEGIN IMMEDIATE
# already serialises writers.
_CASE_AND_RECORDS = {
    "postgresql": text(_CASE_AND_RECORDS_SQL + " FOR UPDATE OF c").columns(data=Json),
    "sqlite": text(_CASE_AND_RECORDS_SQL).columns(data=Json),
}
_INSERT_EVENT = text(
    """INSERT INTO events (case_id, seq, at, actor_id, department, trigger, from_state, to_state, application_no,
                           record_kind, record_json, reason, prev_hash, hash)
    VALUES (:case_id, :seq, :at, :actor_id, :department, :trigger, :from_state, :to_state, :application_no,
            :record_kind, :record_json, :reason, :prev_hash, :hash)
    RETURNING id"""
).bindparams(bindparam("at", type_=UtcDateTime))
_UPSERT_RECORD = text(
    """INSERT INTO case_records (case_id, application_no, kind, data, event_seq, recorded_at)
    VALUES (:case_id, :application_no, :kind, :data, :event_seq, :recorded_at)
    ON CONFLICT (case_id, application_no, kind)
    DO UPDATE SET data = excluded.data, event_seq = excluded.event_seq, recorded_at = excluded.recorded_at"""
).bindparams(bindparam("data", type_=Json), bindparam("recorded_at", type_=UtcDateTime))


@lru_cache(maxsize=16)
def _insert_outbox(rows: int) -> TextClause:
    """Insert `rows` outbox messages in one statement (an executemany costs a pipeline per call)."""
    values = ", ".join(
        f"(:message_id{i}, :topic, :queue{i}, :case_id, :event_id, :payload, 'pending', :created_at, 0)" for i in range(rows)
    )
    return text(
        f"INSERT INTO outbox (message_id, topic, queue, case_id, event_id, payload, status, created_at, attempts) VALUES {values}"
    ).bindparams(bindparam("payload", type_=Json), bindparam("created_at", type_=UtcDateTime))


def _not_found(case_id: int) -> NotFound:
    return NotFound([problem("case.unknown", f"Không có hồ sơ số {case_id}.", f"No case {case_id}.", "case_id")])


def load_case(conn: Connection, case_id: int) -> Any:
    """Return the case's head row, or raise NotFound."""
    row = conn.execute(_CASE_HEAD.where(Case.id == case_id)).first()
    if row is None:
        raise _not_found(case_id)
    return row


def load_case_and_records(conn: Connection, case_id: int) -> tuple[Any, dict[str, Any]]:
    """Return the case's head row and its current application's records, in one query."""
    rows = conn.execute(_CASE_AND_RECORDS[conn.dialect.name], {"case_id": case_id}).all()
    if not rows:
        raise _not_found(case_id)
    return rows[0], {row.kind: load_record(row.kind, row.data) for row in rows if row.kind is not None}


def check_version(case: Row[Any], expected_version: int | None) -> None:
    """Refuse a command based on an older version of the case than the stored one."""
    if expected_version is not None and expected_version != case.version:
        raise stale(case.id, expected_version, case.version)


def stale(case_id: int, expected: int | None, current: int | None) -> Conflict:
    """Build the conflict error for a command that read an old version."""
    now_vi = f" (hiện là {current})" if current is not None else ""
    now_en = f" (it is now {current})" if current is not None else ""
    return Conflict(
        [
            problem(
                "case.stale",
                f"Hồ sơ {case_id} đã được người khác thay đổi từ phiên bản {expected}{now_vi}; tải lại rồi thử lại.",
                f"Case {case_id} was changed by someone else since version {expected}{now_en}; reload and try again.",
                "version",
            )
        ]
    )


def load_references(conn: Connection, named: dict[str, set[str]]) -> ref.References:
    """Look up the enterprises, facilities and schools a record names."""
    enterprises, facilities, schools = {}, {}, {}
    if named["enterprises"]:
        for row in conn.execute(select(Enterprise).where(Enterprise.licence_number.in_(named["enterprises"]))).mappings():
            enterprises[row["licence_number"]] = ref.Enterprise(**row)
    if named["facilities"]:
        for row in conn.execute(select(HealthFacility).where(HealthFacility.code.in_(named["facilities"]))).mappings():
            facilities[row["code"]] = ref.Facility(**row)
    if named["schools"]:
        for row in conn.execute(select(TrainingSchool).where(TrainingSchool.code.in_(named["schools"]))).mappings():
            schools[row["code"]] = ref.School(**row)
    return ref.References(enterprises=enterprises, facilities=facilities, schools=schools)


def advance_case(conn: Connection, case: Any, values: dict[str, Any]) -> None:
    """Update the case row if it is still at the version read, or raise a conflict."""
    result = conn.execute(_advance_statement(tuple(values)), {**values, "case_id": case.id, "version": case.version})
    if result.rowcount != 1:
        raise stale(case.id, case.version, None)


@lru_cache(maxsize=64)
def _advance_statement(columns: tuple[str, ...]) -> TextClause:
    assignments = ", ".join(f"{column} = :{column}" for column in columns)
    times = [bindparam(column, type_=UtcDateTime) for column in columns if column.endswith("_at")]
    return text(f"UPDATE cases SET version = version + 1, {assignments} WHERE id = :case_id AND version = :version").bindparams(*times)


def append_event(
    conn: Connection,
    case: Row[Any] | None,
    *,
    case_id: int,
    at: datetime,
    actor: Actor,
    trigger: str,
    from_state: str | None,
    to_state: str,
    application_no: int,
    record_kind: str | None,
    record_json: str | None,
    reason: str | None,
) -> tuple[int, int, str]:
    """Append an event after the case's chain head; return its id, number and hash."""
    seq = case.last_seq + 1 if case is not None else 1
    prev_hash = case.head_hash if case is not None else GENESIS
    digest = event_hash(
        case_id,
        seq,
        canonical_time(at),
        actor.user_id,
        actor.department,
        trigger,
        from_state,
        to_state,
        application_no,
        record_kind,
        record_json,
        reason,
        prev_hash,
    )
    event_id = conn.execute(
        _INSERT_EVENT,
        {
            "case_id": case_id,
            "seq": seq,
            "at": at,
            "actor_id": actor.user_id,
            "department": actor.department,
            "trigger": trigger,
            "from_state": from_state,
            "to_state": to_state,
            "application_no": application_no,
            "record_kind": record_kind,
            "record_json": record_json,
            "reason": reason,
            "prev_hash": prev_hash,
            "hash": digest,
        },
    ).scalar_one()
    return event_id, seq, digest


def save_record(conn: Connection, *, case_id: int, application_no: int, kind: str, data: dict[str, Any], seq: int, at: datetime) -> None:
    """Write the current value of a record (insert, or replace the previous value)."""
    conn.execute(
        _UPSERT_RECORD,
        {"case_id": case_id, "application_no": application_no, "kind": kind, "data": data, "event_seq": seq, "recorded_at": at},
    )


def write_outbox(
    conn: Connection, *, topic: str, queues: list[str], case_id: int, event_id: int, payload: dict[str, Any], at: datetime
) -> None:
    """Write one pending message per department queue, in the command's transaction."""
    values: dict[str, Any] = {
        "topic": topic,
        "case_id": case_id,
        "event_id": event_id,
        "payload": {**payload, "event_id": event_id, "case_id": case_id},
        "created_at": at,
    }
    for i, queue in enumerate(queues):
        values[f"message_id{i}"], values[f"queue{i}"] = str(uuid.uuid4()), queue
    conn.execute(_insert_outbox(len(queues)), values)


def select_commune(case_id: int) -> Any:
    """Return the query for a case's commune id."""
    return select(Case.commune_id).where(Case.id == case_id)
