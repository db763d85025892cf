"""The departments' work items: claiming, releasing, completing and reassigning them, and the inboxes that list them."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Integer, Row, TextClause, TextualSelect, bindparam, text
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


# --- reads ---------------------------------------------------------------------------------------------------------

# The literal status test matches the partial index ix_work_items_inbox, so both databases can use it.
_OUTSTANDING = "w.status IN ('open', 'claimed')"
_VISIBLE = {
    "department": "",  # every open item of the department, whoever holds it (supervisors, or no actor)
    "officer": "AND (w.status = 'open' OR w.assignee_id = :me)",  # the unassigned ones and the officer's own
    "mine": "AND w.status = 'claimed' AND w.assignee_id = :me",
}
# The inbox's order is overdue first, then priority, then dated before undated, then due time, then id. No index
# holds "overdue" (it depends on now), so the inbox reads ranges of ix_work_items_inbox (department, priority, due_at,
# id) one after the other, in the inbox's order, until it has enough: each range is one priority's overdue, due-later
# or undated items, starts where the index has it, and is read in index order up to the items still wanted. (A range
# across priorities would first read, and drop, every item of priority 1 outside it: PostgreSQL 15 cannot skip.)
_RANGES = {"overdue": "w.due_at < :now", "later": "w.due_at >= :now", "undated": "w.due_at IS NULL"}
_INBOX_RANGES = [(priority, "overdue") for priority in followups.PRIORITIES] + [
    (priority, name) for priority in followups.PRIORITIES for name in ("later", "undated")
]
# The names come from subqueries, run for the rows kept only: as joins, the five tables took PostgreSQL three times
# longer to plan (1.1 ms) than to run the query.
# A report's item (w.report_id) has no case: its state is the item's, its "village" the report's commune.
_ITEMS = """SELECT w.id, w.case_id, w.report_id, w.kind, COALESCE(c.state, w.state) AS state, c.version, w.priority, w.due_at, w.status,
           (SELECT u.username FROM users u WHERE u.id = w.assignee_id) AS assignee,
           (SELECT p.full_name FROM persons p WHERE p.id = c.person_id) AS full_name,
           (SELECT v.name FROM admin_units v WHERE v.id = COALESCE(c.village_id, r.unit_id)) AS village,
           CASE WHEN w.due_at < :now THEN 1 ELSE 0 END AS overdue
    FROM work_items w LEFT JOIN cases c ON c.id = w.case_id LEFT JOIN reports r ON r.id = w.report_id
    WHERE w.department = :department AND {outstanding} {visible} {commune} {where}
    ORDER BY w.due_at, w.id LIMIT :limit"""


# An item's commune is its case's or its report's. Said as OR, not COALESCE: PostgreSQL estimates a COALESCE as
# matching 0.5 % of rows, and then plans to read every open item of the department and sort them (38 ms with
# 100,000 cases, bench/api.py) instead of walking ix_work_items_inbox to the first 50 (1 ms).
_IN_COMMUNES = "AND (c.commune_id IN :communes OR r.unit_id IN :communes)"


@lru_cache(maxsize=32)
def _items_query(visible: str, by_commune: bool, where: str) -> TextualSelect:
    commune = _IN_COMMUNES if by_commune else ""
    sql = _ITEMS.format(outstanding=_OUTSTANDING, visible=_VISIBLE[visible], commune=commune, where=where)
    binds = [bindparam("now", type_=UtcDateTime)] + ([bindparam("communes", expanding=True)] if by_commune else [])
    return text(sql).bindparams(*binds).columns(due_at=UtcDateTime)


# For the rest of the transaction, a prepared statement runs on its one plan for any parameters. Left to choose,
# PostgreSQL re-plans the inbox's range query at every execution (it costs the plan for unknown parameters higher than
# the plans for known ones), 0.4 ms of the server's CPU for a query that then runs in 0.4 ms; the one plan reads
# ix_work_items_inbox in order for any department, priority and moment (bench/api.py).
_GENERIC_PLAN = text("SET LOCAL plan_cache_mode = force_generic_plan")


def _range_query(visible: str, by_commune: bool, name: str) -> TextualSelect:
    """Return the query of one range of the inbox (its priority is the parameter `priority`)."""
    return _items_query(visible, by_commune, f"AND w.priority = :priority AND {_RANGES[name]}")


def inbox(
    rt: Runtime,
    actor: Actor | None,
    *,
    department: str,
    communes: Collection[int] | None = None,
    now: datetime,
    mine_only: bool = False,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """List a department's open items an actor may take or holds: overdue first, then priority, then due time.

    An officer sees the unassigned items and their own; a supervisor (or no actor) sees every open item.
    """
    with rt.unit_of_work(writes=False) as conn:
        return read_inbox(conn, actor, department=department, communes=communes, now=now, mine_only=mine_only, limit=limit)


def read_inbox(
    conn: Connection,
    actor: Actor | None,
    *,
    department: str,
    communes: Collection[int] | None,
    now: datetime,
    mine_only: bool,
    limit: int,
) -> list[dict[str, Any]]:
    """List the inbox as `inbox` does, on a transaction the caller holds (a route that checks the token on it too).

    On PostgreSQL the rest of that transaction runs prepared statements on generic plans (_GENERIC_PLAN): read the
    inbox last in it.
    """
    me = actor.user_id if actor is not None else None
    if conn.dialect.name == "postgresql":
        conn.execute(_GENERIC_PLAN)
    params = {"department": department, "communes": sorted(communes or ()), "now": now, "me": me}
    visible = _visible(actor, mine_only)
    rows: list[Any] = []
    for priority, name in _INBOX_RANGES:
        if len(rows) >= limit:
            break
        query = _range_query(visible, communes is not None, name)
        rows += conn.execute(query, {**params, "priority": priority, "limit": limit - len(rows)}).all()
    return [_inbox_row(row) for row in rows]


def inbox_item(rt: Runtime, actor: Actor, item_id: int, *, department: str, now: datetime) -> dict[str, Any] | None:
    """Return an item as its row in the actor's inbox of a department, or None if it is not there (finished, held by another)."""
    params = {
        "department": department,
        "communes": sorted(actor.communes or ()),
        "now": now,
        "me": actor.user_id,
        "id": item_id,
        "limit": 1,
    }
    query = _items_query(_visible(actor, False), actor.communes is not None, "AND w.id = :id")
    with rt.unit_of_work(writes=False) as conn:
        row = conn.execute(query, params).first()
    return None if row is None else _inbox_row(row)


