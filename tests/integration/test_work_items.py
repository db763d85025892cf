"""An officer's inbox: the items commands open and close, claiming, releasing, completing, reassigning, on both databases."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, insert, select

from config.settings import Settings
from services import audit, cases, queries, work, work_queries
from services.clock import FixedClock
from services.models import AdminUnit, Case, Deadline, DeadlineRung, Event, OutboxMessage, User, WorkItem
from services.runtime import Runtime, build_runtime
from services.users import Actor, load_actor
from tests import factories as f
from tests.conftest import START
from tests.integration.test_concurrency import THREADS, race
from workflows import case as workflow
from workflows.calendar import VIETNAM
from workflows.errors import Conflict, DomainError, Forbidden, NotFound, RecordInvalid
from workflows.history import REASSIGN, replay

MAIN = f.MAIN_PATH


# --- helpers ---------------------------------------------------------------------------------------------------------


def officer(rt: Runtime, username: str, department: str | None, *, role: str = "officer", unit: str = f.COMMUNE) -> Actor:
    """Add a user (a second officer of a department, a province supervisor, an officer of another commune)."""
    with rt.unit_of_work() as conn:
        unit_id = conn.scalar(select(AdminUnit.id).where(AdminUnit.code == unit))
        values = {"username": username, "full_name": username.title(), "role": role, "department_code": department}
        conn.execute(insert(User), {**values, "unit_id": unit_id, "active": True})
        return load_actor(conn, username)


def other_commune(rt: Runtime) -> str:
    """Add a second commune of the same province and return its code."""
    with rt.unit_of_work() as conn:
        province = conn.scalar(select(AdminUnit.parent_id).where(AdminUnit.code == f.COMMUNE))
        conn.execute(insert(AdminUnit), {"code": "TH-KHAC", "name": "Xã Khác", "kind": "commune", "parent_id": province})
    return "TH-KHAC"


def items(rt: Runtime, case_id: int) -> list[Any]:
    """Return a case's work items in the order they were opened."""
    with rt.unit_of_work(writes=False) as conn:
        return conn.execute(select(WorkItem).where(WorkItem.case_id == case_id).order_by(WorkItem.id)).all()


def open_items(rt: Runtime, case_id: int) -> list[Any]:
    return [item for item in items(rt, case_id) if item.status in ("open", "claimed")]


def item(rt: Runtime, item_id: int) -> Any:
    with rt.unit_of_work(writes=False) as conn:
        return conn.execute(select(WorkItem).where(WorkItem.id == item_id)).one()


def the_item(rt: Runtime, case_id: int, kind: str = "state") -> int:
    """Return the id of the case's one open item of a kind."""
    found = [i.id for i in open_items(rt, case_id) if i.kind == kind]
    assert len(found) == 1, found
    return found[0]


def clock_of(rt: Runtime, case_id: int, name: str) -> tuple[Any, list[str]]:
    """Return a case's latest deadline of a clock and the statuses of its rungs."""
    with rt.unit_of_work(writes=False) as conn:
        deadline = conn.execute(
            select(Deadline).where(Deadline.case_id == case_id, Deadline.clock == name).order_by(Deadline.id.desc())
        ).first()
        assert deadline is not None, name
        rungs = conn.scalars(select(DeadlineRung.status).where(DeadlineRung.deadline_id == deadline.id).order_by(DeadlineRung.rung))
        return deadline, list(rungs)


def register(rt: Runtime, actors: dict[str, Actor], serial: int = 1, **overrides: Any) -> int:
    return cases.register(rt, actors["social_policy"], f.registration(rt.today(), serial=serial, **overrides)).id


def walk(rt: Runtime, actors: dict[str, Actor], clock: FixedClock, case_id: int, triggers: list[str]) -> None:
    """Fire steps a day apart, as their departments."""
    for trigger in triggers:
        clock.advance(days=1)
        f.step(rt, actors, case_id, trigger)


