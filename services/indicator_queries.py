"""The SQL of each indicator over a unit's communes and a period, grouped by commune (and, for medians, over the unit).

Period rules (services/indicators.py says why): a record counts by its own day — a departure by `departed_on`, a
loan by `decided_on` (self-financing: `declared_on`), a return by `returned_on`, an overstay or a death by
`reported_on`, a support payment by `paid_on`; deadlines by their due time; stage times by the moment the case reached
the later state; the backlog by the state each case was in at the end of the period.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Date, Integer, String, bindparam, text

from services.models import UtcDateTime
from services.report_sql import JsonSql
from workflows.case import STATE_BY_NAME, STATES

# Bit i of a registration's report_flags is group i (migration 0015 derives them in this order).
PRIORITY_GROUPS = ("poor_household", "near_poor_household", "ethnic_minority", "land_revoked", "military_service_done",
                   "police_service_done", "family_of_merit", "youth_volunteer")  # fmt: skip
# The state a case was in at a moment is the latest it had reached by then. The workflow's transitions never lead
# back to an earlier state within an application, so this order (latest first) decides it from the state timestamps:
# tests/unit/test_indicator_order.py checks every transition against it.
STATES_LATEST_FIRST = ("closed", "reintegrated", "returned", "deceased", "overstayed", "departed", "visa_refused", "withdrawn",
                       "ineligible", "loan_approved", "health_checked", "trained", "counselled", "registered")  # fmt: skip
OPEN_STATES = tuple(state.name for state in STATES if state.kind != "end")
MAIN_PATH = tuple(state.name for state in STATES if state.kind == "main")
# A stage is the time a case spends in a main state until it reaches the next; the state's owner is the department.
STAGES = tuple((MAIN_PATH[i], MAIN_PATH[i + 1], STATE_BY_NAME[MAIN_PATH[i]].owner) for i in range(len(MAIN_PATH) - 1))


@dataclass(frozen=True)
class Scope:
    """What every indicator query is bound to: the dialect, the communes, the period's days and its moments (UTC)."""

    sql: JsonSql
    communes: tuple[int, ...]
    start: date
    end: date
    start_at: datetime  # 00:00 of the first day in Vietnam
    end_at: datetime  # 00:00 of the day after the last, in Vietnam

    def run(self, conn: Connection, sql: str) -> list[Any]:
        """Run one indicator statement with the scope's parameters (those it names)."""
        params = {"communes": list(self.communes), "start_at": self.start_at, "end_at": self.end_at, "start_day": self.start,
                  "end_day": self.end, "start": self.start.isoformat(), "end": self.end.isoformat()}  # fmt: skip
        used = {name for name in params if re.search(rf":{name}\b", sql)}
        statement = text(sql).bindparams(*(bindparam(name, **_BIND_TYPES[name]) for name in sorted(used)))
        return list(conn.execute(statement, {name: params[name] for name in used}))


_BIND_TYPES: dict[str, dict[str, Any]] = {
    "communes": {"expanding": True, "type_": Integer}, "start_at": {"type_": UtcDateTime}, "end_at": {"type_": UtcDateTime},
    "start_day": {"type_": Date}, "end_day": {"type_": Date}, "start": {"type_": String}, "end": {"type_": String},
}  # fmt: skip


def dated(scope: Scope, kind: str, figures: str, joins: str = "") -> str:
    """Return a subquery of a unit's records of a kind whose day falls in the period, with some of their figures.

    The records' days and figures are columns the database derives from each record's text (migration 0015), read
    from the entries of ix_case_records_report_day: the records themselves are not read. `joins` adds tables.
    """
    materialized = "MATERIALIZED " if scope.sql.postgres else ""
    return f"""{kind}_rows AS {materialized}(
        SELECT c.commune_id, r.case_id, r.application_no, {figures}
        FROM case_records r JOIN cases c ON c.id = r.case_id {joins}
        WHERE r.kind = '{kind}' AND r.report_day BETWEEN :start AND :end AND c.commune_id IN :communes)"""