def _visible(actor: Actor | None, mine_only: bool) -> str:
    return "mine" if mine_only else "officer" if actor is not None and actor.role != "supervisor" else "department"


def _inbox_row(row: Row[Any]) -> dict[str, Any]:
    return row._asdict() | {"overdue": bool(row.overdue)}


@lru_cache(maxsize=2)
def _counts_query(by_commune: bool) -> TextClause:
    # A report's item counts in the report's commune.
    join = "LEFT JOIN cases c ON c.id = w.case_id LEFT JOIN reports r ON r.id = w.report_id" if by_commune else ""
    commune = _IN_COMMUNES if by_commune else ""
    binds = [bindparam("now", type_=UtcDateTime)] + ([bindparam("communes", expanding=True)] if by_commune else [])
    return text(
        f"""SELECT w.department, count(*) AS open, SUM(CASE WHEN w.status = 'claimed' THEN 1 ELSE 0 END) AS claimed,
               SUM(CASE WHEN w.due_at < :now THEN 1 ELSE 0 END) AS overdue
        FROM work_items w {join}
        WHERE {_OUTSTANDING} {commune}
        GROUP BY w.department ORDER BY w.department"""
    ).bindparams(*binds)


def counts(rt: Runtime, now: datetime, communes: Collection[int] | None = None) -> dict[str, dict[str, int]]:
    """Count each department's open items (claimed or not), how many are claimed, and how many are overdue."""
    with rt.unit_of_work(writes=False) as conn:
        rows = conn.execute(_counts_query(communes is not None), {"now": now, "communes": sorted(communes or ())}).all()
    return {row.department: {"open": int(row.open), "claimed": int(row.claimed), "overdue": int(row.overdue)} for row in rows}


_OLDEST = (
    text(
        """SELECT w.id, w.case_id, w.kind, w.department, w.status, w.opened_at, w.due_at, u.username AS assignee, p.full_name
    FROM work_items w JOIN cases c ON c.id = w.case_id JOIN persons p ON p.id = c.person_id LEFT JOIN users u ON u.id = w.assignee_id
    WHERE w.status IN ('open', 'claimed') AND c.commune_id IN :communes
    ORDER BY w.opened_at, w.id LIMIT :limit"""
    )
    .bindparams(bindparam("communes", expanding=True))
    .columns(opened_at=UtcDateTime, due_at=UtcDateTime)
)


def oldest(rt: Runtime, communes: Collection[int], limit: int = 20) -> list[dict[str, Any]]:
    """List the open items that have waited longest, in the communes given (the supervisor's dashboard)."""
    with rt.unit_of_work(writes=False) as conn:
        return [dict(row._mapping) for row in conn.execute(_OLDEST, {"communes": sorted(communes), "limit": limit})]