def end_of_day_in_vietnam(day: datetime, days: int) -> datetime:
    local = day.astimezone(VIETNAM) + timedelta(days=days)
    return local.replace(hour=23, minute=59, second=59, microsecond=0).astimezone(UTC)


def event_count(rt: Runtime) -> int:
    with rt.unit_of_work(writes=False) as conn:
        return int(conn.scalar(select(func.count()).select_from(Event)) or 0)


def refused(rt: Runtime, error: type[DomainError], command: Any, *args: Any) -> DomainError:
    """Run a command that must be refused with `error` and must leave the items and the history as they were."""
    before = (all_items(rt), event_count(rt))
    with pytest.raises(error) as caught:
        command(*args)
    assert (all_items(rt), event_count(rt)) == before
    return caught.value


def all_items(rt: Runtime) -> list[Any]:
    with rt.unit_of_work(writes=False) as conn:
        return conn.execute(select(WorkItem).order_by(WorkItem.id)).all()


# --- what the commands open and close ------------------------------------------------------------------------------


def test_registering_opens_one_state_item_for_social_policy_due_with_the_counselling_clock(rt, actors):
    case_id = register(rt, actors)

    [opened] = items(rt, case_id)
    assert (opened.kind, opened.state, opened.department, opened.status) == ("state", "registered", "social_policy", "open")
    assert (opened.priority, opened.assignee_id, opened.opened_at) == (1, None, START)  # a poor household: priority group
    # 30 calendar days from Monday 1 June 2026, at the end of that day in Vietnam.
    assert opened.due_at == datetime(2026, 7, 1, 23, 59, 59, tzinfo=VIETNAM) == end_of_day_in_vietnam(START, 30)
    assert opened.due_at == clock_of(rt, case_id, "counselling")[0].due_at


def test_a_worker_outside_the_priority_groups_gets_priority_two(rt, actors):
    case_id = register(rt, actors, priority={})
    assert [i.priority for i in items(rt, case_id)] == [2]


def test_firing_counsel_closes_the_item_and_opens_one_for_the_next_owner(rt, actors, clock):
    case_id = register(rt, actors)
    first = the_item(rt, case_id)
    walk(rt, actors, clock, case_id, ["counsel"])

    closed = item(rt, first)
    assert (closed.status, closed.closed_at) == ("closed", clock.now())
    [now_open] = open_items(rt, case_id)
    owner = workflow.STATE_BY_NAME["counselled"].owner
    assert (now_open.kind, now_open.state, now_open.department, now_open.status) == ("state", "counselled", owner, "open")
    assert now_open.due_at is None  # the training school has no clock of its own on the case

    walk(rt, actors, clock, case_id, MAIN[1:4])  # to loan_approved: the enterprise's item is due with the departure clock
    [loan_approved] = open_items(rt, case_id)
    assert (loan_approved.state, loan_approved.department) == ("loan_approved", "enterprise")
    assert loan_approved.due_at == clock_of(rt, case_id, "departure")[0].due_at


@pytest.mark.parametrize("path", [["withdraw"], ["declare_ineligible"], [*MAIN[:4], "refuse_visa"]], ids=lambda p: p[-1])
def test_an_end_state_opens_no_item(rt, actors, clock, path):
    case_id = register(rt, actors)
    walk(rt, actors, clock, case_id, path)
    assert workflow.STATE_BY_NAME[queries.case_detail(rt, case_id)["state"]].kind == "end"
    assert open_items(rt, case_id) == []
    assert {i.status for i in items(rt, case_id)} == {"closed"}


# --- claim, release, complete --------------------------------------------------------------------------------------


