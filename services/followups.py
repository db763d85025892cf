"""What a step opens and closes in the command's transaction: the departments' work items and the legal clocks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, text

from services.models import UtcDateTime
from services.runtime import Runtime
from workflows import case as workflow
from workflows.calendar import local_date
from workflows.clocks import PlannedClock, plan
from workflows.history import CORRECT_RECORD, REGISTER


@dataclass(frozen=True)
class Step:
    """A step a command wrote: its trigger, the states around it, the application, and the record kind."""

    trigger: str
    source: str | None
    dest: str
    application_no: int
    record_kind: str | None


_TIMES = (bindparam("at", type_=UtcDateTime),)
_CLOSE_STATE_ITEMS = text(
    """UPDATE work_items SET status = 'closed', closed_at = :at
    WHERE case_id = :case_id AND kind = 'state' AND status IN ('open', 'claimed')"""
).bindparams(*_TIMES)
_CANCEL_RUNGS = text(
    """UPDATE deadline_rungs SET status = 'cancelled' WHERE status = 'pending' AND deadline_id IN
    (SELECT id FROM deadlines WHERE case_id = :case_id AND status = 'open' AND clock IN :clocks)"""
).bindparams(bindparam("clocks", expanding=True))
_CLOSE_CLOCKS = text(
    """UPDATE deadlines SET status = 'closed', closed_at = :at WHERE case_id = :case_id AND status = 'open' AND clock IN :clocks
    RETURNING clock"""
).bindparams(bindparam("clocks", expanding=True), *_TIMES)
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
    moved = step.trigger == REGISTER or step.source != step.dest
    if step.trigger == CORRECT_RECORD:  # a corrected date restarts the running clocks that count from it
        counting = [rule.name for rule in rt.clocks.rules.values() if rule.counts_from.startswith(f"{step.record_kind}.")]
        running = set(_stop(conn, rt, case_id, counting, now))
        rules = [rt.clocks.rules[name] for name in counting if name in running]
    else:
        _stop(conn, rt, case_id, rt.clocks.stopped_by(step.dest) if moved else [], now)
        rules = [rule for rule in rt.clocks.started_by(step.trigger) if not rule.while_in or step.dest in rule.while_in]
    counselling = records.get("counselling")
    market = counselling.market_code if counselling is not None else None
    for rule in rules:
        planned = plan(rule, local_date(now), records, rt.policy, market, now)
        if planned is not None:
            _open_clock(conn, case_id, step.application_no, planned, _priority(records), now)
    if moved:
        _move_state_item(conn, case_id, step, _priority(records), now)


def _stop(conn: Connection, rt: Runtime, case_id: int, clocks: list[str], now: datetime) -> list[str]:
    """Close the open clocks named (cancelling their pending rungs, closing their task items); return those closed."""
    if not clocks:
        return []
    params = {"case_id": case_id, "clocks": clocks, "at": now}
    conn.execute(_CANCEL_RUNGS, params)
    closed = list(conn.execute(_CLOSE_CLOCKS, params).scalars())
    tasks = [name for name in closed if rt.clocks.rules[name].until_done]
    if tasks:
        conn.execute(_CLOSE_TASK_ITEMS, {**params, "clocks": tasks})
    return closed


def _priority(records: dict[str, Any]) -> int:
    """Return 1 for a worker of a priority group (poor household, ethnic minority, ...), else 2."""
    registration = records.get("registration")
    return 1 if registration is not None and registration.priority.any() else 2


def _open_clock(conn: Connection, case_id: int, application_no: int, planned: PlannedClock, priority: int, now: datetime) -> None:
    rule = planned.rule
    deadline_id = conn.execute(
        _OPEN_CLOCK,
        {
            "case_id": case_id, "application_no": application_no, "clock": rule.name, "department": rule.department,
            "counted_from": planned.counted_from, "due_at": planned.due_at, "at": now,
        },
    ).scalar_one()  # fmt: skip
    if planned.rungs:
        conn.execute(
            _ADD_RUNG,
            [
                {"deadline_id": deadline_id, "rung": r.number, "fires_at": r.fires_at, "action": r.action, "recipient": r.to}
                for r in planned.rungs
            ],
        )
    if rule.until_done:
        item = {"kind": rule.name, "state": None, "department": rule.department, "due_at": planned.due_at}
        conn.execute(_OPEN_ITEM, {"case_id": case_id, "application_no": application_no, "priority": priority, "at": now, **item})


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
