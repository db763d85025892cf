"""Reads: a case with its records and next steps, its history, lists of cases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from services import store
from services.models import AdminUnit, Case, Event, Person, User
from services.runtime import Runtime
from workflows import case as workflow
from workflows.records import RECORD_LABELS, record_data, record_fields, references_of
from workflows.subject import CaseSubject


def case_detail(rt: Runtime, case_id: int) -> dict[str, Any]:
    """Return a case: state, owner, person, current records, and what each possible next step needs."""
    with rt.unit_of_work(writes=False) as conn:
        case, records = store.load_case_and_records(conn, case_id)
        row = conn.execute(
            select(
                Case.workflow_version,
                Case.source,
                Case.commune_id,
                Case.village_id,
                Person.full_name,
                Person.personal_id,
                Person.date_of_birth,
                Person.sex,
            )
            .join(Person, Person.id == Case.person_id)
            .where(Case.id == case_id)
        ).one()
        steps = [_next_step(conn, rt, case.state, records, trigger) for trigger in workflow.allowed_triggers(case.state)]
        units = dict(conn.execute(select(AdminUnit.id, AdminUnit.name).where(AdminUnit.id.in_([row.commune_id, row.village_id]))).all())
    state = workflow.STATE_BY_NAME[case.state]
    return {
        "id": case_id,
        "state": case.state,
        "state_label": {"vi": state.label_vi, "en": state.label_en},
        "owner_department": state.owner,
        "version": case.version,
        "application_no": case.application_no,
        "workflow_version": row.workflow_version,
        "source": row.source,
        "commune": units.get(row.commune_id),
        "village": units.get(row.village_id),
        "person": {
            "full_name": row.full_name,
            "personal_id": row.personal_id,
            "date_of_birth": row.date_of_birth.isoformat(),
            "sex": row.sex,
        },
        "records": {kind: record_data(value) for kind, value in records.items()},
        "next_steps": steps,
    }


def _next_step(conn: Connection, rt: Runtime, state: str, records: dict[str, Any], trigger: str) -> dict[str, Any]:
    spec = workflow.TRANSITION_BY_TRIGGER[trigger]
    on_file = spec.record in records
    subject = CaseSubject(
        state=state,
        today=rt.today(),
        policy=rt.policy,
        records=records,
        references=store.load_references(conn, references_of(records.get(spec.record))),
    )
    blocking = [p.as_dict() for p in workflow.check(subject, trigger) if p.code != "record.missing"]
    return {
        "trigger": trigger,
        "label": {"vi": spec.label_vi, "en": spec.label_en},
        "to_state": spec.dest,
        "departments": list(spec.departments),
        "record": spec.record,
        "record_label": dict(zip(("vi", "en"), RECORD_LABELS[spec.record], strict=True)),
        "record_on_file": on_file,
        "record_fields": [{"name": name, "required": required} for name, required in record_fields(spec.record)],
        "problems": blocking,
    }


def case_history(rt: Runtime, case_id: int) -> list[dict[str, Any]]:
    """Return a case's events in order, with the acting user's name."""
    with rt.unit_of_work(writes=False) as conn:
        store.load_case(conn, case_id)
        rows = conn.execute(
            select(*Event.__table__.c, User.username)
            .outerjoin(User, User.id == Event.actor_id)
            .where(Event.case_id == case_id)
            .order_by(Event.seq)
        ).all()
    return [
        {
            "seq": row.seq,
            "at": row.at.isoformat(),
            "actor": row.username or "system",
            "department": row.department,
            "trigger": row.trigger,
            "from_state": row.from_state,
            "to_state": row.to_state,
            "application_no": row.application_no,
            "record_kind": row.record_kind,
            "record_json": row.record_json,
            "reason": row.reason,
            "hash": row.hash,
        }
        for row in rows
    ]


def list_cases(rt: Runtime, *, state: str | None = None, limit: int = 50, after_id: int = 0) -> list[dict[str, Any]]:
    """Return cases in id order (optionally in one state), a page at a time."""
    query = (
        select(Case.id, Case.state, Case.version, Case.owner_department, Person.full_name, AdminUnit.name.label("village"))
        .join(Person, Person.id == Case.person_id)
        .join(AdminUnit, AdminUnit.id == Case.village_id)
        .where(Case.id > after_id)
        .order_by(Case.id)
        .limit(limit)
    )
    if state is not None:
        query = query.where(Case.state == state)
    with rt.unit_of_work(writes=False) as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def count_by_state(rt: Runtime) -> dict[str, int]:
    """Return how many cases are in each state."""
    with rt.unit_of_work(writes=False) as conn:
        return dict(conn.execute(select(Case.state, func.count()).group_by(Case.state)).all())