def test_an_officer_claims_an_item_and_a_second_claim_is_told_who_holds_it(rt, actors):
    case_id = register(rt, actors)
    item_id = the_item(rt, case_id)

    ref = work.claim(rt, actors["social_policy"], item_id)
    assert ref == work.ItemRef(item_id, "claimed", "social_policy")
    claimed = item(rt, item_id)
    assert (claimed.status, claimed.assignee_id, claimed.claimed_at) == ("claimed", actors["social_policy"].user_id, START)

    colleague = officer(rt, "hong2", "social_policy")
    error = refused(rt, Conflict, work.claim, rt, colleague, item_id)
    assert [p.code for p in error.problems] == ["work.claimed"]
    assert "Việc này đã được social_policy nhận" in error.problems[0].vi
    assert "This item was already claimed by social_policy" in error.problems[0].en
    assert work.claim(rt, actors["social_policy"], item_id) == ref  # claiming again what you hold changes nothing


def test_only_an_officer_of_the_items_department_and_commune_may_claim_it(rt, actors):
    case_id = register(rt, actors)
    item_id = the_item(rt, case_id)

    for name in ("enterprise", "police", "auditor", "admin"):
        error = refused(rt, Forbidden, work.claim, rt, actors[name], item_id)
        assert error.problems[0].code == "work.not_department"
        assert "belongs to social_policy" in error.problems[0].en and "thuộc bộ phận social_policy" in error.problems[0].vi
    elsewhere = officer(rt, "hong_khac", "social_policy", unit=other_commune(rt))
    assert refused(rt, NotFound, work.claim, rt, elsewhere, item_id).problems[0].code == "work.unknown"
    assert refused(rt, NotFound, work.claim, rt, actors["social_policy"], 999_999).problems[0].code == "work.unknown"


def test_a_supervisor_of_the_commune_or_its_province_may_claim(rt, actors):
    first, second = the_item(rt, register(rt, actors, serial=1)), the_item(rt, register(rt, actors, serial=2))
    assert work.claim(rt, actors["supervisor"], first).assignee == "supervisor"
    province = officer(rt, "province_chief", None, role="supervisor", unit="38")
    assert work.claim(rt, province, second).assignee == "province_chief"
    elsewhere = officer(rt, "other_chief", None, role="supervisor", unit=other_commune(rt))
    third = the_item(rt, register(rt, actors, serial=3))
    assert refused(rt, NotFound, work.claim, rt, elsewhere, third).problems[0].code == "work.unknown"


def test_the_holder_or_a_supervisor_releases_an_item_back_to_the_inbox(rt, actors):
    case_id = register(rt, actors)
    item_id = the_item(rt, case_id)
    holder, colleague = actors["social_policy"], officer(rt, "hong2", "social_policy")

    assert refused(rt, Conflict, work.release, rt, holder, item_id).problems[0].code == "work.not_claimed"
    work.claim(rt, holder, item_id)
    error = refused(rt, Forbidden, work.release, rt, colleague, item_id)
    assert "held by social_policy" in error.problems[0].en and "do social_policy giữ" in error.problems[0].vi

    assert work.release(rt, holder, item_id) == work.ItemRef(item_id, "open", None)
    released = item(rt, item_id)
    assert (released.status, released.assignee_id, released.claimed_at) == ("open", None, None)
    work.claim(rt, colleague, item_id)
    assert work.release(rt, actors["supervisor"], item_id).status == "open"
    assert work.claim(rt, holder, item_id).assignee == "social_policy"


def test_completing_a_task_item_closes_its_clock_in_the_same_transaction(rt, actors, clock):
    case_id = register(rt, actors)
    walk(rt, actors, clock, case_id, MAIN[:5])  # departed: the enterprise must update the national database
    task = the_item(rt, case_id, "national_database")
    opened = item(rt, task)
    assert (opened.department, opened.state, opened.status) == ("enterprise", None, "open")
    deadline, rungs = clock_of(rt, case_id, "national_database")
    assert (deadline.status, opened.due_at) == ("open", deadline.due_at)
    assert rungs and set(rungs) == {"pending"}

    enterprise = actors["enterprise"]
    assert refused(rt, Conflict, work.complete, rt, enterprise, task).problems[0].code == "work.not_claimed"
    work.claim(rt, enterprise, task)
    other = officer(rt, "huy2", "enterprise")
    assert refused(rt, Forbidden, work.complete, rt, other, task).problems[0].code == "work.not_holder"
    clock.advance(hours=3)

    assert work.complete(rt, enterprise, task) == work.ItemRef(task, "done", "enterprise")

    done = item(rt, task)
    assert (done.status, done.closed_at, done.closed_by) == ("done", clock.now(), enterprise.user_id)
    deadline, rungs = clock_of(rt, case_id, "national_database")
    assert (deadline.status, deadline.closed_at) == ("closed", clock.now())
    assert set(rungs) == {"cancelled"}
    assert clock_of(rt, case_id, "expected_return")[0].status == "open"  # the other clocks run on
    assert [i.kind for i in open_items(rt, case_id)] == ["state"]  # the departed case still waits on the enterprise
    for command in (work.complete, work.claim):
        error = refused(rt, Conflict, command, rt, enterprise, task)
        assert error.problems[0].code == "work.finished" and "it is finished" in error.problems[0].en


