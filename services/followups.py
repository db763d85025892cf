"""What a step opens and closes in the command's transaction: the departments' work items and the legal clocks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Date, Integer, bindparam, text

from services.models import UtcDateTime
from services.runtime import Runtime
from workflows import case as workflow
from workflows.calendar import local_date
from workflows.clocks import PlannedClock, PlannedRung, plan
from workflows.history import CORRECT_RECORD, REGISTER


@dataclass(frozen=True)
class Step:
    """A step a command wrote: its trigger, the states around it, the application, and the record kind."""

    trigger: str
    source: str | None
    dest: str
    application_no: int
    record_kind: str | None


# A work item's priority: its worker is of a priority group (poor household, ethnic minority, ...), or not.
PRIORITY_GROUP, OTHERS = 1, 2
PRIORITIES = (PRIORITY_GROUP, OTHERS)

_TIMES = (bindparam("at", type_=UtcDateTime),)
_CLOSE_STATE_ITEMS = text(
    """UPDATE work_items SET status = 'closed', closed_at = :at
    WHERE case_id = :case_id AND kind = 'state' AND status IN ('open', 'claimed')"""
).bindparams(*_TIMES)
_OF_CLOCKS = "case_id = :case_id AND status = 'open' AND clock IN :clocks AND (:application_no IS NULL OR application_no = :application_no)"
_CLOSE_CLOCKS = text(f"UPDATE deadlines SET status = 'closed', closed_at = :at WHERE {_OF_CLOCKS} RETURNING id, clock").bindparams(
    bindparam("clocks", expanding=True), bindparam("application_no", type_=Integer), *_TIMES
)
# Cancelled by the ids of the clocks just closed: a subquery on deadlines here was planned as a walk of
# every pending rung (bench/transitions.py), and most steps close no clock at all.
_CANCEL_RUNGS = text("UPDATE deadline_rungs SET status = 'cancelled' WHERE deadline_id IN :ids AND status = 'pending'").bindparams(
    bindparam("ids", expanding=True)
)
_RUNNING_CLOCK = text(
    """SELECT id, counted_from, extended_until FROM deadlines
    WHERE case_id = :case_id AND application_no = :application_no AND clock = :clock AND status = 'open'"""
).columns(counted_from=Date, extended_until=UtcDateTime)
_RECOUNT_ONLY = text("UPDATE deadlines SET counted_from = :counted_from WHERE id = :id")
_MOVE_CLOCK = text("UPDATE deadlines SET counted_from = :counted_from, due_at = :due_at WHERE id = :id").bindparams(
    bindparam("due_at", type_=UtcDateTime)
)
_DROP_PENDING_RUNGS = text("DELETE FROM deadline_rungs WHERE deadline_id = :id AND status = 'pending'")
_RUNGS_DONE = text("SELECT rung FROM deadline_rungs WHERE deadline_id = :id")
_MOVE_TASK_ITEM = text(
    """UPDATE work_items SET due_at = :due_at
    WHERE case_id = :case_id AND application_no = :application_no AND kind = :clock AND status IN ('open', 'claimed')"""
).bindparams(bindparam("due_at", type_=UtcDateTime))
_CLOSE_TASK_ITEMS = text(
    """UPDATE work_items SET status = 'closed', closed_at = :at
    WHERE case_id = :case_id AND kind IN :clocks AND status IN ('open', 'claimed')"""
).bindparams(bindparam("clocks", expanding=True), *_TIMES)
_OPEN_CLOCK = text(
    """INSERT INTO deadlines (case_id, application_no, clock, department, counted_from, due_at, status, opened_at)
    VALUES (:case_id, :application_no, :clock, :department, :counted_from, :due_at, 'open', :at) RETURNING id"""
).bindparams(bindparam("due_at", type_=UtcDateTime), *_TIMES)
_ADD_RUNG = text(
    """INSERT INTO deadline_rungs (deadline_id, rung, fires_at, action, recipient, status)
    VALUES (:deadline_id, :rung, :fires_at, :action, :recipient, 'pending')"""
).bindparams(bindparam("fires_at", type_=UtcDateTime))
# A state's work item is due when the department's earliest open clock on the case falls due.
_OPEN_ITEM = text(
    """INSERT INTO work_items (case_id, application_no, kind, state, department, priority, due_at, status, opened_at)
    SELECT :case_id, :application_no, :kind, :state, CAST(:department AS VARCHAR(40)), :priority,
           COALESCE(:due_at, (SELECT min(due_at) FROM deadlines
                              WHERE case_id = :case_id AND status = 'open' AND department = CAST(:department AS VARCHAR(40)))),
           'open', :at"""
).bindparams(bindparam("due_at", type_=UtcDateTime), *_TIMES)


def follow(conn: Connection, rt: Runtime, case_id: int, step: Step, records: dict[str, Any], now: datetime) -> None:
    """Close the work item and clocks a step ended, and open those it started."""
    counselling = records.get("counselling")
    market = counselling.market_code if counselling is not None else None
    if step.trigger == CORRECT_RECORD:
        _recount(conn, rt, case_id, step, records, market, now)
        return
    moved = step.trigger == REGISTER or step.source != step.dest
    if moved:
        stop_clocks(conn, rt, case_id, rt.clocks.stopped_by(step.dest), now)
    for rule in rt.clocks.started_by(step.trigger):
        planned = plan(rule, local_date(now), records, rt.policy, market) if not rule.while_in or step.dest in rule.while_in else None
        if planned is not None:
            _open_clock(conn, case_id, step.application_no, planned, _priority(records), now)
    if moved:
        _move_state_item(conn, case_id, step, _priority(records), now)


def stop_clocks(conn: Connection, rt: Runtime, case_id: int, clocks: list[str], now: datetime, application_no: int | None = None) -> None:
    """Close a case's open clocks named (of one application if given): cancel their pending rungs, close their task items."""
    if not clocks:
        return
    params = {"case_id": case_id, "clocks": clocks, "at": now, "application_no": application_no}
    closed = conn.execute(_CLOSE_CLOCKS, params).all()
    if not closed:
        return
    conn.execute(_CANCEL_RUNGS, {"ids": [row.id for row in closed]})
    tasks = [row.clock for row in closed if rt.clocks.rules[row.clock].until_done]
    if tasks:
        conn.execute(_CLOSE_TASK_ITEMS, {**params, "clocks": tasks})


