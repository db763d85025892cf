"""Reads: a case with its records and next steps, its history, lists of cases."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, func, select

from services import access, audit, store, support
from services.models import AdminUnit, Case, Event, Person, PersonalDataRead, User
from services.runtime import Runtime
from services.users import SYSTEM, Actor
from workflows import case as workflow
from workflows.access import MASK, mask_record, mask_record_json
from workflows.errors import Forbidden, problem
from workflows.history import SUPPORT_PAYMENT
from workflows.identity import fold_name
from workflows.record_forms import record_fields
from workflows.records import RECORD_LABELS, record_data, references_of
from workflows.subject import CaseSubject


def case_detail(rt: Runtime, case_id: int, actor: Actor = SYSTEM) -> dict[str, Any]:
    """Return a case: state, owner, person, current records, and what each possible next step needs.

    A user sees only cases of their communes, with the personal data they have no need for masked, and the
    read is logged (who, when, which case); the system (the command line on the server) sees all.
    """
    access.require_role(actor, access.CASE_READERS, "xem hồ sơ", "read cases")
    with rt.unit_of_work(writes=False) as conn:
        case, records = store.load_case_and_records(conn, case_id, rt.sealer)
        access.require_commune(actor, case.commune_id, case_id)
        row = conn.execute(
            select(
                Case.workflow_version,
                Case.source,
                Case.commune_id,
                Case.village_id,
                Person.full_name,
                Person.personal_id_sealed,
                Person.date_of_birth,
                Person.sex,
            )
            .join(Person, Person.id == Case.person_id)
            .where(Case.id == case_id)
        ).one()
        steps = [_next_step(conn, rt, case.state, records, trigger) for trigger in workflow.allowed_triggers(case.state)]
        units = dict(conn.execute(select(AdminUnit.id, AdminUnit.name).where(AdminUnit.id.in_([row.commune_id, row.village_id]))).all())
    _log_read(rt, actor, case_id, "case")
    state = workflow.STATE_BY_NAME[case.state]
    hidden = access.hidden_fields(rt.access, actor)
    personal_id = rt.sealer.open("registration.personal_id", row.personal_id_sealed)
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
            "personal_id": mask_record("registration", {"personal_id": personal_id}, hidden)["personal_id"],
            "date_of_birth": row.date_of_birth.isoformat(),
            "sex": row.sex,
        },
        "records": {kind: mask_record(kind, record_data(value), hidden) for kind, value in records.items()},
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


def _log_read(rt: Runtime, actor: Actor, case_id: int, view: str) -> None:
    """Log a user's read of a case's personal data in its own short transaction (the read itself takes no write lock)."""
    if actor.user_id is not None:
        with rt.unit_of_work() as conn:
            access.log_read(conn, rt.access, actor, case_id, view, rt.clock.now())


def case_history(rt: Runtime, case_id: int, actor: Actor = SYSTEM, *, view: str = "history") -> list[dict[str, Any]]:
    """Return a case's events in order, with the acting user's name (records masked and the read logged as for case_detail)."""
    access.require_role(actor, access.CASE_READERS, "xem lịch sử hồ sơ", "read case histories")
    with rt.unit_of_work(writes=False) as conn:
        access.require_commune(actor, store.load_case(conn, case_id).commune_id, case_id)
        rows = conn.execute(
            select(*Event.__table__.c, User.username)
            .outerjoin(User, User.id == Event.actor_id)
            .where(Event.case_id == case_id)
            .order_by(Event.seq)
        ).all()
    _log_read(rt, actor, case_id, view)
    hidden = access.hidden_fields(rt.access, actor)
    money = support.may_read(rt.access, actor)  # a support payment's note holds its amount and invoice
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
            "record_json": mask_record_json(row.record_kind, rt.sealer.open_json(row.record_kind, row.record_json), hidden),
            "reason": MASK
            if row.reason and (row.record_kind in hidden or (row.trigger == SUPPORT_PAYMENT and not money))
            else rt.sealer.open_reason(row.record_kind, row.reason),
            "hash": row.hash,
        }
        for row in rows
    ]


def list_cases(
    rt: Runtime,
    *,
    actor: Actor = SYSTEM,
    state: str | None = None,
    village: str | None = None,
    source: str | None = None,
    text_query: str | None = None,
    limit: int = 50,
    after_id: int = 0,
) -> list[dict[str, Any]]:
    """Return the cases in the user's communes in id order, a page at a time (keyset: after the last id seen).

    `text_query` finds a 12-digit personal ID exactly, or names without regard to accents or case
    ("nguyen van an" finds "Nguyễn Văn An").
    """
    access.require_role(actor, access.CASE_READERS, "xem hồ sơ", "read cases")
    query = (
        select(Case.id, Case.state, Case.version, Case.owner_department, Case.source, Person.full_name, AdminUnit.name.label("village"))
        .join(Person, Person.id == Case.person_id)
        .join(AdminUnit, AdminUnit.id == Case.village_id)
        .where(Case.id > after_id)
        .order_by(Case.id)
        .limit(limit)
    )
    if actor.communes is not None:
        query = query.where(Case.commune_id.in_(sorted(actor.communes)))
    if state is not None:
        query = query.where(Case.state == state)
    if village is not None:
        query = query.where(AdminUnit.code == village)
    if source is not None:
        query = query.where(Case.source == source)
    wanted = (text_query or "").strip()
    if wanted.isdigit() and len(wanted) == 12:
        if "personal_id" not in access.unmasked_categories(rt.access, actor):  # else a masked ID could be confirmed by search
            raise Forbidden(
                [problem("search.personal_id", "Bạn không được tìm theo số định danh.", "You may not search by personal ID.", "q")]
            )
        query = query.where(Person.personal_id_lookup == rt.sealer.lookup(wanted))
    elif wanted:
        query = query.where(Person.search_name.contains(fold_name(wanted), autoescape=True))
    with rt.unit_of_work(writes=False) as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def count_by_state(rt: Runtime, communes: Collection[int] | None = None) -> dict[str, int]:
    """Return how many cases are in each state (in the communes given, or everywhere)."""
    query = select(Case.state, func.count()).group_by(Case.state)
    if communes is not None:
        query = query.where(Case.commune_id.in_(sorted(communes)))
    with rt.unit_of_work(writes=False) as conn:
        return {state: int(count) for state, count in conn.execute(query).all()}


def funnel_by_village(rt: Runtime, communes: Collection[int] | None = None) -> list[dict[str, Any]]:
    """Return, per village, how many cases are in each state."""
    query = (
        select(AdminUnit.code, AdminUnit.name, Case.state, func.count().label("cases"))
        .join(AdminUnit, AdminUnit.id == Case.village_id)
        .group_by(AdminUnit.code, AdminUnit.name, Case.state)
        .order_by(AdminUnit.code)
    )
    if communes is not None:
        query = query.where(Case.commune_id.in_(sorted(communes)))
    villages: dict[str, dict[str, Any]] = {}
    with rt.unit_of_work(writes=False) as conn:
        for row in conn.execute(query):
            village = villages.setdefault(row.code, {"code": row.code, "name": row.name, "states": {}})
            village["states"][row.state] = int(row.cases)
    return list(villages.values())


def verify_case(rt: Runtime, case_id: int, actor: Actor = SYSTEM) -> dict[str, Any]:
    """Prove one case's history (chain, anchors, current records, identity) for a user who may read it."""
    access.require_role(actor, ("supervisor", "auditor", "system"), "kiểm tra lịch sử", "verify histories")
    with rt.unit_of_work(writes=False) as conn:
        access.require_commune(actor, store.load_case(conn, case_id).commune_id, case_id)
        report = audit.verify(conn, case_id)
    return {
        "case_id": case_id,
        "ok": report.ok,
        "events": report.events,
        "anchors": report.anchors,
        "findings": [{"seq": f.seq, "code": f.code, "en": f.en, "vi": f.vi} for f in report.findings],
    }