def departures(conn: Connection, scope: Scope) -> list[Any]:
    """Count the period's departures by commune, market, programme, sex, ethnicity and poverty, with priority groups and training.

    Sex and ethnicity come from the person row (found with the case), the projection of the registration record that verify proves. The
    market, priority groups and training come from the counselling, registration and training records of the
    departure's application: their figures (migration 0015) are read from one range of ix_case_records_report_figures.
    """
    bits = {name: 1 << number for number, name in enumerate(PRIORITY_GROUPS)}

    def has(column: str, bit: int) -> str:
        return f"(CASE WHEN (j.{column} & {bit}) <> 0 THEN 1 ELSE 0 END)"

    poverty = f"CASE WHEN {has('priority', bits['poor_household'])} = 1 THEN 'poor' WHEN {has('priority', bits['near_poor_household'])} = 1 THEN 'near_poor' ELSE 'neither' END"
    return scope.run(
        conn,
        f"""WITH {dated(scope, "departure", "p.sex, p.ethnicity", "JOIN persons p ON p.id = c.person_id")},
        joined AS (
            SELECT d.commune_id, d.sex, d.ethnicity, max(CASE WHEN x.kind = 'counselling' THEN x.report_code END) AS market_code,
                   max(CASE WHEN x.kind = 'registration' THEN x.report_flags ELSE 0 END) AS priority,
                   max(CASE WHEN x.kind = 'training' THEN x.report_flags ELSE 0 END) AS training
            FROM departure_rows d LEFT JOIN case_records x ON x.case_id = d.case_id AND x.application_no = d.application_no
                                                      AND x.kind IN ('registration', 'counselling', 'training')
            GROUP BY d.commune_id, d.case_id, d.application_no, d.sex, d.ethnicity)
        SELECT j.commune_id, j.market_code, m.programme, j.sex, j.ethnicity, {poverty} AS poverty, count(*) AS departures,
               {", ".join(f"sum({has('priority', bit)}) AS {name}" for name, bit in bits.items())},
               sum(CASE WHEN j.priority <> 0 THEN 1 ELSE 0 END) AS any_group, sum({has("training", 1)}) AS language_orientation,
               sum({has("training", 2)}) AS vocational, sum({has("training", 4)}) AS in_depth
        FROM joined j LEFT JOIN markets m ON m.code = j.market_code
        GROUP BY j.commune_id, j.market_code, m.programme, j.sex, j.ethnicity, {poverty}""",
    )


def loans(conn: Connection, scope: Scope) -> list[Any]:
    """Count the period's bank loans and their amount, and the self-financing declarations, by commune."""
    return scope.run(
        conn,
        f"""WITH {dated(scope, "loan", "r.report_flags AS bank, r.report_amount AS amount")}
        SELECT commune_id, sum(bank) AS bank_loans, sum(amount) AS amount_vnd, sum(1 - bank) AS self_financed
        FROM loan_rows GROUP BY commune_id""",
    )


def support(conn: Connection, scope: Scope) -> list[Any]:
    """Count and sum the support paid in the period by commune and item."""
    return scope.run(
        conn,
        """SELECT commune_id, item, count(*) AS payments, sum(amount_vnd) AS amount_vnd FROM support_payments
        WHERE commune_id IN :communes AND paid_on BETWEEN :start_day AND :end_day GROUP BY commune_id, item""",
    )


def outcomes(conn: Connection, scope: Scope) -> list[Any]:
    """Count the period's returns by reason, overstays by kind (absconded, overstayed) and deaths by kind, by commune."""
    kinds = ("return", "overstay", "death")  # their report_code: a return's reason, an overstay's or a death's kind
    return scope.run(
        conn,
        f"""WITH {", ".join(dated(scope, kind, "r.report_code AS what") for kind in kinds)}
        {" UNION ALL ".join(f"SELECT commune_id, '{kind}' AS kind, what, count(*) AS n FROM {kind}_rows GROUP BY 1, 2, 3" for kind in kinds)}""",
    )


def backlog(conn: Connection, scope: Scope) -> list[Any]:
    """Count the cases open at the end of the period by the state they were in then, by commune."""
    latest = " ".join(f"WHEN {state}_at < :end_at THEN '{state}'" for state in STATES_LATEST_FIRST)
    open_states = ", ".join(f"'{state}'" for state in OPEN_STATES)
    return scope.run(
        conn,
        f"""SELECT commune_id, state_then AS state, count(*) AS n FROM (
            SELECT commune_id, CASE {latest} END AS state_then FROM cases WHERE commune_id IN :communes AND registered_at < :end_at
        ) AS c WHERE state_then IN ({open_states}) GROUP BY commune_id, state_then""",
    )


