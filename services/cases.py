"""Case commands: register, fire a transition, add or correct a record, withdraw, reopen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from services import access, followups, store
from services.models import STATE_TIME_COLUMNS, AdminUnit, Case, Person
from services.runtime import Runtime
from services.users import Actor
from workflows import case as workflow
from workflows.errors import Conflict, Forbidden, GuardFailed, RecordInvalid, TransitionNotAllowed, problem
from workflows.history import ADD_RECORD, CORRECT_RECORD, GENESIS, REGISTER
from workflows.identity import fold_name
from workflows.records import Registration, record_data, references_of, validate_record
from workflows.subject import CaseSubject

SUPERVISING_ROLES = ("supervisor",)


@dataclass(frozen=True)
class CaseRef:
    """Where a command left a case: its id, version and state."""

    id: int
    version: int
    state: str


def register(rt: Runtime, actor: Actor, data: dict[str, Any], *, link: Callable[[Connection, int], None] | None = None) -> CaseRef:
    """Register a worker and open the case, or raise why not; nothing is written on failure.

    `link`, if given, runs in the same transaction with the new case's id (a referral closes with the case it became).
    """
    _require_department(actor, ("social_policy",), "register")
    record: Registration = validate_record("registration", _unwrap(data, None), rt.today(), rt.policy)
    now, initial = rt.clock.now(), workflow.INITIAL_STATE
    sealed = rt.sealer.seal_record("registration", record_data(record))
    try:
        with rt.unit_of_work() as conn:
            case_id = _open_case(conn, actor, record, _person_values(rt, record, sealed), now)
            entry = store.Entry(
                trigger=REGISTER, from_state=None, to_state=initial, application_no=1, record_kind="registration",
                record=sealed, reason=None, topic="case.registered",
                queues=tuple(workflow.departments_concerned(None, initial)), payload={"trigger": REGISTER, "to_state": initial},
            )  # fmt: skip
            store.append(conn, store.CaseHead(id=case_id, version=0, last_seq=0, head_hash=GENESIS), actor, now, entry)
            followups.follow(conn, rt, case_id, followups.Step(REGISTER, None, initial, 1, "registration"), {"registration": record}, now)
            if link is not None:
                link(conn, case_id)
    except IntegrityError as error:
        if "personal_id" not in str(error.orig):
            raise
        with rt.unit_of_work(writes=False) as conn:  # say which case the person already has
            raise _second_case(conn, rt, actor, record.personal_id) from error
    return CaseRef(case_id, 1, initial)


def _open_case(conn: Connection, actor: Actor, record: Registration, person: dict[str, Any], now: datetime) -> int:
    """Insert the person and their case, in the machine's initial state at version 0 with an empty chain."""
    commune_id, village_id = _resolve_units(conn, record.commune_code, record.village_code)
    access.require_commune(actor, commune_id)
    person_id = conn.execute(insert(Person).returning(Person.id), person).scalar_one()
    initial = workflow.STATE_BY_NAME[workflow.INITIAL_STATE]
    values = {
        "person_id": person_id, "commune_id": commune_id, "village_id": village_id, "workflow_version": workflow.WORKFLOW_VERSION,
        "state": initial.name, "version": 0, "owner_department": initial.owner, "application_no": 1, "source": record.source,
        "opened_at": now, "state_entered_at": now, "registered_at": now, "last_seq": 0, "head_hash": GENESIS, "anchored_seq": 0,
    }  # fmt: skip
    return int(conn.execute(insert(Case).returning(Case.id), values).scalar_one())


