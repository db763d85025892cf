"""Random command sequences on a fresh database; after every step the cases replay from their history (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import Engine, create_engine, func, select, text

from config.settings import Settings
from services import audit, cases, demo, queries
from services.clock import FixedClock
from services.db import make_engine
from services.models import Case, CaseRecord, Deadline, DeadlineRung, Event, OutboxMessage, Person, WorkItem
from services.runtime import build_runtime
from services.users import load_actor
from tests import factories as f
from tests.conftest import START, _with_database, postgres_admin_url
from workflows import case as workflow
from workflows.errors import Conflict, DomainError, RecordInvalid
from workflows.history import replay

TRIGGERS = [spec.trigger for spec in workflow.TRANSITIONS]
STATE_NAMES = {state.name for state in workflow.STATES}
DEPARTMENTS = [dept for dept, _ in demo.USERS]
TRIGGER_OF_RECORD = {spec.record: spec.trigger for spec in workflow.TRANSITIONS}
RECORD_KINDS = ["registration", *TRIGGER_OF_RECORD]
# Records that pass validation but break a guard of their step.
GUARD_BREAKERS: dict[str, dict[str, Any]] = {
    "counsel": {"enterprise_licence": f.EXPIRED_LICENCE},
    "train": {"orientation": {"number": "GDĐH-1", "issued_on": "2026-06-01", "periods": 40, "issued_by_licence": f.LICENCE}},
    "certify_health": {"result": "unfit"},
    "approve_loan": {"amount_vnd": 200_000_000},
    "depart": {"contract": {"number": "HĐ-1", "employer": "E", "country": "KR", "starts_on": "2026-06-03", "duration_months": 36}},
    "return_home": {"returned_on": "2026-06-01"},
    "report_overstay": {"kind": "overstayed"},
}
# A text field of each record kind that a correction may change.
CORRECTABLE = {
    "counselling": "job", "health": "certificate_number", "loan": "branch", "return": "cause", "withdrawal": "reason",
    "ineligibility": "details", "visa_refusal": "reason", "overstay": "details", "death": "place", "reintegration": "job",
    "closure": "reason", "reopening": "reason",
}  # fmt: skip
NewDatabase = Callable[[], tuple[Engine, Callable[[], None]]]


def record_for(kind: str, today: date) -> dict[str, Any]:
    return f.RECORDS[TRIGGER_OF_RECORD[kind]](today)


def spoil(record: dict[str, Any], how: str, key: str, case_id: int) -> dict[str, Any]:
    """Return the record with one thing wrong: a field emptied, an unknown field, or another case's id."""
    if how == "empty_field":
        return {**record, key: ""}
    if how == "extra_field":
        return {**record, "unexpected": "x"}
    return {**record, "case_id": case_id + 1}