def deadlines(conn: Connection, scope: Scope) -> list[Any]:
    """Count the deadlines that fell due in the period and those closed by their due time, by commune and department.

    The clocks are the cases' (in the case's commune) and the periodic reports' (in the report's commune). Each is read
    through its own index: a case clock from the commune's cases, a report clock from the clocks without a case.
    """
    period = "d.due_at >= :start_at AND d.due_at < :end_at"
    return scope.run(
        conn,
        f"""SELECT commune_id, department, count(*) AS due,
               sum(CASE WHEN closed_at IS NOT NULL AND closed_at <= due_at THEN 1 ELSE 0 END) AS met
        FROM (SELECT c.commune_id, d.department, d.due_at, d.closed_at FROM deadlines d JOIN cases c ON c.id = d.case_id
              WHERE c.commune_id IN :communes AND {period}
              UNION ALL
              SELECT r.unit_id, d.department, d.due_at, d.closed_at FROM deadlines d JOIN reports r ON r.id = d.report_id
              WHERE d.case_id IS NULL AND r.unit_id IN :communes AND {period}) AS k
        GROUP BY commune_id, department""",
    )


def stages(conn: Connection, scope: Scope) -> list[Any]:
    """Return the median days of each stage, by commune and over the unit (commune_id NULL), of cases that finished it in the period.

    The unit's cases are read once: each case gives a row per stage it finished in the period (the stages by number,
    so that the medians sort numbers, not names).
    """
    sql = scope.sql
    numbers = ", ".join(f"({number})" for number in range(len(STAGES)))

    def each(pick: Callable[[str, str], str]) -> str:
        return "CASE s.n " + " ".join(f"WHEN {number} THEN {pick(start, end)}" for number, (start, end, _) in enumerate(STAGES)) + " END"

    reached = each(lambda start, end: f"c.{end}_at")
    since = each(lambda start, end: f"c.{start}_at")
    finished = " OR ".join(f"(c.{end}_at >= :start_at AND c.{end}_at < :end_at)" for _, end, _ in STAGES)
    names = "CASE stage_no " + " ".join(f"WHEN {number} THEN '{start}'" for number, (start, _, _) in enumerate(STAGES)) + " END"
    spans = f"""stage_numbers (n) AS (VALUES {numbers}),
        spans AS (
            SELECT c.commune_id, s.n AS stage_no, {each(lambda start, end: sql.days_between(f"c.{start}_at", f"c.{end}_at"))} AS days
            FROM cases c JOIN stage_numbers s ON {reached} >= :start_at AND {reached} < :end_at AND {since} IS NOT NULL
            WHERE c.commune_id IN :communes AND ({finished}))"""
    median = sql.median("days")
    if median is not None:
        return scope.run(
            conn,
            f"""WITH {spans}
            SELECT commune_id, {names} AS stage, cases, median_days FROM (
                SELECT commune_id, stage_no, count(*) AS cases, {median} AS median_days FROM spans
                GROUP BY GROUPING SETS ((commune_id, stage_no), (stage_no))) AS m""",
        )
    middle = "rn IN ((n + 1) / 2, (n + 2) / 2)"  # the middle row, or the two middle rows of an even count
    return scope.run(
        conn,
        f"""WITH {spans},
        by_commune AS (SELECT commune_id, stage_no, days, row_number() OVER (PARTITION BY commune_id, stage_no ORDER BY days) AS rn,
                              count(*) OVER (PARTITION BY commune_id, stage_no) AS n FROM spans),
        by_unit AS (SELECT stage_no, days, row_number() OVER (PARTITION BY stage_no ORDER BY days) AS rn,
                           count(*) OVER (PARTITION BY stage_no) AS n FROM spans)
        SELECT commune_id, {names} AS stage, n AS cases, avg(days) AS median_days FROM by_commune WHERE {middle}
        GROUP BY commune_id, stage_no, n
        UNION ALL SELECT NULL, {names}, n, avg(days) FROM by_unit WHERE {middle} GROUP BY stage_no, n""",
    )


def departures_by_month(conn: Connection, scope: Scope) -> list[Any]:
    """Count the period's departures by commune and month of `departed_on` (YYYY-MM), one per application's departure record."""
    return scope.run(
        conn,
        f"""WITH {dated(scope, "departure", "r.report_day AS day")}
        SELECT commune_id, substr(day, 1, 7) AS month, count(*) AS departures FROM departure_rows GROUP BY 1, 2""",
    )


# The costliest first (bench/reports.py): services.indicators runs them in this order on several connections.
QUERIES: dict[str, Callable[[Connection, Scope], list[Any]]] = {
    "departures": departures,
    "stages": stages,
    "loans": loans,
    "deadlines": deadlines,
    "outcomes": outcomes,
    "backlog": backlog,
    "support": support,
    "departures_by_month": departures_by_month,
}