def fire(
    rt: Runtime,
    actor: Actor,
    case_id: int,
    trigger: str,
    data: dict[str, Any] | None = None,
    *,
    expected_version: int | None = None,
    reason: str | None = None,
) -> CaseRef:
    """Move a case along a transition, with its record if given here, in one transaction."""
    spec = workflow.TRANSITION_BY_TRIGGER.get(trigger)
    if spec is None:
        with rt.unit_of_work(writes=False) as conn:
            state = _load_in_scope(conn, rt, actor, case_id)[0].state
        raise TransitionNotAllowed([workflow.not_allowed(state, trigger)])
    _require_department(actor, spec.departments, trigger)
    _check_reason(reason)
    incoming = None if data is None else validate_record(spec.record, _unwrap(data, case_id), rt.today(), rt.policy)
    try:
        with rt.unit_of_work() as conn:
            case, records = _load_in_scope(conn, rt, actor, case_id)
            store.check_version(case, expected_version)
            if incoming is not None:
                records[spec.record] = incoming
            subject = CaseSubject(
                state=case.state,
                today=rt.today(),
                policy=rt.policy,
                records=records,
                references=store.load_references(conn, references_of(records.get(spec.record))),
            )
            change = workflow.fire(subject, trigger)
            new = _Step.of(
                rt, trigger, change.source, change.dest, case.application_no + change.new_application, spec.record, records[spec.record]
            )
            _append(conn, rt, case, actor, new, records, reason)
    except IntegrityError as error:  # the event's key: someone else wrote this case meanwhile
        raise store.stale(case_id, expected_version, None) from error
    return CaseRef(case_id, case.version + 1, change.dest)


def put_record(
    rt: Runtime,
    actor: Actor,
    case_id: int,
    kind: str,
    data: dict[str, Any],
    *,
    expected_version: int | None = None,
    reason: str | None = None,
) -> CaseRef:
    """Add a record for the case's next step, or correct one on file (a correction needs a reason)."""
    _require_department(actor, workflow.record_departments(kind), f"record:{kind}")
    _check_reason(reason)
    record = validate_record(kind, _unwrap(data, case_id), rt.today(), rt.policy)
    try:
        with rt.unit_of_work() as conn:
            case, records = _load_in_scope(conn, rt, actor, case_id)
            store.check_version(case, expected_version)
            correcting = kind in records
            if correcting and not (reason and reason.strip()):
                raise RecordInvalid([problem("reason.required", "Sửa hồ sơ phải ghi lý do.", "A correction needs a reason.", "reason")])
            if not correcting:
                _check_record_belongs(case.state, kind)
            previous, records[kind] = records.get(kind), record
            subject = CaseSubject(
                state=case.state,
                today=rt.today(),
                policy=rt.policy,
                records=records,
                references=store.load_references(conn, references_of(record, previous, *records.values())),
            )
            problems = workflow.check_record(subject, kind, previous)
            if problems:
                raise GuardFailed(problems)
            step = _Step.of(rt, CORRECT_RECORD if correcting else ADD_RECORD, case.state, case.state, case.application_no, kind, record)
            if isinstance(record, Registration):
                _update_person(conn, rt, actor, case, previous, record, step.stored)
            _append(conn, rt, case, actor, step, records, reason)
    except IntegrityError as error:
        if "personal_id" in str(error.orig):
            raise _duplicate_person(getattr(record, "personal_id", "")) from error
        raise store.stale(case_id, expected_version, None) from error
    return CaseRef(case_id, case.version + 1, case.state)


@dataclass(frozen=True)
class _Step:
    """What one event records: the step, the states around it, the application and the record."""

    trigger: str
    source: str
    dest: str
    application_no: int
    record_kind: str
    record: Any
    stored: dict[str, Any]  # the record's data as written: sensitive fields sealed

    @classmethod
    def of(cls, rt: Runtime, trigger: str, source: str, dest: str, application_no: int, kind: str, record: Any) -> _Step:
        """Build a step, sealing its record once (the person row reuses the same token)."""
        return cls(trigger, source, dest, application_no, kind, record, rt.sealer.seal_record(kind, record_data(record)))


def _load_in_scope(conn: Connection, rt: Runtime, actor: Actor, case_id: int) -> tuple[Any, dict[str, Any]]:
    """Load (and on PostgreSQL lock) a case and its records, as "no such case" to a user whose scope it is outside."""
    case, records = store.load_case_and_records(conn, case_id, rt.sealer)
    access.require_commune(actor, case.commune_id, case_id)
    return case, records