class CaseCommands(RuleBasedStateMachine):
    """Officers of every department fire commands at random cases; every command succeeds or is a DomainError."""

    new_database: ClassVar[NewDatabase]
    seen: ClassVar[Counter[str]]
    cases = Bundle("cases")

    def __init__(self) -> None:
        super().__init__()
        self.engine, self.drop = self.new_database()
        self.clock = FixedClock(START)
        self.rt = build_runtime(Settings(), engine=self.engine, clock=self.clock)
        with self.rt.unit_of_work() as conn:
            self.actors = {name: load_actor(conn, name) for name in [*DEPARTMENTS, "supervisor", "auditor"]}
        self.serial = 0
        self.registrations: list[dict[str, Any]] = []
        self.last_error: DomainError | None = None

    def teardown(self) -> None:
        self.engine.dispose()
        self.drop()

    # --- helpers ---------------------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        tables = (Event, OutboxMessage, Case, Person, CaseRecord, WorkItem, Deadline, DeadlineRung)
        counted = select(*(select(func.count()).select_from(model).scalar_subquery().label(model.__tablename__) for model in tables))
        with self.rt.unit_of_work() as conn:
            found: dict[str, Any] = dict(conn.execute(counted).one()._mapping)
            found["cases_now"] = {row.id: (row.version, row.state) for row in conn.execute(select(Case.id, Case.version, Case.state))}
        return found

    def attempt(self, label: str, command: Callable[[], cases.CaseRef], case_id: int | None = None) -> cases.CaseRef | None:
        """Run a command: a refusal must have written nothing, a success exactly one event and one version."""
        before, self.last_error = self.snapshot(), None
        try:
            ref = command()
        except DomainError as error:
            self.last_error = error
            assert self.snapshot() == before, f"{label} was refused ({error}) but wrote something"
            self.seen[f"refused {type(error).__name__}"] += 1
            self.seen[f"{label} refused {type(error).__name__}: {error.problems[0].code}"] += 1
            return None
        after = self.snapshot()
        assert after["events"] == before["events"] + 1, label
        assert after["outbox"] > before["outbox"], label
        changed = {c for c, v in after["cases_now"].items() if before["cases_now"].get(c) != v}
        assert changed == {ref.id}, (label, changed)
        assert case_id in (None, ref.id)
        assert (ref.version, ref.state) == after["cases_now"][ref.id]
        assert ref.version == before["cases_now"].get(ref.id, (0, None))[0] + 1
        self.seen[f"ok {label}"] += 1
        self.seen[f"reached {ref.state}"] += 1
        return ref

    def state_of(self, case_id: int) -> tuple[str, int]:
        with self.rt.unit_of_work() as conn:
            row = conn.execute(select(Case.state, Case.version).where(Case.id == case_id)).one()
        return row.state, row.version

    def actor_for(self, departments: tuple[str, ...] | str, who: str) -> Any:
        owner = departments if isinstance(departments, str) else departments[0]
        return self.actors[owner if who == "owner" else who]

    # --- rules --------------------------------------------------------------------------------------------------------

    def register_new(self, sex: str, age: int, month: int, day: int) -> int:
        """Register a new person of an allowed age; that must succeed."""
        self.serial += 1
        today = self.rt.today()
        born = date(today.year - age - 1, month, day)
        data = f.registration(
            today, serial=self.serial, sex=sex, date_of_birth=born.isoformat(), personal_id=f.personal_id(born, sex, self.serial)
        )
        ref = self.attempt("register", lambda: cases.register(self.rt, self.actors["social_policy"], data))
        assert ref is not None, f"a valid registration of a new person was refused: {self.last_error}"
        self.registrations.append(data)
        return ref.id

    @initialize(target=cases)
    def first_case(self) -> int:
        return self.register_new("female", 30, 2, 1)

    @precondition(lambda self: len(self.registrations) < 4)
    @rule(target=cases, sex=st.sampled_from(["male", "female"]), age=st.integers(18, 55), month=st.integers(1, 12), day=st.integers(1, 28))
    def register(self, sex: str, age: int, month: int, day: int) -> int:
        return self.register_new(sex, age, month, day)

    @rule(kind=st.sampled_from(["bad_id", "under_age", "future_date", "duplicate", "unknown_village", "missing_field"]))
    def register_invalid(self, kind: str) -> None:
        today, serial = self.rt.today(), self.serial + 10_000
        if kind == "duplicate" and self.registrations:
            data = {**self.registrations[-1], "full_name": "Trần Văn Trùng"}
        elif kind == "under_age":
            born = date(today.year - 17, today.month, 1)
            data = f.registration(today, serial=serial, date_of_birth=born.isoformat(), personal_id=f.personal_id(born, "male", serial))
        elif kind == "future_date":
            data = f.registration(today, serial=serial, consent={"given": True, "given_on": date(today.year + 1, 1, 1).isoformat()})
        elif kind == "unknown_village":
            data = f.registration(today, serial=serial, village_code="TH-CAMTAN-77")
        elif kind == "missing_field":
            data = {k: v for k, v in f.registration(today, serial=serial).items() if k != "personal_id"}
        else:
            data = f.registration(today, serial=serial, personal_id=f"0389{today.year % 100 - 25:02d}000001")
        error = Conflict if kind == "duplicate" and self.registrations else RecordInvalid
        ref = self.attempt(f"register_{kind}", lambda: cases.register(self.rt, self.actors["social_policy"], data))
        assert ref is None, f"an invalid registration ({kind}) was accepted"
        assert type(self.last_error) is error, self.last_error

    @rule(
        case_id=cases,
        how=st.sampled_from(["valid", "valid", "guard", "guard", "none", "empty_field", "extra_field", "other_case"]),
        who=st.sampled_from(["owner", "owner", "owner", "supervisor", "auditor", *DEPARTMENTS]),
        data=st.data(),
    )
    def fire_any(self, case_id: int, how: str, who: str, data: st.DataObject) -> None:
        """Fire any trigger (one allowed now, half the time) with a valid, guard-breaking, spoiled or no record."""
        allowed = workflow.allowed_triggers(self.state_of(case_id)[0])
        trigger = data.draw(st.sampled_from([*allowed, *TRIGGERS, "fly_away"] if allowed else [*TRIGGERS, "fly_away"]), label="trigger")
        spec = workflow.TRANSITION_BY_TRIGGER.get(trigger)
        record: dict[str, Any] | None = None
        if spec is not None:
            record = f.RECORDS[trigger](self.rt.today(), **(GUARD_BREAKERS.get(trigger, {}) if how == "guard" else {}))
        if how == "none":
            record = None
        elif how not in ("valid", "guard"):
            key = data.draw(st.sampled_from(sorted(record or {"x": 1})), label="field")
            record = spoil(record or {}, how, key, case_id)
        actor = self.actor_for(spec.departments if spec else "social_policy", who)
        self.attempt(f"fire {trigger}", lambda: cases.fire(self.rt, actor, case_id, trigger, record), case_id)

    @rule(case_id=cases, steps=st.integers(1, 8), with_version=st.booleans(), data=st.data())
    def walk_on(self, case_id: int, steps: int, with_version: bool, data: st.DataObject) -> None:
        """Take the case's next steps with valid records, mostly along the main path."""
        for _ in range(steps):
            state, version = self.state_of(case_id)
            allowed = workflow.allowed_triggers(state)
            if not allowed:
                return
            trigger = data.draw(st.sampled_from([*allowed, *[allowed[0]] * 6]), label="trigger")
            record = f.RECORDS[trigger](self.rt.today())
            actor = self.actors[f.DEPARTMENT[trigger]]
            expected = version if with_version else None

            def command(actor=actor, trigger=trigger, record=record, expected=expected) -> cases.CaseRef:
                return cases.fire(self.rt, actor, case_id, trigger, record, expected_version=expected)

            self.attempt(f"fire {trigger}", command, case_id)

    @rule(case_id=cases, how=st.sampled_from(["valid", "valid", "empty_field"]), reason=st.sampled_from([None, "", "Sửa sai sót khi nhập", "Sửa sai sót khi nhập"]),
          who=st.sampled_from(["owner", "owner", "bank", "police"]), data=st.data())  # fmt: skip
    def put_record(self, case_id: int, how: str, reason: str | None, who: str, data: st.DataObject) -> None:
        """Add the next step's record or correct one on file (mostly), or a record of any kind."""
        state = self.state_of(case_id)[0]
        likely = [workflow.TRANSITION_BY_TRIGGER[t].record for t in workflow.allowed_triggers(state)]
        likely += list(queries.case_detail(self.rt, case_id)["records"])
        kind = data.draw(st.sampled_from([*likely, *likely, *RECORD_KINDS]), label="kind")
        if kind == "registration":
            record = {
                **queries.case_detail(self.rt, case_id)["records"]["registration"],
                "phone": f"09{data.draw(st.integers(10**7, 10**8 - 1))}",
            }
        else:
            record = record_for(kind, self.rt.today())
        if how != "valid":
            record = spoil(record, how, data.draw(st.sampled_from(sorted(record)), label="field"), case_id)
        actor = self.actor_for(workflow.record_departments(kind)[-1], who)
        command = lambda: cases.put_record(self.rt, actor, case_id, kind, record, reason=reason)  # noqa: E731
        self.attempt(f"put {kind}", command, case_id)

    @rule(case_id=cases, text=st.text("abcđơư ", min_size=1, max_size=12).map(str.strip).filter(bool), data=st.data())
    def correct_record(self, case_id: int, text: str, data: st.DataObject) -> None:
        """Correct a record on file, with a reason, as its department: that is always accepted."""
        on_file = queries.case_detail(self.rt, case_id)["records"]
        kind = data.draw(st.sampled_from(sorted(on_file)), label="kind")
        # A correction changes one field of the record on file and keeps its dates (a fresh record dated today could
        # rightly be refused: a training certificate issued after the departure it preceded).
        record = dict(on_file[kind])
        if kind == "registration":
            record["full_name"] = f"Nguyễn {text}"
        elif kind in CORRECTABLE:
            record[CORRECTABLE[kind]] = text
        actor = self.actors[workflow.record_departments(kind)[-1]]
        ref = self.attempt(
            f"correct {kind}", lambda: cases.put_record(self.rt, actor, case_id, kind, record, reason="Sửa sai sót"), case_id
        )
        assert ref is not None, f"a valid correction of {kind} was refused: {self.last_error}"
        field = "full_name" if kind == "registration" else CORRECTABLE.get(kind)
        if field is not None:  # the new value is the current one (the history keeps the old)
            assert queries.case_detail(self.rt, case_id)["records"][kind][field] == record[field]

    @rule(case_id=cases, offset=st.sampled_from([-1, 1, -2, 5]), use_put=st.booleans())
    def stale_version(self, case_id: int, offset: int, use_put: bool) -> None:
        state, version = self.state_of(case_id)
        if use_put:
            kind = "registration"
            record = queries.case_detail(self.rt, case_id)["records"]["registration"]
            command = lambda: cases.put_record(  # noqa: E731
                self.rt, self.actors["social_policy"], case_id, kind, record, expected_version=version + offset, reason="Sửa"
            )
        else:
            trigger = (workflow.allowed_triggers(state) or ["counsel"])[0]
            record = f.RECORDS[trigger](self.rt.today())
            command = lambda: cases.fire(  # noqa: E731
                self.rt, self.actors[f.DEPARTMENT[trigger]], case_id, trigger, record, expected_version=version + offset
            )
        assert self.attempt("stale", command, case_id) is None
        assert isinstance(self.last_error, Conflict) and self.last_error.problems[0].code == "case.stale", self.last_error

    @rule(days=st.one_of(st.integers(0, 14), st.integers(15, 800)))
    def advance_clock(self, days: int) -> None:
        self.clock.advance(days=days)

    @rule(case_id=cases, who=st.sampled_from(["social_policy", "enterprise", "police"]))
    def withdraw(self, case_id: int, who: str) -> None:
        self.attempt("withdraw", lambda: cases.withdraw(self.rt, self.actors[who], case_id, "Không đi nữa"), case_id)

    @rule(case_id=cases, who=st.sampled_from(["social_policy", "social_policy", "office"]))
    def reopen(self, case_id: int, who: str) -> None:
        self.attempt("reopen", lambda: cases.reopen(self.rt, self.actors[who], case_id, "Đăng ký lại"), case_id)

    # --- invariants -------------------------------------------------------------------------------------------------

    @invariant()
    def every_case_replays_from_its_history_and_the_chain_verifies(self) -> None:
        with self.rt.unit_of_work() as conn:
            heads = conn.execute(select(Case.id, Case.state, Case.version, Case.application_no, Case.last_seq, Case.owner_department)).all()
            events: dict[int, list[Any]] = {}
            for row in conn.execute(select(Event.__table__).order_by(Event.case_id, Event.seq)):
                events.setdefault(row.case_id, []).append(row)
            records: dict[tuple[int, int], dict[str, Any]] = {}
            for row in conn.execute(select(CaseRecord.case_id, CaseRecord.application_no, CaseRecord.kind, CaseRecord.data)):
                records.setdefault((row.case_id, row.application_no), {})[row.kind] = json.loads(row.data)
            report = audit.verify(conn)
        assert report.ok, report.findings
        for head in heads:
            assert head.state in STATE_NAMES
            assert head.owner_department == workflow.STATE_BY_NAME[head.state].owner
            history = events[head.id]
            assert head.version == head.last_seq == len(history) == history[-1].seq
            rebuilt = replay(
                (e.trigger, e.from_state, e.to_state, e.record_kind, json.loads(e.record_json) if e.record_json else None) for e in history
            )
            assert (rebuilt.state, rebuilt.application_no) == (head.state, head.application_no)
            assert rebuilt.records == records[(head.id, head.application_no)]
            application = 1
            for e in history:
                application += e.trigger == "reopen"
                assert e.application_no == application

    @invariant()
    def each_case_waits_in_one_inbox_and_only_its_running_clocks_are_open(self) -> None:
        with self.rt.unit_of_work() as conn:
            cases_now = dict(conn.execute(select(Case.id, Case.state)).all())
            items = conn.execute(
                select(WorkItem.case_id, WorkItem.state, WorkItem.department).where(
                    WorkItem.kind == "state", WorkItem.status.in_(("open", "claimed"))
                )
            ).all()
            clocks = conn.execute(select(Deadline.case_id, Deadline.clock).where(Deadline.status == "open")).all()
        for case_id, state in cases_now.items():
            spec = workflow.STATE_BY_NAME[state]
            expected = [] if spec.kind == "end" else [(case_id, state, spec.owner)]
            assert [tuple(item) for item in items if item.case_id == case_id] == expected
        for case_id, clock in clocks:
            rule = self.rt.clocks.rules[clock]
            assert not rule.while_in or cases_now[case_id] in rule.while_in, (case_id, clock, cases_now[case_id])