def test_a_state_item_is_not_completed_by_hand(rt, actors, clock):
    case_id = register(rt, actors)
    item_id = the_item(rt, case_id)
    work.claim(rt, actors["social_policy"], item_id)

    error = refused(rt, Conflict, work.complete, rt, actors["social_policy"], item_id)
    assert error.problems[0].code == "work.state_item"
    assert "Fire the transition instead" in error.problems[0].en and "Hãy thực hiện bước chuyển" in error.problems[0].vi

    walk(rt, actors, clock, case_id, ["counsel"])  # moving the case closes it, claimed or not
    assert item(rt, item_id).status == "closed"
    error = refused(rt, Conflict, work.claim, rt, actors["social_policy"], item_id)
    assert error.problems[0].code == "work.finished" and "closed when the case moved on" in error.problems[0].en


# --- reassign --------------------------------------------------------------------------------------------------------


def test_a_supervisor_reassigns_an_item_and_the_history_records_it(rt, actors, clock):
    case_id = register(rt, actors)
    item_id = the_item(rt, case_id)
    work.claim(rt, actors["social_policy"], item_id)
    colleague = officer(rt, "hong2", "social_policy")
    clock.advance(hours=2)

    ref = work.reassign(rt, actors["supervisor"], item_id, "hong2", "  Chị Hồng nghỉ phép  ")

    assert ref == work.ItemRef(item_id, "claimed", "hong2")
    moved = item(rt, item_id)
    assert (moved.status, moved.assignee_id, moved.claimed_at) == ("claimed", colleague.user_id, clock.now())
    history = queries.case_history(rt, case_id)
    assert [e["trigger"] for e in history] == ["register", REASSIGN]
    entry = history[-1]
    assert (entry["actor"], entry["from_state"], entry["to_state"], entry["record_kind"]) == (
        "supervisor",
        "registered",
        "registered",
        None,
    )
    assert entry["reason"] == f"Chị Hồng nghỉ phép → hong2 (việc #{item_id})"
    assert queries.case_detail(rt, case_id)["version"] == 2
    with rt.unit_of_work(writes=False) as conn:
        assert audit.verify(conn, case_id).ok and audit.verify(conn).ok
        message = conn.execute(select(OutboxMessage).where(OutboxMessage.topic == "case.work_reassigned")).one()
    assert (message.queue, message.case_id) == ("social_policy", case_id)
    assert message.payload == {"trigger": REASSIGN, "work_item_id": item_id, "assignee_id": colleague.user_id}
    assert replay((e["trigger"], e["from_state"], e["to_state"], e["record_kind"], None) for e in history).state == "registered"

    # The case goes on as before: the next step closes the reassigned item, and the chain still verifies.
    walk(rt, actors, clock, case_id, ["counsel"])
    assert item(rt, item_id).status == "closed"
    with rt.unit_of_work(writes=False) as conn:
        assert audit.verify(conn).ok


def test_an_open_item_can_be_reassigned_too(rt, actors):
    case_id = register(rt, actors)
    item_id = the_item(rt, case_id)
    assert work.reassign(rt, actors["supervisor"], item_id, "social_policy", "Giao việc").assignee == "social_policy"
    assert item(rt, item_id).status == "claimed"


