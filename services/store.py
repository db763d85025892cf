"""Reading and writing a case's rows inside a unit of work: the case, records, events, outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from services.models import Case, CaseRecord, Enterprise, Event, HealthFacility, OutboxMessage, TrainingSchool
from services.users import Actor
from workflows import subject as ref
from workflows.errors import Conflict, NotFound, problem
from workflows.history import GENESIS, canonical_time, event_hash
from workflows.records import load_record

_CASE_HEAD = select(Case.id, Case.state, Case.version, Case.application_no, Case.last_seq, Case.head_hash, Case.commune_id, Case.person_id)


def load_case(conn: Connection, case_id: int) -> Any:
    """Return the case's head row, or raise NotFound."""
    row = conn.execute(_CASE_HEAD.where(Case.id == case_id)).first()
    if row is None:
        raise NotFound([problem("case.unknown", f"Không có hồ sơ số {case_id}.", f"No case {case_id}.", "case_id")])
    return row


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


def load_records(conn: Connection, case_id: int, application_no: int) -> dict[str, Any]:
    """Return the current records of an application, rebuilt as record objects."""
    rows = conn.execute(
        select(CaseRecord.kind, CaseRecord.data).where(CaseRecord.case_id == case_id, CaseRecord.application_no == application_no)
    )
    return {row.kind: load_record(row.kind, row.data) for row in rows}


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


def advance_case(conn: Connection, case: Row[Any], values: dict[str, Any]) -> None:
    """Update the case row if it is still at the version read, or raise a conflict."""
    result = conn.execute(update(Case).where(Case.id == case.id, Case.version == case.version).values(version=case.version + 1, **values))
    if result.rowcount != 1:
        raise stale(case.id, case.version, None)


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
        insert(Event).returning(Event.id),
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


def save_record(
    conn: Connection, *, case_id: int, application_no: int, kind: str, data: dict[str, Any], seq: int, at: datetime, exists: bool
) -> None:
    """Write the current value of a record (insert, or replace the previous value)."""
    values = {"data": data, "event_seq": seq, "recorded_at": at}
    if exists:
        conn.execute(
            update(CaseRecord)
            .where(CaseRecord.case_id == case_id, CaseRecord.application_no == application_no, CaseRecord.kind == kind)
            .values(**values)
        )
    else:
        conn.execute(insert(CaseRecord), {"case_id": case_id, "application_no": application_no, "kind": kind, **values})


def write_outbox(
    conn: Connection, *, topic: str, queues: list[str], case_id: int, event_id: int, payload: dict[str, Any], at: datetime
) -> None:
    """Write one pending message per department queue, in the command's transaction."""
    conn.execute(
        insert(OutboxMessage),
        [
            {
                "message_id": str(uuid.uuid4()),
                "topic": topic,
                "queue": queue,
                "case_id": case_id,
                "event_id": event_id,
                "payload": {**payload, "event_id": event_id, "case_id": case_id},
                "status": "pending",
                "created_at": at,
                "attempts": 0,
            }
            for queue in queues
        ],
    )


def select_commune(case_id: int) -> Any:
    """Return the query for a case's commune id."""
    return select(Case.commune_id).where(Case.id == case_id)