def _append(conn: Connection, rt: Runtime, case: Any, actor: Actor, step: _Step, records: dict[str, Any], reason: str | None) -> None:
    """Write one event with everything that goes with it: the case row, the records, the outbox, work items, clocks."""
    access.check_separation(conn, rt.access, actor, case.id, step.application_no, step.record_kind)
    now = rt.clock.now()
    values: dict[str, Any] = {}
    moved = step.trigger in workflow.TRANSITION_BY_TRIGGER
    if moved:
        values |= {"state": step.dest, "owner_department": workflow.STATE_BY_NAME[step.dest].owner, "application_no": step.application_no}
        if step.application_no != case.application_no:  # a new application starts its own timeline
            values |= {f"{state}_at": None for state in STATE_TIME_COLUMNS}
        values |= {"state_entered_at": now, f"{step.dest}_at": now}
    if step.record_kind == "counselling":
        values["market_code"] = step.record.market_code
    elif step.application_no != case.application_no:
        values["market_code"] = None  # a new application has not chosen its market yet
    entry = store.Entry(
        trigger=step.trigger, from_state=step.source, to_state=step.dest, application_no=step.application_no,
        record_kind=step.record_kind, record=step.stored, reason=rt.sealer.seal_reason(step.record_kind, reason), case_values=values,
        carry_from=case.application_no if step.application_no != case.application_no else None,
        topic="case.transitioned" if moved else "case.record_changed",
        queues=tuple(workflow.departments_concerned(step.source if moved else None, step.dest)),
        payload={"trigger": step.trigger, "from_state": step.source, "to_state": step.dest, "record_kind": step.record_kind},
    )  # fmt: skip
    store.append(conn, case, actor, now, entry)
    follow = followups.Step(step.trigger, step.source, step.dest, step.application_no, step.record_kind)
    followups.follow(conn, rt, case.id, follow, records, now)


def withdraw(rt: Runtime, actor: Actor, case_id: int, reason: str, *, expected_version: int | None = None) -> CaseRef:
    """Withdraw a case before departure, at the worker's wish, with the reason."""
    record = {"withdrawn_on": rt.today().isoformat(), "reason": reason}
    return fire(rt, actor, case_id, "withdraw", record, expected_version=expected_version, reason=reason)


def reopen(rt: Runtime, actor: Actor, case_id: int, reason: str, *, expected_version: int | None = None) -> CaseRef:
    """Start a new application on an ended case; the history and the old records stay."""
    record = {"reopened_on": rt.today().isoformat(), "reason": reason}
    return fire(rt, actor, case_id, "reopen", record, expected_version=expected_version, reason=reason)


def _check_reason(reason: str | None) -> None:
    if reason is not None and "\x00" in reason:
        raise RecordInvalid(
            [problem("field.nul", "Lý do có ký tự NUL (\\0) không hợp lệ.", "The reason contains a NUL character (\\0).", "reason")]
        )


def _require_department(actor: Actor, departments: tuple[str, ...], action: str) -> None:
    if actor.role in SUPERVISING_ROLES or actor.role == "system" or actor.department in departments:
        return
    allowed = ", ".join(departments)
    raise Forbidden(
        [
            problem(
                "department.not_owner",
                f"Bộ phận {actor.department or '—'} không được thực hiện '{action}' (chỉ: {allowed}).",
                f"Department {actor.department or '—'} may not do '{action}' (only: {allowed}).",
                "actor",
            )
        ]
    )


def _unwrap(data: dict[str, Any], case_id: int | None) -> dict[str, Any]:
    """Strip the optional `case_id` a record file may carry, refusing one meant for another case."""
    if not isinstance(data, dict):
        raise RecordInvalid([problem("record.type", "Hồ sơ phải là một đối tượng JSON.", "A record must be a JSON object.", None)])
    named = data.get("case_id")
    if named is not None and case_id is not None and named != case_id:
        raise RecordInvalid(
            [
                problem(
                    "record.wrong_case",
                    f"Hồ sơ này dành cho hồ sơ số {named}, không phải số {case_id}.",
                    f"This record is for case {named}, not case {case_id}.",
                    "case_id",
                )
            ]
        )
    return {key: value for key, value in data.items() if key != "case_id"}


