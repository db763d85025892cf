"""Reading and writing a case's rows inside a unit of work: the case, records, events, outbox."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Date, Row, String, TextClause, bindparam, select, text

from services.crypto import Sealer
from services.db import WRITTEN
from services.models import Case, Json, UtcDateTime
from services.users import Actor
from workflows import subject as ref
from workflows.case import CARRIED_OVER_RECORDS
from workflows.errors import Conflict, NotFound, problem
from workflows.history import GENESIS, canonical_json, canonical_time, event_hash
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
    "postgresql": text(_CASE_AND_RECORDS_SQL + " FOR UPDATE OF c"),
    "sqlite": text(_CASE_AND_RECORDS_SQL),
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
    VALUES (:case_id, :application_no, :kind, :data, :seq, :at)
    ON CONFLICT (case_id, application_no, kind)
    DO UPDATE SET data = excluded.data, event_seq = excluded.event_seq, recorded_at = excluded.recorded_at"""
).bindparams(bindparam("at", type_=UtcDateTime))


@lru_cache(maxsize=16)
def _insert_outbox(rows: int) -> TextClause:
    """Insert `rows` outbox messages in one statement (an executemany costs a pipeline per call)."""
    values = ", ".join(f"(:message_id{i}, :topic, :queue{i}, :case_id, :event_id, :payload, 'pending', :at, 0)" for i in range(rows))
    return text(
        f"INSERT INTO outbox (message_id, topic, queue, case_id, event_id, payload, status, created_at, attempts) VALUES {values}"
    ).bindparams(bindparam("payload", type_=Json), bindparam("at", type_=UtcDateTime))


def _not_found(case_id: int) -> NotFound:
    return NotFound([problem("case.unknown", f"Không có hồ sơ số {case_id}.", f"No case {case_id}.", "case_id")])


def load_case(conn: Connection, case_id: int) -> Any:
    """Return the case's head row, or raise NotFound."""
    row = conn.execute(_CASE_HEAD.where(Case.id == case_id)).first()
    if row is None:
        raise _not_found(case_id)
    return row


def lock_case(conn: Connection, case_id: int) -> Any:
    """Return the case's head row, locked until the transaction ends on PostgreSQL (SQLite's write lock serialises already)."""
    query = _CASE_HEAD.where(Case.id == case_id)
    row = conn.execute(query.with_for_update() if conn.dialect.name == "postgresql" else query).first()
    if row is None:
        raise _not_found(case_id)
    return row


def load_case_and_records(conn: Connection, case_id: int, sealer: Sealer) -> tuple[Any, dict[str, Any]]:
    """Return the case's head row and its current application's records (their sealed fields opened), in one query."""
    rows = conn.execute(_CASE_AND_RECORDS[conn.dialect.name], {"case_id": case_id}).all()
    if not rows:
        raise _not_found(case_id)
    return rows[0], {row.kind: load_record(row.kind, sealer.open_record(row.kind, json.loads(row.data))) for row in rows if row.kind}


def check_version(case: Row[Any], expected_version: int | None) -> None:
    """Refuse a command based on an older version of the case than the stored one."""
    if expected_version is not None and expected_version != case.version:
        raise stale(case.id, expected_version, case.version)


def stale(case_id: int, expected: int | None, current: int | None) -> Conflict:
    """Build the conflict error for a command that read an old version."""
    now_vi = f" (hiện là {current})" if current is not None else ""
    now_en = f" (it is now {current})" if current is not None else ""
    since_vi = f" từ phiên bản {expected}{now_vi}" if expected is not None else " trong lúc bạn thao tác"
    since_en = f" since version {expected}{now_en}" if expected is not None else " while you were working on it"
    return Conflict(
        [
            problem(
                "case.stale",
                f"Hồ sơ {case_id} đã được người khác thay đổi{since_vi}; tải lại rồi thử lại.",
                f"Case {case_id} was changed by someone else{since_en}; reload and try again.",
                "version",
            )
        ]
    )


