"""The departments' work items: claiming, releasing, completing and reassigning them (the inboxes: services.work_queries)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, text
from sqlalchemy.exc import IntegrityError

from services import followups, store
from services.models import UtcDateTime
from services.runtime import Runtime
from services.users import Actor, load_actor
from workflows.errors import Conflict, Forbidden, NotFound, RecordInvalid, problem, required_reason
from workflows.history import REASSIGN

STATE_ITEM = "state"  # the kind of the item a case gets when it enters a state; other kinds name the clock that opened a task
FINISHED = ("done", "closed")


@dataclass(frozen=True)
class ItemRef:
    """Where a command left a work item: its id, status and who holds it."""

    id: int
    status: str
    assignee: str | None


_TIMES = (bindparam("at", type_=UtcDateTime),)
_ITEM = text(
    """SELECT w.id, w.case_id, w.report_id, w.application_no, w.kind, w.department, w.status, w.assignee_id, u.username AS assignee,
           COALESCE(c.commune_id, r.unit_id) AS commune_id
    FROM work_items w LEFT JOIN cases c ON c.id = w.case_id LEFT JOIN reports r ON r.id = w.report_id
    LEFT JOIN users u ON u.id = w.assignee_id
    WHERE w.id = :id"""
)
# Each change is conditional on the status read, so of two racing commands exactly one changes the row.
_CLAIM = text(
    "UPDATE work_items SET status = 'claimed', assignee_id = :user_id, claimed_at = :at WHERE id = :id AND status = 'open'"
).bindparams(*_TIMES)
_RELEASE = text(
    """UPDATE work_items SET status = 'open', assignee_id = NULL, claimed_at = NULL
    WHERE id = :id AND status = 'claimed' AND assignee_id = :holder_id"""
)
_COMPLETE = text(
    """UPDATE work_items SET status = 'done', closed_at = :at, closed_by = :user_id
    WHERE id = :id AND status = 'claimed' AND assignee_id = :user_id"""
).bindparams(*_TIMES)
# A reassignment applies to the item as the supervisor saw it: a claim or release in between refuses it.
_REASSIGN = text(
    """UPDATE work_items SET status = 'claimed', assignee_id = :user_id, claimed_at = :at
    WHERE id = :id AND status = :status_read
      AND (assignee_id = :assignee_read OR (assignee_id IS NULL AND :assignee_read IS NULL))"""
).bindparams(*_TIMES, bindparam("assignee_read", type_=Integer))


def claim(rt: Runtime, actor: Actor, item_id: int) -> ItemRef:
    """Take an open item of your department; of two claims exactly one wins, the other is told who holds it."""
    with rt.unit_of_work() as conn:
        item = _load(conn, item_id)
        _check_may_work(actor, item)
        if _claimable(item, actor):
            params = {"id": item_id, "user_id": actor.user_id, "at": rt.clock.now()}
            if conn.execute(_CLAIM, params).rowcount != 1:  # taken between our read and our write
                _claimable(_load(conn, item_id), actor)
                raise _changed(item_id)
    return ItemRef(item_id, "claimed", actor.username)


def release(rt: Runtime, actor: Actor, item_id: int) -> ItemRef:
    """Put a claimed item back in its department's inbox (its holder or a supervisor)."""
    with rt.unit_of_work() as conn:
        item = _load(conn, item_id)
        _check_may_work(actor, item)  # before saying anything of the item's state
        _check_unfinished(item)
        if item.status != "claimed":
            raise Conflict([problem("work.not_claimed", f"Việc #{item_id} chưa có ai nhận.", f"Item #{item_id} is not claimed.", "id")])
        if item.assignee_id != actor.user_id:
            _check_supervises(actor, item, item.assignee)
        if conn.execute(_RELEASE, {"id": item_id, "holder_id": item.assignee_id}).rowcount != 1:
            raise _changed(item_id)
    return ItemRef(item_id, "open", None)