def personal_data_reads(
    rt: Runtime, actor: Actor, *, case_id: int | None = None, after_id: int = 0, limit: int = 100
) -> list[dict[str, Any]]:
    """Return the log of personal-data reads in the user's communes (auditors and supervisors), a page at a time."""
    access.require_role(actor, ("supervisor", "auditor", "system"), "xem nhật ký truy cập dữ liệu cá nhân", "read the personal-data log")
    query = (
        select(PersonalDataRead.id, PersonalDataRead.case_id, PersonalDataRead.username, PersonalDataRead.at, PersonalDataRead.view,
               PersonalDataRead.unmasked)
        .join(Case, Case.id == PersonalDataRead.case_id)
        .where(PersonalDataRead.id > after_id)
        .order_by(PersonalDataRead.id)
        .limit(limit)
    )  # fmt: skip
    if actor.communes is not None:
        query = query.where(Case.commune_id.in_(sorted(actor.communes)))
    if case_id is not None:
        query = query.where(PersonalDataRead.case_id == case_id)
    with rt.unit_of_work(writes=False) as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def case_scope(rt: Runtime, case_id: int, actor: Actor) -> None:
    """Refuse a user who may not read the case (as "no such case" outside their communes)."""
    access.require_role(actor, access.CASE_READERS, "xem hồ sơ", "read cases")
    with rt.unit_of_work(writes=False) as conn:
        access.require_commune(actor, store.load_case(conn, case_id).commune_id, case_id)