def sqlite_databases(template: Path, folder: Path) -> NewDatabase:
    def new() -> tuple[Engine, Callable[[], None]]:
        path = folder / f"{uuid.uuid4().hex}.db"
        with sqlite3.connect(template) as source, sqlite3.connect(path) as target:
            source.backup(target)
        return make_engine(f"sqlite:///{path}"), lambda: path.unlink()

    return new


def postgres_databases(template: str) -> NewDatabase:
    admin_url = postgres_admin_url()

    def new() -> tuple[Engine, Callable[[], None]]:
        name = f"gw_state_{uuid.uuid4().hex[:10]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

        return make_engine(_with_database(admin_url, name)), drop

    return new


def run_machine(new_database: NewDatabase, examples: int) -> Counter[str]:
    seen: Counter[str] = Counter()
    machine = type("Commands", (CaseCommands,), {"new_database": staticmethod(new_database), "seen": seen})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=25,
            deadline=None,
            database=None,
            derandomize=True,  # the same command sequences on every run, so that a failure in CI shows again on a rerun
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
    return seen


def test_random_commands_keep_the_invariants_on_sqlite(sqlite_template, tmp_path):
    seen = run_machine(sqlite_databases(sqlite_template, tmp_path), examples=30)
    # The machine went somewhere: cases moved past counselling and commands were refused for several reasons.
    assert seen["ok fire counsel"] and seen["reached departed"] + seen["reached withdrawn"] + seen["reached ineligible"]
    assert {"refused RecordInvalid", "refused Conflict", "refused Forbidden", "refused TransitionNotAllowed"} <= set(seen)


@pytest.mark.postgres
def test_random_commands_keep_the_invariants_on_postgres(postgres_template):
    seen = run_machine(postgres_databases(postgres_template), examples=10)
    assert seen["ok register"] and seen["refused Conflict"]