def test_a_reassignment_based_on_a_stale_view_of_the_item_is_refused(rt, actors, monkeypatch):
    """A claim lands between the supervisor's read and the update: the reassignment must not override it."""
    case_id = register(rt, actors)
    item_id = the_item(rt, case_id)
    officer(rt, "hong2", "social_policy")
    load = work._load

    def load_then_someone_claims(conn: Any, wanted: int) -> Any:
        seen = load(conn, wanted)  # the supervisor sees the item open...
        conn.execute(
            WorkItem.__table__.update().where(WorkItem.id == wanted).values(status="claimed", assignee_id=actors["social_policy"].user_id)
        )
        return seen  # ...and an officer claims it before the update

    monkeypatch.setattr(work, "_load", load_then_someone_claims)
    with pytest.raises(Conflict):
        work.reassign(rt, actors["supervisor"], item_id, "hong2", "Giao việc")


def test_reassigning_needs_a_supervisor_a_reason_and_an_officer_of_the_department(rt, actors):
    case_id = register(rt, actors)
    item_id = the_item(rt, case_id)
    work.claim(rt, actors["social_policy"], item_id)
    officer(rt, "hong2", "social_policy")
    officer(rt, "hong_khac", "social_policy", unit=other_commune(rt))
    officer(rt, "retired", "social_policy")
    with rt.unit_of_work() as conn:
        conn.execute(User.__table__.update().where(User.username == "retired").values(active=False))
    boss = actors["supervisor"]

    for name in ("social_policy", "enterprise", "auditor", "admin"):
        assert refused(rt, Forbidden, work.reassign, rt, actors[name], item_id, "hong2", "Lý do").problems[0].code == (
            "work.supervisors_only"
        )
    for reason in ("", "   "):
        error = refused(rt, RecordInvalid, work.reassign, rt, boss, item_id, "hong2", reason)
        assert (error.problems[0].code, error.problems[0].field) == ("reason.required", "reason")
    for target in ("enterprise", "supervisor", "hong_khac"):
        error = refused(rt, RecordInvalid, work.reassign, rt, boss, item_id, target, "Lý do")
        assert (error.problems[0].code, error.problems[0].field) == ("work.not_officer", "to")
    for target in ("retired", "nobody"):
        assert refused(rt, NotFound, work.reassign, rt, boss, item_id, target, "Lý do").problems[0].code == "user.unknown"
    assert refused(rt, Conflict, work.reassign, rt, boss, item_id, "social_policy", "Lý do").problems[0].code == "work.same_assignee"
    assert refused(rt, NotFound, work.reassign, rt, boss, 999_999, "hong2", "Lý do").problems[0].code == "work.unknown"
    elsewhere = officer(rt, "other_chief", None, role="supervisor", unit="TH-KHAC")
    assert refused(rt, NotFound, work.reassign, rt, elsewhere, item_id, "hong2", "Lý do").problems[0].code == "work.unknown"
    assert [e["trigger"] for e in queries.case_history(rt, case_id)] == ["register"]


# --- the inbox and the counts --------------------------------------------------------------------------------------


def _five_social_policy_items(rt: Runtime, actors: dict[str, Actor], clock: FixedClock) -> dict[str, int]:
    """Open social_policy items of every sort: overdue, priority 1 and 2, same due time, no due time; return case ids."""
    returned = register(rt, actors, serial=1)
    walk(rt, actors, clock, returned, MAIN)
    notice = the_item(rt, returned, "return_notice")
    work.claim(rt, actors["social_policy"], notice)
    work.complete(rt, actors["social_policy"], notice)  # the worker reported back: no social_policy clock left
    walk(rt, actors, clock, returned, ["reintegrate"])  # ... so the reintegrated case's item has no due time
    late = register(rt, actors, serial=2, priority={})  # due 30 days after day 7
    clock.advance(days=10)
    first = register(rt, actors, serial=3)
    other = register(rt, actors, serial=4, priority={})
    second = register(rt, actors, serial=5)  # same due time and priority as `first`: id order
    clock.advance(days=23)  # day 40: only `late` is overdue
    return {"late": late, "first": first, "second": second, "no_due": returned, "others": other}