def complete(rt: Runtime, actor: Actor, item_id: int) -> ItemRef:
    """Finish a task you hold and, in the same transaction, stop the clock that opened it."""
    with rt.unit_of_work() as conn:
        item = _load(conn, item_id)
        _check_may_work(actor, item)
        if item.kind == STATE_ITEM:
            raise Conflict([_state_item(item_id)])
        if item.report_id is not None:  # submitting the report finishes its item
            raise Conflict([_report_item(item)])
        _check_unfinished(item)
        if item.status != "claimed":
            vi, en = f"Hãy nhận việc #{item_id} trước khi hoàn thành.", f"Claim item #{item_id} before completing it."
            raise Conflict([problem("work.not_claimed", vi, en, "id")])
        if item.assignee_id != actor.user_id:
            raise Forbidden([_held_by(item_id, item.assignee, "hoàn thành", "complete")])
        now = rt.clock.now()
        if conn.execute(_COMPLETE, {"id": item_id, "user_id": actor.user_id, "at": now}).rowcount != 1:
            raise _changed(item_id)
        followups.stop_clocks(conn, rt, item.case_id, [item.kind], now, item.application_no)
    return ItemRef(item_id, "done", actor.username)


def reassign(rt: Runtime, actor: Actor, item_id: int, to_username: str, reason: str) -> ItemRef:
    """Give an item to another officer of its department (supervisors, with a reason); the case's history records it."""
    if actor.role != "supervisor":
        vi, en = "Chỉ lãnh đạo (giám sát) mới được chuyển việc.", "Only a supervisor may reassign work."
        raise Forbidden([problem("work.supervisors_only", vi, en, "actor")])
    why = required_reason(reason, "Chuyển việc phải ghi lý do.", "A reassignment needs a reason.")
    try:
        with rt.unit_of_work() as conn:
            item = _load(conn, item_id)
            _check_supervises(actor, item, None)
            _check_unfinished(item)
            if item.report_id is not None:  # a reassignment is recorded in a case's history, and a report's item has no case
                raise Conflict([_report_item(item)])
            target = _officer_for(conn, to_username, item)
            case = store.lock_case(conn, item.case_id)
            now = rt.clock.now()
            read = {"status_read": item.status, "assignee_read": item.assignee_id}
            if conn.execute(_REASSIGN, {"id": item_id, "user_id": target.user_id, "at": now, **read}).rowcount != 1:
                raise _changed(item_id)
            entry = store.Entry(
                trigger=REASSIGN, from_state=case.state, to_state=case.state, application_no=case.application_no,
                record_kind=None, record=None, reason=f"{why} → {target.username} (việc #{item_id})",
                topic="case.work_reassigned", queues=(item.department,),
                payload={"trigger": REASSIGN, "work_item_id": item_id, "assignee_id": target.user_id},
            )  # fmt: skip
            store.append(conn, case, actor, now, entry)
    except IntegrityError as error:  # the event's key: someone else wrote this case meanwhile
        raise _changed(item_id) from error
    return ItemRef(item_id, "claimed", target.username)


def _load(conn: Connection, item_id: int) -> Any:
    item = conn.execute(_ITEM, {"id": item_id}).first()
    if item is None:
        raise NotFound([problem("work.unknown", f"Không có việc số {item_id}.", f"No work item {item_id}.", "id")])
    return item


def _check_may_work(actor: Actor, item: Any) -> None:
    """Let an officer of the item's department in the case's commune, or a supervisor over that commune, act on it."""
    if not actor.covers(item.commune_id):  # outside the scope an item does not exist
        raise NotFound([problem("work.unknown", f"Không có việc số {item.id}.", f"No work item {item.id}.", "id")])
    if actor.role == "supervisor":
        _check_supervises(actor, item, None)
    elif actor.role != "officer" or actor.department != item.department:
        raise Forbidden(
            [
                problem(
                    "work.not_department",
                    f"Việc #{item.id} thuộc bộ phận {item.department}; {actor.username} ({actor.department or actor.role}) không được nhận.",
                    f"Item #{item.id} belongs to {item.department}; {actor.username} ({actor.department or actor.role}) may not take it.",
                    "actor",
                )
            ]
        )
    elif not actor.covers(item.commune_id):
        raise Forbidden([_other_unit(actor, item)])


