"""The figures the reports count (migration 0015's columns derived from each record's text) and the indexes they are read through."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import text

from services.indicator_queries import PRIORITY_GROUPS
from tests.reports import seed as s

DATED = {"departure": ("departed_on",), "loan": ("decided_on", "declared_on"), "return": ("returned_on",),
         "overstay": ("reported_on",), "death": ("reported_on",)}  # fmt: skip
CODES = {"counselling": "market_code", "return": "reason", "overstay": "kind", "death": "kind"}


def expected(kind: str, data: dict) -> tuple:
    """Return (day, code, flags, amount) of a record as the reports must count it, read here from its JSON."""
    day = next((data[name] for name in DATED.get(kind, ()) if data.get(name)), None)
    flags, amount = None, None
    if kind == "registration":
        flags = sum(1 << i for i, name in enumerate(PRIORITY_GROUPS) if data.get("priority", {}).get(name))
    elif kind == "training":
        vocational = data.get("vocational")
        flags = 1 + (2 if isinstance(vocational, dict) else 0) + (4 if isinstance(vocational, dict) and vocational.get("in_depth") else 0)
    elif kind == "loan":
        flags = 1 if data["financing"] == "bank_loan" else 0
        amount = data["amount_vnd"] if flags else None
    return day, data.get(CODES[kind]) if kind in CODES else None, flags, amount


def test_the_report_figures_are_those_of_the_record_text(rt, clock, actors):
    people = s.workers(count=12)
    s.seed(rt, clock, s.add_communes(rt), people)
    with rt.unit_of_work(writes=False) as conn:
        rows = conn.execute(text("SELECT kind, data, report_day, report_code, report_flags, report_amount FROM case_records")).all()
    kinds = {row.kind for row in rows}
    assert {"registration", "counselling", "training", "loan", "departure"} <= kinds, kinds
    for row in rows:
        assert (row.report_day, row.report_code, row.report_flags, row.report_amount) == expected(row.kind, json.loads(row.data)), row.kind


def _plan(conn, query: str, params: dict) -> str:
    postgres = conn.dialect.name == "postgresql"
    if postgres:  # the table is nearly empty: let the planner show which index it would take
        conn.execute(text("SET LOCAL enable_seqscan = off"))
    explain = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
    return " ".join(str(row) for row in conn.execute(text(explain + query), params))


@pytest.mark.parametrize("kind", sorted(DATED))
def test_each_dated_kind_is_read_through_the_report_day_index(rt, kind):
    query = f"SELECT case_id, report_code, report_flags, report_amount FROM case_records r WHERE r.kind = '{kind}' AND r.report_day BETWEEN :start AND :end"
    with rt.unit_of_work(writes=False) as conn:
        plan = _plan(conn, query, {"start": str(date(2025, 1, 1)), "end": str(date(2025, 12, 31))})
    assert "ix_case_records_report_day" in plan, plan


def test_a_departures_figure_records_are_read_through_the_figures_index(rt):
    query = """SELECT kind, report_code, report_flags FROM case_records x WHERE x.case_id = :case AND x.application_no = 1
               AND x.kind IN ('registration', 'counselling', 'training')"""
    with rt.unit_of_work(writes=False) as conn:
        plan = _plan(conn, query, {"case": 1})
    assert "ix_case_records_report_figures" in plan, plan