def test_the_inbox_lists_overdue_first_then_priority_then_due_time_then_id(rt, actors, clock):
    ids = _five_social_policy_items(rt, actors, clock)
    me = actors["social_policy"]

    rows = work_queries.inbox(rt, me, department="social_policy", now=clock.now())

    assert [row["case_id"] for row in rows] == [ids["late"], ids["first"], ids["second"], ids["no_due"], ids["others"]]
    assert [row["overdue"] for row in rows] == [True, False, False, False, False]
    assert [row["priority"] for row in rows] == [2, 1, 1, 1, 2]
    assert rows[3]["due_at"] is None and rows[3]["state"] == "reintegrated"
    assert rows[0] == {
        "id": the_item(rt, ids["late"]), "case_id": ids["late"], "kind": "state", "state": "registered", "priority": 2,
        "due_at": end_of_day_in_vietnam(START + timedelta(days=7), 30), "overdue": True, "status": "open", "assignee": None,
        "version": 1, "full_name": "Nguyễn Văn An", "village": "Thôn Tân Lập", "report_id": None,
    }  # fmt: skip
    assert [row["case_id"] for row in work_queries.inbox(rt, me, department="social_policy", now=clock.now(), limit=2)] == [
        ids["late"],
        ids["first"],
    ]
    later = clock.now() + timedelta(days=10)  # day 50: the three registered on day 17 are overdue as well
    assert [row["overdue"] for row in work_queries.inbox(rt, me, department="social_policy", now=later)] == [True, True, True, True, False]


def test_each_limit_gives_the_head_of_the_whole_inbox(rt, actors, clock):
    ids = _five_social_policy_items(rt, actors, clock)
    me = actors["social_policy"]
    now = clock.now()  # one overdue, three due later and one without a due time, which ranks before a priority-2 item
    whole = work_queries.inbox(rt, me, department="social_policy", now=now)

    assert [row["case_id"] for row in whole] == [ids["late"], ids["first"], ids["second"], ids["no_due"], ids["others"]]
    for limit in range(1, 6):
        assert work_queries.inbox(rt, me, department="social_policy", now=now, limit=limit) == whole[:limit]


def test_an_item_alone_is_the_row_the_inbox_shows_until_it_leaves_the_inbox(rt, actors, clock):
    ids = _five_social_policy_items(rt, actors, clock)
    me, colleague = actors["social_policy"], officer(rt, "hong2", "social_policy")
    rows = {row["id"]: row for row in work_queries.inbox(rt, me, department="social_policy", communes=me.communes, now=clock.now())}
    mine, theirs = the_item(rt, ids["first"]), the_item(rt, ids["second"])

    def alone(item_id: int, actor: Actor = me) -> dict[str, Any] | None:
        return work_queries.inbox_item(rt, actor, item_id, department="social_policy", now=clock.now())

    assert {item_id: alone(item_id) for item_id in rows} == rows
    work.claim(rt, me, mine)
    work.claim(rt, colleague, theirs)
    assert alone(mine) == {**rows[mine], "status": "claimed", "assignee": "social_policy"}
    assert alone(theirs) is None and alone(theirs, colleague) is not None  # another's claimed item is not in my inbox
    assert alone(mine, actors["supervisor"]) == alone(mine)
    assert work_queries.inbox_item(rt, me, mine, department="police", now=clock.now()) is None