_REFERENCES = (
    text(
        """SELECT 'enterprises' AS kind, licence_number AS code, name, licensed_from AS valid_from, licensed_until AS valid_until
        FROM enterprises WHERE licence_number IN :enterprises
        UNION ALL SELECT 'facilities', code, name, approved_from, approved_until FROM health_facilities WHERE code IN :facilities
        UNION ALL SELECT 'schools', code, name, NULL, NULL FROM training_schools WHERE code IN :schools"""
    )
    .bindparams(*(bindparam(name, expanding=True, type_=String) for name in ("enterprises", "facilities", "schools")))
    .columns(valid_from=Date, valid_until=Date)
)


def load_references(conn: Connection, named: dict[str, set[str]]) -> ref.References:
    """Look up the enterprises, facilities and schools a record names, in one query."""
    if not any(named.values()):
        return ref.References()
    found: dict[str, dict[str, Any]] = {"enterprises": {}, "facilities": {}, "schools": {}}
    for row in conn.execute(_REFERENCES, {kind: sorted(codes) for kind, codes in named.items()}):
        if row.kind == "enterprises":
            found["enterprises"][row.code] = ref.Enterprise(row.code, row.name, row.valid_from, row.valid_until)
        elif row.kind == "facilities":
            found["facilities"][row.code] = ref.Facility(row.code, row.name, row.valid_from, row.valid_until)
        else:
            found["schools"][row.code] = ref.School(row.code, row.name)
    return ref.References(**found)


@dataclass(frozen=True)
class CaseHead:
    """The part of a case row an append checks and moves: its version and chain head."""

    id: int
    version: int
    last_seq: int
    head_hash: str


@dataclass(frozen=True)
class Entry:
    """One event to append, with the case columns, records and messages that commit with it."""

    trigger: str
    from_state: str | None
    to_state: str
    application_no: int
    record_kind: str | None
    record: dict[str, Any] | None  # as stored: its sensitive fields already sealed (Sealer.seal_record)
    reason: str | None
    case_values: dict[str, Any] = field(default_factory=dict)
    carry_from: int | None = None  # a new application copies some records of this one, as they are
    topic: str = "case.transitioned"
    queues: tuple[str, ...] = ()
    payload: dict[str, Any] = field(default_factory=dict)


def append(conn: Connection, case: Any, actor: Actor, at: datetime, entry: Entry) -> tuple[int, int, str]:
    """Append an event after the case's chain head, with everything that goes with it; return id, number, hash.

    The case row moves only if it is still at the version read (else a conflict). On PostgreSQL the
    writes go as one statement (one round trip; bench/transitions.py), elsewhere as four.
    """
    record_json = None if entry.record is None else canonical_json(entry.record)
    seq, prev_hash = case.last_seq + 1, case.head_hash or GENESIS
    digest = event_hash(
        case.id, seq, canonical_time(at), actor.user_id, actor.department, entry.trigger, entry.from_state, entry.to_state,
        entry.application_no, entry.record_kind, record_json, entry.reason, prev_hash,
    )  # fmt: skip
    values = {**entry.case_values, "last_seq": seq, "head_hash": digest}
    params: dict[str, Any] = {
        "case_id": case.id, "version": case.version, "seq": seq, "at": at, "actor_id": actor.user_id, "department": actor.department,
        "trigger": entry.trigger, "from_state": entry.from_state, "to_state": entry.to_state, "application_no": entry.application_no,
        "record_kind": entry.record_kind, "record_json": record_json, "reason": entry.reason, "prev_hash": prev_hash, "hash": digest,
        "topic": entry.topic, "payload": entry.payload, "carry_from": entry.carry_from, **values,
    }  # fmt: skip
    for i, queue in enumerate(entry.queues):
        params[f"message_id{i}"], params[f"queue{i}"] = str(uuid.uuid4()), queue
    conn.info.setdefault(WRITTEN, []).extend((queue, params[f"message_id{i}"]) for i, queue in enumerate(entry.queues))
    shape = (tuple(values), record_json is not None, len(entry.queues), entry.carry_from is not None)
    if conn.dialect.name == "postgresql":
        event_id = conn.execute(_append_in_one(*shape), params).scalar()
    else:
        event_id = _append_in_steps(conn, shape, params)
    if event_id is None:
        raise stale(case.id, case.version, None)
    return event_id, seq, digest