def _recount(conn: Connection, rt: Runtime, case_id: int, step: Step, records: dict[str, Any], market: str | None, now: datetime) -> None:
    """Move the running clocks that count from a corrected date; rungs already fired stay fired."""
    for rule in rt.clocks.rules.values():
        if not rule.counts_from.startswith(f"{step.record_kind}."):
            continue
        key = {"case_id": case_id, "application_no": step.application_no, "clock": rule.name}
        running = conn.execute(_RUNNING_CLOCK, key).first()
        planned = plan(rule, local_date(now), records, rt.policy, market)
        if running is None or planned is None or planned.counted_from == running.counted_from:
            continue
        if running.extended_until is not None and planned.due_at <= running.extended_until:
            conn.execute(_RECOUNT_ONLY, {"id": running.id, "counted_from": planned.counted_from})  # the extension stands
            continue
        conn.execute(_MOVE_CLOCK, {"id": running.id, "counted_from": planned.counted_from, "due_at": planned.due_at})
        conn.execute(_DROP_PENDING_RUNGS, {"id": running.id})
        rang = set(conn.scalars(_RUNGS_DONE, {"id": running.id}))
        add_rungs(conn, running.id, [rung for rung in planned.rungs if rung.number not in rang])
        if rule.until_done:
            conn.execute(_MOVE_TASK_ITEM, {**key, "due_at": planned.due_at})


def _priority(records: dict[str, Any]) -> int:
    """Return the work items' priority of a case: PRIORITY_GROUP if its worker is of one, else OTHERS."""
    registration = records.get("registration")
    return PRIORITY_GROUP if registration is not None and registration.priority.any() else OTHERS


def _open_clock(conn: Connection, case_id: int, application_no: int, planned: PlannedClock, priority: int, now: datetime) -> None:
    rule = planned.rule
    deadline_id = conn.execute(
        _OPEN_CLOCK,
        {
            "case_id": case_id, "application_no": application_no, "clock": rule.name, "department": rule.department,
            "counted_from": planned.counted_from, "due_at": planned.due_at, "at": now,
        },
    ).scalar_one()  # fmt: skip
    add_rungs(conn, deadline_id, list(planned.rungs))
    if rule.until_done:
        item = {"kind": rule.name, "state": None, "department": rule.department, "due_at": planned.due_at}
        conn.execute(_OPEN_ITEM, {"case_id": case_id, "application_no": application_no, "priority": priority, "at": now, **item})


def add_rungs(conn: Connection, deadline_id: int, rungs: list[PlannedRung]) -> None:
    """Write a clock's planned rungs, pending."""
    if rungs:
        conn.execute(
            _ADD_RUNG,
            [{"deadline_id": deadline_id, "rung": r.number, "fires_at": r.fires_at, "action": r.action, "recipient": r.to} for r in rungs],
        )


def _move_state_item(conn: Connection, case_id: int, step: Step, priority: int, now: datetime) -> None:
    """Close the work item of the state left and open one for the department that must act in the new state."""
    if step.trigger != REGISTER:
        conn.execute(_CLOSE_STATE_ITEMS, {"case_id": case_id, "at": now})
    state = workflow.STATE_BY_NAME[step.dest]
    if state.kind == "end":
        return
    conn.execute(
        _OPEN_ITEM,
        {
            "case_id": case_id, "application_no": step.application_no, "kind": "state", "state": state.name,
            "department": state.owner, "priority": priority, "due_at": None, "at": now,
        },
    )  # fmt: skip