def test_an_officer_sees_the_unassigned_items_and_their_own_and_a_supervisor_sees_all(rt, actors, clock):
    ids = _five_social_policy_items(rt, actors, clock)
    me, colleague = actors["social_policy"], officer(rt, "hong2", "social_policy")
    mine, theirs = the_item(rt, ids["first"]), the_item(rt, ids["second"])
    work.claim(rt, me, mine)
    work.claim(rt, colleague, theirs)
    now = clock.now()

    def listed(actor: Actor | None, **options: Any) -> list[tuple[int, str, str | None]]:
        return [
            (r["id"], r["status"], r["assignee"]) for r in work_queries.inbox(rt, actor, department="social_policy", now=now, **options)
        ]

    assert (mine, "claimed", "social_policy") in listed(me) and theirs not in [i for i, *_ in listed(me)]
    assert len(listed(me)) == 4
    assert listed(me, mine_only=True) == [(mine, "claimed", "social_policy")]
    assert listed(colleague, mine_only=True) == [(theirs, "claimed", "hong2")]
    assert len(listed(actors["supervisor"])) == len(listed(None)) == 5
    with rt.unit_of_work(writes=False) as conn:
        commune_id = conn.scalar(select(Case.commune_id).where(Case.id == ids["late"]))
    assert len(listed(me, communes={commune_id})) == 4
    assert listed(me, communes={commune_id + 1000}) == []
    assert work_queries.inbox(rt, me, department="police", now=now) == []


def test_counts_give_each_departments_open_claimed_and_overdue_items(rt, actors, clock):
    ids = _five_social_policy_items(rt, actors, clock)
    work.claim(rt, actors["social_policy"], the_item(rt, ids["first"]))
    # The returned case left the enterprise two tasks: the national database (due 5 days after departure, long
    # past) and the contract's settlement (180 days after return).
    assert [i.kind for i in open_items(rt, ids["no_due"]) if i.department == "enterprise"] == ["national_database", "liquidation"]

    assert work_queries.counts(rt, clock.now()) == {
        "enterprise": {"open": 2, "claimed": 0, "overdue": 1},
        "social_policy": {"open": 5, "claimed": 1, "overdue": 1},
    }
    with rt.unit_of_work(writes=False) as conn:
        commune_id = conn.scalar(select(Case.commune_id).where(Case.id == ids["late"]))
    assert work_queries.counts(rt, clock.now(), communes={commune_id}) == work_queries.counts(rt, clock.now())
    assert work_queries.counts(rt, clock.now(), communes={commune_id + 1000}) == {}


@contextmanager
def statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Collect the SQL the block runs, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize("read", ["inbox", "counts"])
def test_the_inbox_and_the_counts_read_the_partial_inbox_index(rt, actors, read):
    register(rt, actors)
    with statements(rt.engine) as seen:
        if read == "inbox":
            work_queries.inbox(rt, actors["social_policy"], department="social_policy", communes={1}, now=rt.clock.now())
        else:
            work_queries.counts(rt, rt.clock.now())
    reads = [(s, p) for s, p in seen if "work_items" in s]
    assert len(reads) == (6 if read == "inbox" else 1)  # the inbox reads its six ranges when they hold fewer items than wanted
    for sql, parameters in reads:
        with rt.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET enable_seqscan = off")  # a table of one row is cheaper to scan: ask what else it could do
                plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + sql, parameters))
            else:
                plan = "\n".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, parameters))
        assert "ix_work_items_inbox" in plan, plan


# --- twenty officers claim one item at once (PostgreSQL) -----------------------------------------------------------

READS_ITEM = re.compile(r"^\s*SELECT w\.id\b.*\bFROM work_items w\b", re.DOTALL)
CLAIMS_ITEM = re.compile(r"^\s*UPDATE work_items SET status = 'claimed'")


@contextmanager
def every_racer_reads_before_any_claims(engine: Engine) -> Iterator[Counter[str]]:
    """Hold each racer's claiming UPDATE until every racer has read the item as open, so all of them try to write it.

    Without this a loaded machine may run the threads one after another, and a late racer that reads the item
    already claimed is refused before it writes: the conditional update is then never raced.
    """
    seen: Counter[str] = Counter()
    readers: set[int] = set()
    changed = threading.Condition()

    def racing() -> bool:
        return threading.current_thread().name.startswith("racer")

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if racing() and CLAIMS_ITEM.match(statement):
            with changed:
                seen["claims"] += 1
                changed.wait_for(lambda: len(readers) >= THREADS, timeout=10)

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if racing() and READS_ITEM.match(statement):
            with changed:
                readers.add(threading.get_ident())
                changed.notify_all()

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


