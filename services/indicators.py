"""The report indicators of a commune or province over a period, computed in SQL from the case records, per commune and in total.

Period rules, so that a figure never counts twice and a later report does not move an earlier one:
- a departure counts in the period of its record's `departed_on`; its market, programme, sex, ethnicity, poverty
  status, priority groups and training come from the counselling, registration and training records of the same
  application; the training shares are of those departures, against the plan of the year the period ends in;
- a loan by its decision day (`decided_on`), a self-financing declaration by `declared_on`; a support payment by
  `paid_on`; a return by `returned_on` (early and deported by its reason); an overstay or a death by `reported_on`;
- deadlines met: the clocks of the unit's cases, and of its periodic reports (in the report's commune), that fell due in the period, and of them those closed on or before
  their due time (a clock still open, or closed late, is not met); by the department the clock belongs to;
- median days per stage: the cases that reached the stage's next state in the period, from the state timestamps of
  the current application; the stage belongs to the department that owns its state (workflows/case.py);
- the backlog: the cases registered before the period's end that were then in a state that is not an end state,
  by that state (read from the state timestamps; a case reopened since counts by its new application only).
Sums per unit add the commune rows; shares are recomputed from the unit's sums; medians are computed over the unit.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import date, time
from typing import Any

from sqlalchemy import Connection, select, text

from services.indicator_queries import OPEN_STATES, PRIORITY_GROUPS, QUERIES, STAGES, Scope
from services.models import AdminUnit
from services.plans import MAX_YEAR, MIN_YEAR, Unit, require_report_reader, targets_of, unit_in_scope
from services.report_sql import JsonSql
from services.runtime import Runtime
from services.users import Actor
from workflows.clocks import moment
from workflows.errors import RecordInvalid, problem
from workflows.plans import Targets

MAX_PERIOD_DAYS = 3660
# PostgreSQL connections a roll-up reads on at once (its own and the helpers'): the server's cores a report may take.
REPORT_CONNECTIONS = 3
# Roll-ups that may borrow helper connections at once; the others run their queries on their own connection. A
# roll-up that waited for helpers while holding its own could, with enough of them, hold the whole pool and wait for ever.
_HELPERS_FREE = threading.BoundedSemaphore(2)


def indicators(rt: Runtime, actor: Actor, unit_code: str, start: date, end: date) -> dict[str, Any]:
    """Return every indicator of a unit over a period (days inclusive), per commune and for the whole unit."""
    require_report_reader(actor)
    _check_period(start, end)
    with rt.unit_of_work(writes=False) as conn:
        begin_report(conn)
        return indicators_on(rt, conn, actor, unit_code, start, end)


def indicators_on(
    rt: Runtime, conn: Connection, actor: Actor, unit_code: str, start: date, end: date, *, helpers: bool = True
) -> dict[str, Any]:
    """Return the indicators as `indicators` does, read on a transaction the caller holds.

    A command that freezes them with what it writes (a report's submission) reads them after its writes, on its own
    connection only (`helpers=False`): helper connections would not see what it has not committed yet.
    """
    require_report_reader(actor)
    _check_period(start, end)
    unit = unit_in_scope(conn, actor, unit_code)
    scope = scope_of(conn, unit, start, end)
    raw = run_queries(rt, conn, scope) if helpers else {name: query(conn, scope) for name, query in QUERIES.items()}
    communes = dict(conn.execute(select(AdminUnit.id, AdminUnit.code).where(AdminUnit.id.in_(scope.communes))).all())
    plans = targets_of(conn, rt.plan_defaults, [(unit.id, unit.kind)] + [(c, "commune") for c in scope.communes], end.year)
    return assemble(unit, start, end, raw, communes, plans)


def begin_report(conn: Connection, snapshot: str | None = None, *, read_only: bool = True) -> None:
    """Begin a report's transaction (its first statements): on PostgreSQL one snapshot, sort memory, no JIT."""
    for statement in JsonSql(conn.dialect.name).settings(snapshot, read_only=read_only):
        conn.execute(text(statement))


def run_queries(rt: Runtime, conn: Connection, scope: Scope) -> dict[str, list[Any]]:
    """Run every indicator query; on PostgreSQL on REPORT_CONNECTIONS connections at once, all reading `conn`'s snapshot.

    The queries are independent and each is one statement that PostgreSQL runs on one process: on a server with
    cores to spare they take the time of the longest (the departures) instead of their sum. SQLite runs them one after
    the other on `conn`.
    """
    if not scope.sql.postgres or REPORT_CONNECTIONS == 1 or not _HELPERS_FREE.acquire(blocking=False):
        return {name: query(conn, scope) for name, query in QUERIES.items()}
    try:
        return _run_on_helpers(rt, conn, scope)
    finally:
        _HELPERS_FREE.release()


def _run_on_helpers(rt: Runtime, conn: Connection, scope: Scope) -> dict[str, list[Any]]:
    """Run the queries on `conn` and REPORT_CONNECTIONS - 1 helper connections reading its snapshot; stop all at an error."""
    snapshot = str(conn.scalar(text("SELECT pg_export_snapshot()")))
    pending = deque(QUERIES)  # the costliest first, so that no connection is left with a long one at the end

    def drain(on: Connection) -> dict[str, list[Any]]:
        done: dict[str, list[Any]] = {}
        while True:
            try:
                name = pending.popleft()
            except IndexError:
                return done
            try:
                done[name] = QUERIES[name](on, scope)
            except BaseException:
                pending.clear()  # the others stop after their current query: the roll-up has failed
                raise

    def helper() -> dict[str, list[Any]]:
        with rt.unit_of_work(writes=False) as other:
            begin_report(other, snapshot)
            return drain(other)

    with ThreadPoolExecutor(REPORT_CONNECTIONS - 1) as pool:
        helpers = [pool.submit(helper) for _ in range(REPORT_CONNECTIONS - 1)]
        found = drain(conn)
        for future in helpers:
            found.update(future.result())
    return {name: found[name] for name in QUERIES}


def scope_of(conn: Connection, unit: Unit, start: date, end: date) -> Scope:
    """Return the query scope of a unit's communes over a period (its days in Vietnam)."""
    return Scope(JsonSql(conn.dialect.name), tuple(sorted(unit.communes)), start, end, moment(start, time(0)),
                 moment(date.fromordinal(end.toordinal() + 1), time(0)))  # fmt: skip


def _check_period(start: date, end: date) -> None:
    if not (date(MIN_YEAR, 1, 1) <= start <= end <= date(MAX_YEAR, 12, 31)) or (end - start).days > MAX_PERIOD_DAYS:
        vi = f"Kỳ báo cáo phải bắt đầu trước khi kết thúc, dài tối đa {MAX_PERIOD_DAYS} ngày, trong các năm {MIN_YEAR}–{MAX_YEAR}."
        en = f"The period must start before it ends, last at most {MAX_PERIOD_DAYS} days, and lie in {MIN_YEAR}–{MAX_YEAR}."
        raise RecordInvalid([problem("report.period", vi, en, "end")])


def assemble(
    unit: Unit, start: date, end: date, raw: dict[str, list[Any]], codes: dict[int, str], plans: dict[int, Targets]
) -> dict[str, Any]:
    """Build the per-commune figures and the unit's total from the indicator rows."""
    rows: dict[int | None, dict[str, Any]] = {commune: _empty() for commune in codes}
    for row in raw["departures"]:
        _add_departures(rows[row.commune_id], row)
    for row in raw["departures_by_month"]:
        rows[row.commune_id]["departures"]["by_month"][row.month] += int(row.departures)
    for row in raw["loans"]:
        figures = rows[row.commune_id]["loans"]
        for name in ("bank_loans", "amount_vnd", "self_financed"):
            figures[name] += int(row._mapping[name] or 0)
    for row in raw["support"]:
        _add_support(rows[row.commune_id]["support"], row.item, int(row.payments), int(row.amount_vnd))
    for row in raw["outcomes"]:
        rows[row.commune_id]["outcomes"][f"{row.kind}:{row.what}"] += int(row.n)
    for row in raw["backlog"]:
        rows[row.commune_id]["backlog"][row.state] += int(row.n)
    for row in raw["deadlines"]:
        figures = rows[row.commune_id]["deadlines"][row.department]
        figures["due"] += int(row.due)
        figures["met"] += int(row.met or 0)
    total = _empty()
    for commune in codes:
        _add_into(total, rows[commune])
    medians: dict[int | None, dict[str, tuple[int, float]]] = defaultdict(dict)
    for row in raw["stages"]:
        medians[row.commune_id][row.stage] = (int(row.cases), round(float(row.median_days), 3))
    whole_year = start == date(end.year, 1, 1) and end == date(end.year, 12, 31)
    commune_rows = [_finish(rows[c], codes[c], plans[c], medians.get(c, {}), whole_year) for c in sorted(codes, key=codes.__getitem__)]
    return {"unit_code": unit.code, "unit_name": unit.name, "unit_kind": unit.kind, "start": start, "end": end,
            "total": _finish(total, unit.code, plans[unit.id], medians.get(None, {}), whole_year), "communes": commune_rows}  # fmt: skip


def _empty() -> dict[str, Any]:
    def counter() -> defaultdict[str, int]:
        return defaultdict(int)

    return {
        "departures": {"total": 0, "by_market": counter(), "by_programme": counter(), "by_sex": counter(), "by_ethnicity": counter(),
                       "by_poverty": counter(), "by_priority_group": counter(), "by_month": counter()},
        "training": counter(), "loans": {"bank_loans": 0, "amount_vnd": 0, "self_financed": 0}, "support": {},
        "outcomes": counter(), "backlog": counter(), "deadlines": defaultdict(lambda: {"due": 0, "met": 0}),
    }  # fmt: skip


def _add_departures(figures: dict[str, Any], row: Any) -> None:
    count, dep = int(row.departures), figures["departures"]
    dep["total"] += count
    for key, value in (("by_market", row.market_code), ("by_programme", row.programme), ("by_sex", row.sex),
                       ("by_ethnicity", row.ethnicity), ("by_poverty", row.poverty)):  # fmt: skip
        dep[key][value or "unknown"] += count
    for group in (*PRIORITY_GROUPS, "any_group"):
        dep["by_priority_group"][group] += int(row._mapping[group] or 0)
    for name in ("language_orientation", "vocational", "in_depth"):
        figures["training"][name] += int(row._mapping[name] or 0)


def _add_support(figures: dict[str, Any], item: str, payments: int, amount: int) -> None:
    slot = figures.setdefault(item, {"payments": 0, "amount_vnd": 0})
    slot["payments"] += payments
    slot["amount_vnd"] += amount


def _add_into(total: dict[str, Any], commune: dict[str, Any]) -> None:
    """Add a commune's sums into the unit's (counts and amounts only: shares and medians are not added)."""
    total["departures"]["total"] += commune["departures"]["total"]
    for key, values in commune["departures"].items():
        if key != "total":
            for value, count in values.items():
                total["departures"][key][value] += count
    for part in ("training", "outcomes", "backlog"):
        for key, count in commune[part].items():
            total[part][key] += count
    for key, count in commune["loans"].items():
        total["loans"][key] += count
    for item, slot in commune["support"].items():
        _add_support(total["support"], item, slot["payments"], slot["amount_vnd"])
    for department, slot in commune["deadlines"].items():
        total["deadlines"][department]["due"] += slot["due"]
        total["deadlines"][department]["met"] += slot["met"]


def _met(share: float | None, target: int) -> bool | None:
    return None if share is None else share >= target


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _finish(figures: dict[str, Any], code: str, plan: Targets, medians: dict[str, tuple[int, float]], whole_year: bool) -> dict[str, Any]:
    """Turn a unit's sums into its figures: shares against the plan, outcomes by name, departments with their stages."""
    departures = figures["departures"]["total"]
    training = {name: figures["training"][name] for name in ("language_orientation", "vocational", "in_depth")}
    targets = {"language_orientation": plan.language_orientation_percent, "vocational": plan.vocational_percent,
               "in_depth": plan.in_depth_percent}  # fmt: skip
    shares = {name: _percent(count, departures) for name, count in training.items()}
    outcome = figures["outcomes"]
    return {
        "unit_code": code,
        "plan": {**asdict(plan), "departures_target_met": departures > plan.departures_more_than if whole_year else None},
        "departures": {key: dict(value) if isinstance(value, dict) else value for key, value in figures["departures"].items()},
        "training": [
            {"training": name, "departures": departures, "trained": count, "percent": shares[name], "target_percent": targets[name],
             "met": _met(shares[name], targets[name])}
            for name, count in training.items()
        ],
        "loans": dict(figures["loans"]),
        "support": {"items": figures["support"], "payments": sum(s["payments"] for s in figures["support"].values()),
                    "amount_vnd": sum(s["amount_vnd"] for s in figures["support"].values())},
        "outcomes": {"returns": sum(n for k, n in outcome.items() if k.startswith("return:")), "completed": outcome["return:completed"],
                     "early_returns": outcome["return:early"], "deported": outcome["return:deported"],
                     "absconded": outcome["overstay:absconded"], "overstayed": outcome["overstay:overstayed"],
                     "deceased": outcome["death:deceased"], "missing": outcome["death:missing"]},
        "backlog": {state: figures["backlog"][state] for state in OPEN_STATES},
        "departments": _departments(figures["deadlines"], medians),
    }  # fmt: skip


def _departments(deadlines: dict[str, dict[str, int]], medians: dict[str, tuple[int, float]]) -> list[dict[str, Any]]:
    owners = {department for _, _, department in STAGES} | set(deadlines)
    found = []
    for department in sorted(owners):
        slot = deadlines.get(department, {"due": 0, "met": 0})
        stages = [
            {
                "from_state": start,
                "to_state": end,
                "cases": medians.get(start, (0, None))[0],
                "median_days": medians.get(start, (0, None))[1],
            }
            for start, end, owner in STAGES
            if owner == department
        ]
        found.append({"department": department, "deadlines_due": slot["due"], "deadlines_met": slot["met"],
                      "met_percent": _percent(slot["met"], slot["due"]), "stages": stages})  # fmt: skip
    return found
