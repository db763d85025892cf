"""A supervisor's extension of a case's deadline: the new due time, its re-planned rungs and the history event, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.exc import IntegrityError

from services import access, store
from services.models import UtcDateTime
from services.runtime import Runtime
from services.users import Actor
from workflows.calendar import local_date
from workflows.clocks import DUE_TIME, ladder_for, moment
from workflows.errors import Conflict, NotFound, RecordInvalid, problem, required_reason
from workflows.history import EXTEND_DEADLINE

MAX_DAYS = 3650  # ten years: anything longer is a typing slip, not an extension


@dataclass(frozen=True)
class Extended:
    """Where an extension left the case and its clock."""

    case_id: int
    version: int
    state: str
    deadline_id: int
    old_due_at: datetime
    new_due_at: datetime


_DEADLINE = text(
    "SELECT id, case_id, clock, department, application_no, due_at, status FROM deadlines WHERE id = :id AND case_id = :case_id"
).columns(due_at=UtcDateTime)
_MOVE_DUE = text("UPDATE deadlines SET due_at = :due_at, extended_until = :due_at WHERE id = :id AND status = 'open'").bindparams(
    bindparam("due_at", type_=UtcDateTime)
)
# Only rungs still pending move: a rung that fired (or was skipped) has told its recipient already.
_MOVE_RUNG = text(
    "UPDATE deadline_rungs SET fires_at = :fires_at WHERE deadline_id = :id AND rung = :rung AND status = 'pending'"
).bindparams(bindparam("fires_at", type_=UtcDateTime))
_MOVE_TASK_ITEM = text(
    """UPDATE work_items SET due_at = :due_at
    WHERE case_id = :case_id AND application_no = :application_no AND kind = :clock AND status IN ('open', 'claimed')"""
).bindparams(bindparam("due_at", type_=UtcDateTime))
# A state's work item is due with its department's earliest open clock on the case (as when it was opened).
_REDUE_STATE_ITEM = text(
    """UPDATE work_items SET due_at = (SELECT min(d.due_at) FROM deadlines d
                                     WHERE d.case_id = work_items.case_id AND d.status = 'open' AND d.department = work_items.department)
    WHERE case_id = :case_id AND kind = 'state' AND department = :department AND status IN ('open', 'claimed')"""
)


def extend(
    rt: Runtime,
    actor: Actor,
    case_id: int,
    deadline_id: int,
    *,
    expected_version: int | None,
    reason: str | None,
    due_on: date | None = None,
    days: int | None = None,
) -> Extended:
    """Move an open clock's due day later (to `due_on`, or `days` calendar days on), with a reason; supervisors only."""
    access.require_role(actor, ("supervisor",), "gia hạn thời hạn", "extend deadlines")
    why = required_reason(reason, "Gia hạn phải ghi lý do.", "An extension needs a reason.")
    try:
        with rt.unit_of_work() as conn:
            case = store.lock_case(conn, case_id)
            access.require_commune(actor, case.commune_id, case_id)
            store.check_version(case, expected_version)
            deadline = _open_deadline(conn, case_id, deadline_id)
            new_day = _new_due_day(local_date(deadline.due_at), due_on, days)
            new_due = moment(new_day, DUE_TIME)
            _replan(conn, rt, deadline, new_day, new_due)
            entry = store.Entry(
                trigger=EXTEND_DEADLINE, from_state=case.state, to_state=case.state, application_no=case.application_no,
                record_kind=None, record=None, reason=extension_note(why, deadline.clock, deadline.id, deadline.due_at, new_due),
                topic="case.deadline_extended", queues=(deadline.department,),
                payload={"trigger": EXTEND_DEADLINE, "deadline_id": deadline.id, "clock": deadline.clock,
                         "old_due_at": deadline.due_at.isoformat(), "new_due_at": new_due.isoformat()},
            )  # fmt: skip
            store.append(conn, case, actor, rt.clock.now(), entry)
    except IntegrityError as error:  # the event's key: someone else wrote this case meanwhile
        raise store.stale(case_id, expected_version, None) from error
    return Extended(case_id, case.version + 1, case.state, deadline_id, deadline.due_at, new_due)