def _check_record_belongs(state: str, kind: str) -> None:
    next_records = {workflow.TRANSITION_BY_TRIGGER[t].record for t in workflow.allowed_triggers(state)}
    if kind in next_records:
        return
    options = ", ".join(sorted(next_records)) or "—"
    raise RecordInvalid(
        [
            problem(
                "record.not_for_step",
                f"Hồ sơ ở trạng thái '{state}' không nhận loại '{kind}' (nhận: {options}).",
                f"A case in state '{state}' takes no '{kind}' record (it takes: {options}).",
                "kind",
            )
        ]
    )


def _resolve_units(conn: Connection, commune_code: str, village_code: str) -> tuple[int, int]:
    rows = {
        row.code: row
        for row in conn.execute(
            select(AdminUnit.id, AdminUnit.code, AdminUnit.kind, AdminUnit.parent_id).where(
                AdminUnit.code.in_([commune_code, village_code])
            )
        )
    }
    commune, village = rows.get(commune_code), rows.get(village_code)
    if commune is None or commune.kind != "commune":
        raise RecordInvalid(
            [problem("unit.commune", f"Không có xã/phường mã {commune_code}.", f"No commune with code {commune_code}.", "commune_code")]
        )
    if village is None or village.kind != "village" or village.parent_id != commune.id:
        raise RecordInvalid(
            [
                problem(
                    "unit.village",
                    f"Thôn mã {village_code} không thuộc xã {commune_code}.",
                    f"Village {village_code} is not in commune {commune_code}.",
                    "village_code",
                )
            ]
        )
    return commune.id, village.id


def _second_case(conn: Connection, rt: Runtime, actor: Actor, personal_id: str) -> Conflict:
    existing = conn.execute(
        select(Case.id, Case.state, Case.commune_id)
        .join(Person, Person.id == Case.person_id)
        .where(Person.personal_id_lookup == rt.sealer.lookup(personal_id))
    ).first()
    if existing is not None and not actor.covers(existing.commune_id):
        return _duplicate_person(personal_id)  # one case per person everywhere, but say nothing of a case outside the scope
    return _duplicate_person(personal_id, existing.id if existing else None, existing.state if existing else None)


def _duplicate_person(personal_id: str, case_id: int | None = None, state: str | None = None) -> Conflict:
    where_vi = f" (hồ sơ số {case_id}, trạng thái {state})" if case_id else ""
    where_en = f" (case {case_id}, state {state})" if case_id else ""
    if state is not None and "reopen" in workflow.allowed_triggers(state):
        hint_vi, hint_en = "; hãy mở lại hồ sơ đó", "; reopen that case instead"
    elif state is not None and workflow.STATE_BY_NAME[state].kind == "end":
        hint_vi, hint_en = "; hồ sơ đó đã kết thúc và không thể mở lại", "; that case has ended and cannot be reopened"
    else:
        hint_vi, hint_en = "; mỗi người chỉ có một hồ sơ đang mở", "; a person has one open case at a time"
    return Conflict(
        [
            problem(
                "person.has_case",
                f"Người có số định danh này đã có hồ sơ{where_vi}{hint_vi}.",
                f"The person with this ID already has a case{where_en}{hint_en}.",
                "personal_id",
            )
        ]
    )


def _person_values(rt: Runtime, record: Registration, sealed: dict[str, Any]) -> dict[str, Any]:
    """Return the person row: the ID as the same sealed token as in the registration record, and its keyed hash."""
    return {
        "personal_id_sealed": sealed["personal_id"],
        "personal_id_lookup": rt.sealer.lookup(record.personal_id),
        "full_name": record.full_name,
        "search_name": fold_name(record.full_name),
        "date_of_birth": record.date_of_birth,
        "sex": record.sex,
        "ethnicity": record.ethnicity,
        "phone": record.phone,
    }


def _update_person(
    conn: Connection, rt: Runtime, actor: Actor, case: Any, old: Registration | None, new: Registration, sealed: dict[str, Any]
) -> None:
    if old is not None and (old.commune_code, old.village_code) != (new.commune_code, new.village_code):
        commune_id, village_id = _resolve_units(conn, new.commune_code, new.village_code)
        access.require_commune(actor, commune_id)  # a correction may not move a case out of the user's scope
        conn.execute(update(Case).where(Case.id == case.id).values(commune_id=commune_id, village_id=village_id))
    conn.execute(update(Person).where(Person.id == case.person_id).values(**_person_values(rt, new, sealed)))