def _append_in_steps(conn: Connection, shape: tuple[tuple[str, ...], bool, int, bool], params: dict[str, Any]) -> int | None:
    columns, record, queues, carry = shape
    if conn.execute(_update_case(columns), params).rowcount != 1:
        return None
    event_id: int = conn.execute(_INSERT_EVENT, params).scalar_one()
    if carry:
        conn.execute(text(_CARRY_OVER), params)
    if record:
        conn.execute(_UPSERT_RECORD, {**params, "kind": params["record_kind"], "data": params["record_json"]})
    if queues:
        conn.execute(_insert_outbox(queues), {**params, "event_id": event_id})
    return event_id


def _time_binds(columns: tuple[str, ...]) -> list[Any]:
    """Bind the moments among some columns (`at`, `…_at`) as UTC datetimes."""
    return [bindparam(column, type_=UtcDateTime) for column in columns if column.endswith("_at") or column == "at"]


@lru_cache(maxsize=64)
def _update_case(columns: tuple[str, ...]) -> TextClause:
    assignments = ", ".join(f"{column} = :{column}" for column in columns)
    statement = text(f"UPDATE cases SET version = version + 1, {assignments} WHERE id = :case_id AND version = :version")
    return statement.bindparams(*_time_binds(columns))


# Carried records are copied as they stand, with the event that wrote them, so verify can trace them.
_CARRY_OVER = f"""INSERT INTO case_records (case_id, application_no, kind, data, event_seq, recorded_at)
    SELECT case_id, :application_no, kind, data, event_seq, recorded_at FROM case_records
    WHERE case_id = :case_id AND application_no = :carry_from AND kind IN ({", ".join(f"'{kind}'" for kind in CARRIED_OVER_RECORDS)})"""


@lru_cache(maxsize=256)
def _append_in_one(columns: tuple[str, ...], record: bool, queues: int, carry: bool) -> TextClause:
    """Build the single PostgreSQL statement: update the case, insert the event, the records, the messages."""
    assignments = ", ".join(f"{column} = :{column}" for column in columns)
    messages = ", ".join(f"(:message_id{i}, :queue{i})" for i in range(queues))
    sql = f"""WITH moved AS (
        UPDATE cases SET version = version + 1, {assignments} WHERE id = :case_id AND version = :version RETURNING id
    ), event AS (
        INSERT INTO events (case_id, seq, at, actor_id, department, trigger, from_state, to_state, application_no,
                            record_kind, record_json, reason, prev_hash, hash)
        SELECT id, :seq, :at, :actor_id, :department, :trigger, :from_state, :to_state, :application_no,
               :record_kind, :record_json, :reason, :prev_hash, :hash FROM moved
        RETURNING id
    )"""
    if carry:
        sql += f", carried AS ({_CARRY_OVER} AND EXISTS (SELECT 1 FROM moved))"
    if record:
        sql += """, saved AS (
        INSERT INTO case_records (case_id, application_no, kind, data, event_seq, recorded_at)
        SELECT moved.id, :application_no, :record_kind, :record_json, :seq, :at FROM moved
        ON CONFLICT (case_id, application_no, kind)
        DO UPDATE SET data = excluded.data, event_seq = excluded.event_seq, recorded_at = excluded.recorded_at
    )"""
    if queues:
        sql += f""", sent AS (
        INSERT INTO outbox (message_id, topic, queue, case_id, event_id, payload, status, created_at, attempts)
        SELECT m.message_id, :topic, m.queue, :case_id, event.id, CAST(:payload AS jsonb), 'pending', :at, 0
        FROM event, (VALUES {messages}) AS m (message_id, queue)
    )"""
    payload = [bindparam("payload", type_=Json)] if queues else []  # an event with no messages binds no payload
    return text(sql + " SELECT id FROM event").bindparams(*_time_binds((*columns, "at")), *payload)


def select_commune(case_id: int) -> Any:
    """Return the query for a case's commune id."""
    return select(Case.commune_id).where(Case.id == case_id)