def _check_supervises(actor: Actor, item: Any, holder: str | None) -> None:
    """Refuse anyone but a supervisor of the case's commune or province (naming the holder when there is one)."""
    if not actor.covers(item.commune_id):
        raise NotFound([problem("work.unknown", f"Không có việc số {item.id}.", f"No work item {item.id}.", "id")])
    if actor.role != "supervisor":
        raise Forbidden([_held_by(item.id, holder, "trả lại", "release")])
    if not actor.covers(item.commune_id):
        raise Forbidden([_other_unit(actor, item)])


def _claimable(item: Any, actor: Actor) -> bool:
    """Tell whether the item is open to claim; False if the actor already holds it; else raise why not."""
    _check_unfinished(item)
    if item.status == "open":
        return True
    if item.assignee_id == actor.user_id:
        return False
    raise Conflict(
        [
            problem(
                "work.claimed",
                f"Việc này đã được {item.assignee} nhận (việc #{item.id}).",
                f"This item was already claimed by {item.assignee} (item #{item.id}).",
                "id",
            )
        ]
    )


def _check_unfinished(item: Any) -> None:
    if item.status in FINISHED:
        how_vi = "đã hoàn thành" if item.status == "done" else "đã đóng vì hồ sơ đã chuyển bước"
        how_en = "was completed" if item.status == "done" else "was closed when the case moved on"
        raise Conflict(
            [
                problem(
                    "work.finished", f"Việc #{item.id} {how_vi}; không còn gì để làm.", f"Item #{item.id} {how_en}; it is finished.", "id"
                )
            ]
        )


def _officer_for(conn: Connection, username: str, item: Any) -> Actor:
    """Return the named user if an active officer of the item's department in the case's commune, else refuse."""
    target = load_actor(conn, username)
    if target.role != "officer" or target.department != item.department or target.unit_id != item.commune_id:
        vi = f"{username} không phải cán bộ đang hoạt động của bộ phận {item.department} tại xã của hồ sơ."
        en = f"{username} is not an active officer of {item.department} in the case's commune."
        raise RecordInvalid([problem("work.not_officer", vi, en, "to")])
    if target.user_id == item.assignee_id:
        raise Conflict(
            [problem("work.same_assignee", f"{username} đang giữ việc #{item.id}.", f"{username} already holds item #{item.id}.", "to")]
        )
    return target


def _state_item(item_id: int) -> Any:
    return problem(
        "work.state_item",
        f"Việc #{item_id} là việc của một bước hồ sơ: nó tự đóng khi hồ sơ chuyển bước. Hãy thực hiện bước chuyển thay vì hoàn thành tay.",
        f"Item #{item_id} is a case step's item: it closes when the case moves on. Fire the transition instead.",
        "id",
    )


def _report_item(item: Any) -> Any:
    vi = f"Việc #{item.id} là báo cáo số {item.report_id}: cán bộ của xã nhận việc rồi nộp báo cáo, không hoàn thành hay chuyển tay."
    en = f"Item #{item.id} is report {item.report_id}: the commune's officers claim it and submit the report; it is not completed or reassigned by hand."
    return problem("work.report_item", vi, en, "id")


def _held_by(item_id: int, holder: str | None, verb_vi: str, verb_en: str) -> Any:
    return problem(
        "work.not_holder",
        f"Việc #{item_id} do {holder or 'không ai'} giữ; chỉ người đó hoặc lãnh đạo mới được {verb_vi}.",
        f"Item #{item_id} is held by {holder or 'nobody'}; only they (or a supervisor) may {verb_en} it.",
        "actor",
    )


def _other_unit(actor: Actor, item: Any) -> Any:
    return problem(
        "work.other_unit",
        f"Hồ sơ của việc #{item.id} không thuộc xã hay tỉnh mà {actor.username} phụ trách.",
        f"The case of item #{item.id} is not in the commune or province {actor.username} works for.",
        "actor",
    )


def _changed(item_id: int) -> Conflict:
    return Conflict(
        [
            problem(
                "work.changed",
                f"Việc #{item_id} vừa được người khác thay đổi; tải lại rồi thử lại.",
                f"Item #{item_id} was just changed by someone else; reload and try again.",
                "id",
            )
        ]
    )