def extension_note(reason: str, clock: str, deadline_id: int, old_due: datetime, new_due: datetime) -> str:
    """Return the text the history keeps for an extension: the reason, then which clock moved from which day to which."""
    return f"{reason} · {clock} #{deadline_id}: {local_date(old_due).isoformat()} → {local_date(new_due).isoformat()}"


def _replan(conn: Connection, rt: Runtime, deadline: Any, new_day: date, new_due: datetime) -> None:
    """Write the new due time, move the pending rungs to the ladder around it, and move the work items due with it."""
    rule = rt.clocks.rules.get(deadline.clock)
    if rule is None:  # the clock policy no longer knows this clock: its ladder cannot be planned again
        vi = f"Thời hạn '{deadline.clock}' không còn trong chính sách thời hạn; không thể gia hạn."
        en = f"The clock '{deadline.clock}' is no longer in the clock policy; it cannot be extended."
        raise Conflict([problem("deadline.unknown_clock", vi, en, "deadline_id")])
    if conn.execute(_MOVE_DUE, {"id": deadline.id, "due_at": new_due}).rowcount != 1:
        raise Conflict([_closed(deadline.id)])
    rungs = [{"id": deadline.id, "rung": rung.number, "fires_at": rung.fires_at} for rung in ladder_for(rule, new_day)]
    if rungs:
        conn.execute(_MOVE_RUNG, rungs)
    if rule.until_done:
        conn.execute(
            _MOVE_TASK_ITEM,
            {"case_id": deadline.case_id, "application_no": deadline.application_no, "clock": deadline.clock, "due_at": new_due},
        )
    conn.execute(_REDUE_STATE_ITEM, {"case_id": deadline.case_id, "department": deadline.department})


def _open_deadline(conn: Connection, case_id: int, deadline_id: int) -> Any:
    deadline = conn.execute(_DEADLINE, {"id": deadline_id, "case_id": case_id}).first()
    if deadline is None:
        vi, en = f"Hồ sơ {case_id} không có thời hạn số {deadline_id}.", f"Case {case_id} has no deadline {deadline_id}."
        raise NotFound([problem("deadline.unknown", vi, en, "deadline_id")])
    if deadline.status != "open":
        raise Conflict([_closed(deadline_id)])
    return deadline


def _new_due_day(current: date, due_on: date | None, days: int | None) -> date:
    """Return the new due day from exactly one of a date and a number of days; refuse one not after the current day."""
    if (due_on is None) == (days is None):
        vi, en = (
            "Hãy nhập hoặc hạn mới, hoặc số ngày gia hạn (chỉ một trong hai).",
            "Give either a new due date or a number of days (one of them).",
        )
        raise RecordInvalid([problem("extension.due_or_days", vi, en, "due_on")])
    if days is not None and not 1 <= days <= MAX_DAYS:
        vi, en = f"Số ngày gia hạn phải từ 1 đến {MAX_DAYS}.", f"The number of days must be between 1 and {MAX_DAYS}."
        raise RecordInvalid([problem("extension.days", vi, en, "days")])
    new_day = due_on if due_on is not None else current + timedelta(days=days or 0)
    if new_day <= current:
        raise RecordInvalid(
            [
                problem(
                    "extension.not_later",
                    f"Hạn mới ({new_day:%d/%m/%Y}) phải sau hạn hiện tại ({current:%d/%m/%Y}); không được rút ngắn thời hạn.",
                    f"The new due date ({new_day.isoformat()}) must be after the current one ({current.isoformat()}); a deadline cannot be shortened.",
                    "due_on",
                )
            ]
        )
    if new_day > current + timedelta(days=MAX_DAYS):
        vi, en = f"Không được gia hạn quá {MAX_DAYS} ngày.", f"A deadline cannot be extended by more than {MAX_DAYS} days."
        raise RecordInvalid([problem("extension.days", vi, en, "due_on")])
    return new_day


def _closed(deadline_id: int) -> Any:
    return problem(
        "deadline.closed",
        f"Thời hạn số {deadline_id} đã đóng (hồ sơ đã qua bước đó hoặc việc đã xong); không thể gia hạn.",
        f"Deadline {deadline_id} is closed (the case moved on or its task is done); it cannot be extended.",
        "deadline_id",
    )