@pytest.mark.postgres
def test_twenty_officers_claim_one_item_at_once_and_exactly_one_wins(postgres_engine):
    pg = build_runtime(Settings(), engine=postgres_engine, clock=FixedClock(START))
    with pg.unit_of_work() as conn:
        lead = load_actor(conn, "social_policy")
    case_id = cases.register(pg, lead, f.registration(pg.today())).id
    officers = [officer(pg, f"officer{i:02d}", "social_policy") for i in range(THREADS)]
    item_id = the_item(pg, case_id)

    with every_racer_reads_before_any_claims(pg.engine) as seen:
        results = race([lambda o=o: work.claim(pg, o, item_id) for o in officers])

    winners = [r for r in results if isinstance(r, work.ItemRef)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1 and len(losers) == THREADS - 1, Counter(type(r).__name__ for r in results)
    assert seen["claims"] == THREADS  # every racer read the item as open and tried the conditional update
    winner = winners[0].assignee
    assert all(isinstance(e, Conflict) and e.problems[0].code == "work.claimed" for e in losers), losers
    assert all(f"đã được {winner} nhận" in e.problems[0].vi and f"claimed by {winner}" in e.problems[0].en for e in losers)
    claimed = item(pg, item_id)
    assert (claimed.status, claimed.assignee_id) == ("claimed", next(o.user_id for o in officers if o.username == winner))


# --- the command line ------------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def test_an_officer_reads_the_inbox_and_claims_from_the_command_line(guestwork):
    guestwork("db", "upgrade")
    guestwork("demo")
    guestwork("case", "register", str(ROOT / "examples" / "records" / "registration.json"))
    rows = json.loads(guestwork("inbox", "social_policy", "--as", "social_policy", "--json").stdout)
    [new] = [row for row in rows if row["case_id"] == 51]
    assert (new["kind"], new["state"], new["status"], new["overdue"]) == ("state", "registered", "open", False)
    table = guestwork("inbox", "social_policy").stdout
    assert re.search(rf"^\s+{new['id']}\s+51\s+state\s+registered\s+\d\s+2026-12-23 23:59\s+open\s+—$", table, re.MULTILINE), table

    claimed = guestwork("work", "claim", str(new["id"]), "--as", "social_policy")
    assert f"✓ work item {new['id']}: claimed by social_policy" in claimed.stdout
    taken = guestwork("work", "claim", str(new["id"]), "--as", "supervisor", ok=False)
    assert taken.returncode == 1
    assert "Việc này đã được social_policy nhận" in taken.stderr and "This item was already claimed by social_policy" in taken.stderr
    wrong = guestwork("work", "claim", str(new["id"]), "--as", "police", ok=False)
    assert "belongs to social_policy" in wrong.stderr and "thuộc bộ phận social_policy" in wrong.stderr

    mine = guestwork("inbox", "social_policy", "--mine", "--as", "social_policy").stdout.splitlines()
    assert len(mine) == 2 and f"{new['id']}" in mine[1] and "claimed  social_policy" in mine[1]
    counts = guestwork("work", "counts").stdout
    assert re.search(r"^social_policy\s+\d+\s+1\s+\d+$", counts, re.MULTILINE), counts
    assert "No department 'nobody'" in guestwork("inbox", "nobody", ok=False).stderr


def test_a_work_item_priority_the_inbox_does_not_read_is_refused_by_the_database(rt, actors):
    import pytest
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    from services.models import WorkItem

    cases.register(rt, actors["social_policy"], f.registration(rt.today(), serial=91))
    with pytest.raises(IntegrityError), rt.unit_of_work() as conn:
        conn.execute(update(WorkItem).values(priority=3))
