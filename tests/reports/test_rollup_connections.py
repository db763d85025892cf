"""A province roll-up on PostgreSQL reads on several connections: one snapshot, read only, and nothing held after an error."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from services import indicator_queries, indicators
from tests.reports.test_indicators import END, START, seeded  # noqa: F401 (the fixture is used by name)

pytestmark = pytest.mark.parametrize("engine", ["postgres"], indirect=True)


def _watched(rt, monkeypatch, seen):
    """Wrap every query so it records its connection's snapshot and read-only flag after another transaction committed."""

    def watch(name, query):
        def run(conn, scope):
            with rt.engine.connect() as other:  # a commit between the queries: a snapshot taken now would differ
                other.execute(text("SELECT pg_current_xact_id()"))
                other.commit()
            snapshot = conn.scalar(text("SELECT pg_current_snapshot()::text"))
            seen.append((name, snapshot, conn.scalar(text("SHOW transaction_read_only")), threading.get_ident()))
            return query(conn, scope)

        return run

    monkeypatch.setattr(indicator_queries, "QUERIES", {n: watch(n, q) for n, q in indicator_queries.QUERIES.items()})
    monkeypatch.setattr(indicators, "QUERIES", indicator_queries.QUERIES)


def test_every_query_of_a_rollup_reads_the_one_snapshot_read_only(rt, actors, seeded, monkeypatch):  # noqa: F811
    seen: list[tuple[str, str, str, int]] = []
    _watched(rt, monkeypatch, seen)
    got = indicators.indicators(rt, actors["province_supervisor"], "38", START, END)
    assert got["total"]["departures"]["total"] > 0
    assert {name for name, *_ in seen} == set(indicator_queries.QUERIES)
    assert len({thread for *_, thread in seen}) == indicators.REPORT_CONNECTIONS  # the helpers did take queries
    assert len({snapshot for _, snapshot, _, _ in seen}) == 1 and {flag for _, _, flag, _ in seen} == {"on"}


def test_a_failing_query_fails_the_rollup_and_holds_no_connection(rt, actors, seeded, monkeypatch):  # noqa: F811
    def broken(conn, scope):
        raise RuntimeError("the support query broke")

    monkeypatch.setitem(indicator_queries.QUERIES, "support", broken)
    with pytest.raises(RuntimeError, match="the support query broke"):
        indicators.indicators(rt, actors["province_supervisor"], "38", START, END)
    assert rt.engine.pool.checkedout() == 0
    monkeypatch.undo()  # mended: the next roll-up works
    assert indicators.indicators(rt, actors["province_supervisor"], "38", START, END)["total"]["departures"]["total"] > 0


def test_when_other_rollups_hold_the_helpers_a_rollup_runs_on_its_own_connection(rt, actors, seeded, monkeypatch):  # noqa: F811
    seen: list[tuple[str, str, str, int]] = []
    _watched(rt, monkeypatch, seen)
    held = [indicators._HELPERS_FREE.acquire(blocking=False) for _ in range(8)]
    try:
        got = indicators.indicators(rt, actors["province_supervisor"], "38", START, END)
    finally:
        for taken in held:
            if taken:
                indicators._HELPERS_FREE.release()
    assert got["total"]["departures"]["total"] > 0 and len({thread for *_, thread in seen}) == 1
