"""The departments' inboxes and counts: which open work items a user may take or holds, in the order they are worked."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Row, TextClause, TextualSelect, bindparam, text

from services import followups
from services.models import UtcDateTime
from services.runtime import Runtime
from services.users import Actor

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
