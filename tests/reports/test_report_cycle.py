"""The reports' life with an injected clock: beat drafts each report once per period and commune, on its day; the
sweep reminds and escalates an unsubmitted one like any clock; submitting freezes the figures and silences the clock."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text

from config.settings import Settings
from services import audit, deadlines, outbox, reports, work, work_queries
from services.models import AdminUnit, Deadline, DeadlineRung, Notification, Report, User
from services.runtime import Runtime, build_runtime
from tests import factories as f
from workflows.calendar import local_date
from workflows.errors import Conflict, Forbidden

OTHER = "CB-NAMTUAN"
# Worked out by hand from the calendar: 10 working days before Tuesday 30 June 2026 and Thursday 31 December 2026.
HALF_YEAR_DRAFT, YEARLY_DRAFT = date(2026, 6, 16), date(2026, 12, 17)
# The standard ladder around each due day: -3 working days, the day, +1 and +7 working days (1 January is a holiday).
HALF_YEAR_RUNGS = [date(2026, 6, 25), date(2026, 6, 30), date(2026, 7, 1), date(2026, 7, 9)]
YEARLY_RUNGS = [date(2026, 12, 28), date(2026, 12, 31), date(2027, 1, 4), date(2027, 1, 12)]
RECIPIENTS = ["owner", "owner", "commune_supervisor", "province_supervisor"]


def _at(day: date, hour: int = 9) -> datetime:
    """Return a Vietnam-local hour of a day as a UTC moment."""
    return datetime(day.year, day.month, day.day, hour - 7, tzinfo=UTC)


def _walk_day(rt: Runtime, day: date, fired: list[tuple[date, deadlines.Fired]]) -> list[int]:
    """Do what beat does on a day: draft at 07:00, sweep at 08:00 (the rungs' hour), hand every message to its consumer."""
    rt.clock.moment = _at(day, 7)  # type: ignore[attr-defined]
    drafted = reports.draft_due(rt)
    rt.clock.moment = _at(day, 8)  # type: ignore[attr-defined]
    for rung in deadlines.sweep(rt):
        fired.append((day, rung))
        outbox.handle(rt, Settings(), rung.message_id)
    return drafted


def _report_of(rt: Runtime, code: str, kind: str, year: int) -> int:
    with rt.unit_of_work(writes=False) as conn:
        unit = conn.scalar(select(AdminUnit.id).where(AdminUnit.code == code))
        return int(conn.scalar(select(Report.id).where(Report.unit_id == unit, Report.kind == kind, Report.year == year)))


def _rungs_by_report(rt: Runtime, fired: list[tuple[date, deadlines.Fired]]) -> dict[int, list[tuple[date, str, str]]]:
    with rt.unit_of_work(writes=False) as conn:
        report_of = dict(conn.execute(select(Deadline.id, Deadline.report_id)).all())
    found: dict[int, list[tuple[date, str, str]]] = {}
    for day, rung in fired:
        found.setdefault(report_of[rung.deadline_id], []).append((day, rung.action, rung.recipient))
    return found


def test_a_year_of_beats_drafts_each_report_once_on_its_day_and_escalates_the_unsubmitted(rt, actors, other_commune):
    fired: list[tuple[date, deadlines.Fired]] = []
    drafted_on: dict[int, date] = {}
    submitted = None
    day = date(2026, 2, 1)  # the 2025 reports' drafting grace is over: the walk sees the 2026 periods only
    while day <= date(2027, 1, 31):
        for report_id in _walk_day(rt, day, fired):
            drafted_on[report_id] = day
        if day == date(2026, 6, 22):  # Xã Cẩm Tân submits its 6-month report, before any reminder
            ours = _report_of(rt, f.COMMUNE, "half_year", 2026)
            submitted = reports.submit(rt, actors["social_policy"], ours, version=1)
        _walk_day(rt, day, fired)  # a second beat the same day (or a re-run) drafts nothing and fires nothing again
        day += timedelta(days=1)

    ids = {(code, kind): _report_of(rt, code, kind, 2026) for code in (f.COMMUNE, OTHER) for kind in ("half_year", "yearly")}
    assert drafted_on == {
        ids[f.COMMUNE, "half_year"]: HALF_YEAR_DRAFT, ids[OTHER, "half_year"]: HALF_YEAR_DRAFT,
        ids[f.COMMUNE, "yearly"]: YEARLY_DRAFT, ids[OTHER, "yearly"]: YEARLY_DRAFT,
    }  # fmt: skip
    with rt.unit_of_work(writes=False) as conn:
        assert conn.scalar(text("SELECT count(*) FROM reports")) == 4
    by_report = _rungs_by_report(rt, fired)
    # The submitted report: not one reminder; its rungs were cancelled when it was submitted.
    assert ids[f.COMMUNE, "half_year"] not in by_report
    assert submitted is not None and submitted["state"] == "submitted" and not submitted["late"]
    assert submitted["figures"]["unit_code"] == f.COMMUNE and submitted["figures"]["end"] == "2026-06-30" and submitted["figures_hash"]
    with rt.unit_of_work(writes=False) as conn:
        ours = select(DeadlineRung.status).join(Deadline).where(Deadline.report_id == ids[f.COMMUNE, "half_year"])
        assert set(conn.scalars(ours)) == {"cancelled"}
    # The others: every rung of the ladder, each once, on its day, up to the province.
    assert by_report[ids[OTHER, "half_year"]] == list(
        zip(HALF_YEAR_RUNGS, ["remind", "remind", "escalate", "escalate"], RECIPIENTS, strict=True)
    )
    for code in (f.COMMUNE, OTHER):
        assert by_report[ids[code, "yearly"]] == list(
            zip(YEARLY_RUNGS, ["remind", "remind", "escalate", "escalate"], RECIPIENTS, strict=True)
        )


def test_the_escalations_reach_the_communes_and_the_provinces_supervisors(rt, actors):
    fired: list[tuple[date, deadlines.Fired]] = []
    day = YEARLY_DRAFT
    while day <= YEARLY_RUNGS[-1]:
        _walk_day(rt, day, fired)
        day += timedelta(days=1)
    report_id = _report_of(rt, f.COMMUNE, "yearly", 2026)
    with rt.unit_of_work(writes=False) as conn:
        rows = conn.execute(select(User.username, Notification.data).join(User, User.id == Notification.user_id)).all()
    told = Counter((name, data["action"]) for name, data in rows if data.get("report_id") == report_id)
    assert told == {("social_policy", "remind"): 2, ("supervisor", "escalate"): 1, ("province_supervisor", "escalate"): 1}
    subjects = {data["subject"] for name, data in rows if name == "province_supervisor"}
    assert subjects == {
        f"[guestwork] Quá hạn, báo cáo lãnh đạo: Báo cáo năm về đưa người lao động đi làm việc ở nước ngoài — báo cáo số {report_id} (social_policy), hạn 31/12/2026"
    }


def test_the_draft_waits_in_the_social_policy_inbox_and_submitting_closes_it(rt, actors):
    rt.clock.moment = _at(HALF_YEAR_DRAFT)
    [report_id] = reports.draft_due(rt)
    [item] = [i for i in work_queries.inbox(rt, actors["social_policy"], department="social_policy", communes=actors["social_policy"].communes,
                                    now=rt.clock.now()) if i["report_id"] == report_id]  # fmt: skip
    assert item["kind"] == "report.half_year" and item["state"] == "drafted" and item["village"] == "Xã Cẩm Tân"
    with pytest.raises(Conflict) as refused:
        work.complete(rt, actors["social_policy"], work.claim(rt, actors["social_policy"], item["id"]).id)  # submitting finishes it
    assert refused.value.problems[0].code == "work.report_item"
    with pytest.raises(Conflict) as refused:
        work.reassign(rt, actors["supervisor"], item["id"], "social_policy", "Nghỉ phép")
    assert refused.value.problems[0].code == "work.report_item"
    assert work_queries.counts(rt, rt.clock.now(), actors["supervisor"].communes)["social_policy"]["claimed"] == 1
    reports.submit(rt, actors["social_policy"], report_id, version=1)
    assert not [i for i in work_queries.inbox(rt, None, department="social_policy", now=rt.clock.now()) if i["report_id"] == report_id]
    assert "social_policy" not in work_queries.counts(rt, rt.clock.now(), actors["supervisor"].communes)


def test_a_stale_version_is_refused_and_nothing_is_written(rt, actors):
    rt.clock.moment = _at(HALF_YEAR_DRAFT)
    [report_id] = reports.draft_due(rt)
    reports.submit(rt, actors["social_policy"], report_id, version=1)
    with pytest.raises(Conflict) as refused:
        reports.submit(rt, actors["supervisor"], report_id, version=1)
    assert refused.value.http_status == 409 and refused.value.problems[0].code == "report.stale"
    assert [e["trigger"] for e in reports.get(rt, actors["supervisor"], report_id)["history"]] == ["report.draft", "report.submit"]


def test_the_province_returns_a_report_with_a_reason_and_it_is_due_again(rt, actors):
    rt.clock.moment = _at(HALF_YEAR_DRAFT)
    [report_id] = reports.draft_due(rt)
    with pytest.raises(Forbidden):
        reports.submit(rt, actors["province_supervisor"], report_id, version=1)  # the commune submits, not the province
    reports.submit(rt, actors["social_policy"], report_id, version=1)
    with pytest.raises(Forbidden):
        reports.return_report(rt, actors["supervisor"], report_id, 2, "Thiếu số liệu")  # the commune cannot return its own
    back = reports.return_report(rt, actors["province_supervisor"], report_id, 2, "Thiếu số liệu vay vốn")
    assert back["state"] == "drafted" and back["version"] == 3 and back["figures"] is None
    assert back["history"][-1]["reason"] == "Thiếu số liệu vay vốn" and back["history"][-1]["actor"] == "province_supervisor"
    [clock] = [d for d in _open_clocks(rt) if d.report_id == report_id]
    assert local_date(clock.due_at) == date(2026, 6, 30)  # returned early: the due day stands (5 working days would be 23 June)


def test_a_report_returned_after_its_due_day_is_due_again_and_not_late_when_resubmitted_in_time(rt, actors):
    rt.clock.moment = _at(HALF_YEAR_DRAFT)
    [report_id] = reports.draft_due(rt)
    reports.submit(rt, actors["social_policy"], report_id, version=1)
    rt.clock.moment = _at(date(2026, 7, 10))  # a Friday, after the due day
    back = reports.return_report(rt, actors["province_supervisor"], report_id, 2, "Thiếu số liệu vay vốn")
    assert back["due_on"] == date(2026, 7, 17) and not back["late"]  # 5 working days later
    rt.clock.moment = _at(date(2026, 7, 15))
    again = reports.submit(rt, actors["social_policy"], report_id, version=3)
    assert again["state"] == "submitted" and not again["late"]


def _open_clocks(rt: Runtime) -> list[Deadline]:
    with rt.unit_of_work(writes=False) as conn:
        return list(conn.execute(select(Deadline).where(Deadline.status == "open")).all())


def test_an_officer_of_another_commune_may_not_submit_or_read(rt, actors, other_commune):
    rt.clock.moment = _at(HALF_YEAR_DRAFT)
    reports.draft_due(rt)
    ours = _report_of(rt, f.COMMUNE, "half_year", 2026)
    for name in ("b_social_policy", "b_supervisor"):
        with pytest.raises(Forbidden):
            reports.submit(rt, other_commune[name], ours, version=1)
        with pytest.raises(Forbidden):
            reports.get(rt, other_commune[name], ours)
    with pytest.raises(Forbidden):
        reports.submit(rt, actors["enterprise"], ours, version=1)  # another department of the same commune
    assert reports.get(rt, actors["auditor"], ours)["state"] == "drafted"


def test_verify_names_a_tampered_report_event_and_a_changed_figure(rt, actors):
    rt.clock.moment = _at(HALF_YEAR_DRAFT)
    [report_id] = reports.draft_due(rt)
    reports.submit(rt, actors["social_policy"], report_id, version=1)
    with rt.unit_of_work(writes=False) as conn:
        assert audit.verify(conn).ok
    with rt.unit_of_work() as conn:
        conn.execute(
            text("UPDATE reports SET figures = replace(figures, '\"departures\"', '\"Departures\"') WHERE id = :id"), {"id": report_id}
        )
    with rt.unit_of_work(writes=False) as conn:
        [finding] = audit.verify(conn).findings
    assert (finding.report_id, finding.code) == (report_id, "report.figures")
    _tamper_event(rt, report_id)
    with rt.unit_of_work(writes=False) as conn:
        [finding] = audit.verify(conn).findings
    assert (finding.report_id, finding.seq, finding.code) == (report_id, 2, "report.content")


def _tamper_event(rt: Runtime, report_id: int) -> None:
    """Change a submitted event's frozen figures as someone with the database's owner rights would (past the trigger)."""
    with rt.unit_of_work() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE report_events DISABLE TRIGGER report_events_append_only"))
        else:
            conn.execute(text("DROP TRIGGER report_events_no_update"))
        sql = "UPDATE report_events SET record_json = replace(record_json, '\"departures\"', '\"Departures\"') WHERE report_id = :id AND seq = 2"
        conn.execute(text(sql), {"id": report_id})


def test_the_report_history_refuses_update_and_delete(rt, actors):
    rt.clock.moment = _at(HALF_YEAR_DRAFT)
    assert reports.draft_due(rt)
    for statement in ("UPDATE report_events SET reason = 'x'", "DELETE FROM report_events"):
        with pytest.raises(Exception, match="append-only"), rt.unit_of_work() as conn:
            conn.execute(text(statement))


@pytest.mark.postgres
def test_two_drafting_runs_at_once_write_one_report_per_commune(postgres_engine, clock):
    runtimes = [build_runtime(Settings(), engine=postgres_engine, clock=clock) for _ in range(2)]
    clock.moment = _at(HALF_YEAR_DRAFT)
    start = threading.Barrier(2)
    drafted: list[list[int]] = []

    def run(rt: Runtime) -> None:
        start.wait()
        drafted.append(reports.draft_due(rt))

    threads = [threading.Thread(target=run, args=(rt,)) for rt in runtimes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with runtimes[0].unit_of_work(writes=False) as conn:
        rows = conn.execute(text("SELECT unit_id, count(*) FROM reports GROUP BY unit_id")).all()
        items = conn.scalar(text("SELECT count(*) FROM work_items WHERE report_id IS NOT NULL"))
        clocks = conn.scalar(text("SELECT count(*) FROM deadlines WHERE report_id IS NOT NULL"))
    assert rows and all(count == 1 for _, count in rows)
    assert sorted(drafted[0] + drafted[1]) == sorted(set(drafted[0] + drafted[1])) and len(drafted[0] + drafted[1]) == len(rows)
    assert items == clocks == len(rows)
