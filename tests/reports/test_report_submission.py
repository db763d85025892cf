"""Submitting a report on PostgreSQL: the figures it freezes come from one snapshot, and of two submissions at once
one is refused with 409 (never a 500) and one event is written; a row it writes that changed meanwhile (a claim of
its item, a sweep of its clock) makes it try once more, not fail."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from services import indicator_queries, reports
from tests.reports.test_report_cycle import HALF_YEAR_DRAFT, _at
from tests.reports.test_rollup_connections import _watched
from workflows.errors import Conflict

pytestmark = pytest.mark.parametrize("engine", ["postgres"], indirect=True)


def test_the_figures_frozen_by_a_submission_come_from_one_snapshot(rt, actors, monkeypatch):
    rt.clock.moment = _at(HALF_YEAR_DRAFT)
    [report_id] = reports.draft_due(rt)
    seen: list[tuple[str, str, str, int]] = []
    _watched(rt, monkeypatch, seen)  # another transaction commits before each query: a statement's own snapshot would differ
    submitted = reports.submit(rt, actors["social_policy"], report_id, version=1)
    assert submitted["state"] == "submitted"
    assert {name for name, *_ in seen} == set(indicator_queries.QUERIES)
    assert len({snapshot for _, snapshot, _, _ in seen}) == 1, "the figures were read on more than one snapshot"
    assert {flag for _, _, flag, _ in seen} == {"off"}  # the submission writes, so its transaction is not read-only


def test_two_submissions_at_once_give_one_submission_and_one_409(rt, actors, monkeypatch):
    rt.clock.moment = _at(HALF_YEAR_DRAFT)
    [report_id] = reports.draft_due(rt)
    # The first submission waits in its figures until the second is blocked on the report's row.
    first_in, second_blocked = threading.Event(), threading.Event()
    departures = indicator_queries.QUERIES["departures"]

    def slow_departures(conn, scope):
        if not first_in.is_set():
            first_in.set()
            assert second_blocked.wait(10), "the second submission never waited on the report's row lock"
        return departures(conn, scope)

    monkeypatch.setitem(indicator_queries.QUERIES, "departures", slow_departures)
    outcomes: dict[str, object] = {}

    def submit(who: str) -> None:
        try:
            outcomes[who] = reports.submit(rt, actors[who], report_id, version=1)["state"]
        except Conflict as refused:
            outcomes[who] = refused

    first = threading.Thread(target=submit, args=("social_policy",))
    first.start()
    assert first_in.wait(10)
    second = threading.Thread(target=submit, args=("supervisor",))
    second.start()
    deadline = time.monotonic() + 10
    with rt.engine.connect() as watcher:
        while not watcher.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
        ):
            assert time.monotonic() < deadline, "the second submission did not reach the report's row lock"
            time.sleep(0.01)
    second_blocked.set()
    first.join(20)
    second.join(20)
    assert outcomes["social_policy"] == "submitted"
    refused = outcomes["supervisor"]
    assert isinstance(refused, Conflict) and refused.http_status == 409 and refused.problems[0].code == "report.stale"
    history = reports.get(rt, actors["supervisor"], report_id)["history"]
    assert [event["trigger"] for event in history] == ["report.draft", "report.submit"]


def test_a_claim_committed_during_a_submission_does_not_refuse_it(rt, actors, monkeypatch):
    rt.clock.moment = _at(HALF_YEAR_DRAFT)
    [report_id] = reports.draft_due(rt)
    load, claimed = reports._load, []

    def load_then_claim(conn, report, *, lock=False):
        found = load(conn, report, lock=lock)
        if lock and not claimed:  # after the submission's snapshot, before it closes the item: someone claims it
            with rt.engine.begin() as other:
                claimed.append(other.execute(text(
                    "UPDATE work_items SET status = 'claimed', assignee_id = :user WHERE report_id = :id RETURNING id"
                ), {"user": actors["social_policy"].user_id, "id": report_id}).scalar_one())  # fmt: skip
        return found

    monkeypatch.setattr(reports, "_load", load_then_claim)
    submitted = reports.submit(rt, actors["supervisor"], report_id, version=1)
    assert claimed and submitted["state"] == "submitted"  # the second attempt, on a fresh snapshot, went through
    assert [event["trigger"] for event in submitted["history"]] == ["report.draft", "report.submit"]
