"""The dated-record queries find their rows through migration 0010's expression indexes (the expressions must agree)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from services.report_sql import RECORD_DAYS, JsonSql


@pytest.mark.parametrize("kind", sorted(RECORD_DAYS))
def test_each_dated_kind_is_read_through_its_index(rt, kind):
    with rt.unit_of_work(writes=False) as conn:
        sql = JsonSql(conn.dialect.name)
        query = f"SELECT case_id FROM case_records r WHERE r.kind = '{kind}' AND {sql.record_day(kind, 'r.data')} BETWEEN :start AND :end"
        explain = "EXPLAIN QUERY PLAN " if sql.dialect == "sqlite" else "EXPLAIN "
        if sql.postgres:  # the table is nearly empty: let the planner show which index it would take
            conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = " ".join(
            str(row) for row in conn.execute(text(explain + query), {"start": str(date(2025, 1, 1)), "end": str(date(2025, 12, 31))})
        )
    assert f"ix_case_records_{kind}_day" in plan, plan
