"""The commune's periodic reports: beat drafts them on time, the commune submits them, the province may return them.

A report is drafted once per (commune, kind, year): the unique key makes two beats, or a re-run, write one row. The
draft opens a work item in the owning department's inbox and a clock due on the report's due day with its reminder
ladder, so the deadline sweep reminds and escalates it like any clock. Submitting freezes the indicators of the period
(services.indicators) into the report's history and closes the item and the clock; a return reopens both.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Date, Integer, bindparam, text
from sqlalchemy.exc import DBAPIError

from services import indicators
from services.db import serialization_failure
from services.followups import OTHERS, add_rungs
from services.models import UtcDateTime
from services.plans import require_report_reader, unit_in_scope
from services.report_exports import Labels, labels_of
from services.report_history import Entry, append, figures_hash
from services.runtime import Runtime
from services.users import Actor
from workflows.calendar import local_date
from workflows.clocks import DUE_TIME, moment, plan_ladder
from workflows.errors import Conflict, Forbidden, NotFound, problem, required_reason
from workflows.history import GENESIS, canonical_json
from workflows.reports import DRAFT, DRAFTED, FIGURES, RETURN, SUBMIT, ReportKind, fire

_DATES = (bindparam("now", type_=UtcDateTime),)
# A commune that exists during the period and has no report of the kind and year yet.
_WITHOUT_REPORT = text(
    """SELECT a.id FROM admin_units a
    WHERE a.kind = 'commune' AND (a.valid_until IS NULL OR a.valid_until >= :start) AND (a.valid_from IS NULL OR a.valid_from <= :end)
      AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.unit_id = a.id AND r.kind = :kind AND r.year = :year)
    ORDER BY a.id"""
).bindparams(bindparam("start", type_=Date), bindparam("end", type_=Date))
# Of two drafting runs at once, the second waits on the key (PostgreSQL) or the write lock (SQLite), then writes nothing.
_NEW_REPORT = text(
    """INSERT INTO reports (unit_id, kind, year, period_start, period_end, due_on, state, version, drafted_at, last_seq, head_hash)
    VALUES (:unit_id, :kind, :year, :start, :end, :end, :state, 1, :now, 0, :genesis)
    ON CONFLICT (unit_id, kind, year) DO NOTHING RETURNING id"""
).bindparams(*_DATES, bindparam("start", type_=Date), bindparam("end", type_=Date))
_MOVE_HEAD = text("UPDATE reports SET last_seq = :seq, head_hash = :hash WHERE id = :id")
_OPEN_CLOCK = text(
    """INSERT INTO deadlines (report_id, application_no, clock, department, counted_from, due_at, status, opened_at)
    VALUES (:report_id, 0, :clock, :department, :counted_from, :due_at, 'open', :now) RETURNING id"""
).bindparams(*_DATES, bindparam("due_at", type_=UtcDateTime), bindparam("counted_from", type_=Date))
_OPEN_ITEM = text(
    """INSERT INTO work_items (report_id, application_no, kind, state, department, priority, due_at, status, opened_at)
    VALUES (:report_id, 0, :clock, :state, :department, :priority, :due_at, 'open', :now)"""
).bindparams(*_DATES, bindparam("due_at", type_=UtcDateTime))
_LOCK = {"postgresql": " FOR UPDATE OF r", "sqlite": ""}
_REPORT = """SELECT r.id, r.unit_id, r.kind, r.year, r.period_start, r.period_end, r.due_on, r.state, r.version, r.drafted_at,
           r.submitted_at, r.figures, r.figures_hash, r.last_seq, r.head_hash, a.code AS unit_code, a.name AS unit_name,
           a.parent_id AS province_id, (SELECT u.username FROM users u WHERE u.id = r.submitted_by) AS submitted_by
    FROM reports r JOIN admin_units a ON a.id = r.unit_id WHERE r.id = :id"""
_COLUMNS = {"period_start": Date, "period_end": Date, "due_on": Date, "drafted_at": UtcDateTime, "submitted_at": UtcDateTime}
_SUBMITTED = text(
    """UPDATE reports SET state = :state, version = version + 1, submitted_at = :now, submitted_by = :user_id,
           figures = :figures, figures_hash = :figures_hash, last_seq = :seq, head_hash = :hash
    WHERE id = :id AND version = :version"""
).bindparams(*_DATES)
# A returned report is due again soon (its kind's return_within, or its due day if later): its lateness counts from then.
_RETURNED = text(
    """UPDATE reports SET state = :state, version = version + 1, figures = NULL, figures_hash = NULL, last_seq = :seq, head_hash = :hash,
           due_on = :due_on
    WHERE id = :id AND version = :version"""
).bindparams(bindparam("due_on", type_=Date))
_CLOSE_CLOCK = text(
    "UPDATE deadlines SET status = 'closed', closed_at = :now WHERE report_id = :id AND status = 'open' RETURNING id"
).bindparams(*_DATES)
_CANCEL_RUNGS = text("UPDATE deadline_rungs SET status = 'cancelled' WHERE deadline_id = :deadline_id AND status = 'pending'")
_CLOSE_ITEM = text(
    """UPDATE work_items SET status = 'done', closed_at = :now, closed_by = :user_id
    WHERE report_id = :id AND status IN ('open', 'claimed')"""
).bindparams(*_DATES)


def draft_due(rt: Runtime, now: datetime | None = None) -> list[int]:
    """Draft every report whose drafting day has come for each commune that has none for its period; return the new ids."""
    now = now or rt.clock.now()
    drafted = []
    for kind, year in rt.reports.due_for_drafting(local_date(now)):
        start, end = kind.period(year)
        with rt.unit_of_work(writes=False) as conn:
            communes = list(conn.scalars(_WITHOUT_REPORT, {"kind": kind.name, "year": year, "start": start, "end": end}))
        for commune in communes:  # one transaction each: a commune's draft does not wait for the others
            with rt.unit_of_work() as conn:
                report_id = draft(conn, kind, year, commune, now)
            drafted += [report_id] if report_id is not None else []
    return drafted


def draft(conn: Connection, kind: ReportKind, year: int, commune_id: int, now: datetime) -> int | None:
    """Draft a commune's report of a kind and year with its work item and clock; None if it exists already."""
    start, end = kind.period(year)
    params = {"unit_id": commune_id, "kind": kind.name, "year": year, "start": start, "end": end, "now": now}
    report_id = conn.execute(_NEW_REPORT, {**params, "state": DRAFTED, "genesis": GENESIS}).scalar()
    if report_id is None:
        return None
    digest = append(conn, report_id, 0, GENESIS, None, now, Entry(DRAFT, None, DRAFTED))
    conn.execute(_MOVE_HEAD, {"id": report_id, "seq": 1, "hash": digest})
    _open_clock(conn, report_id, kind, end, now)
    return int(report_id)


def _open_clock(conn: Connection, report_id: int, kind: ReportKind, due_day: date, now: datetime) -> None:
    """Open the report's work item and its clock due at the end of the due day, with the kind's reminder ladder."""
    due_at = moment(due_day, DUE_TIME)
    values = {"report_id": report_id, "clock": kind.clock, "department": kind.department, "due_at": due_at, "now": now}
    deadline_id = conn.execute(_OPEN_CLOCK, {**values, "counted_from": local_date(now)}).scalar_one()
    add_rungs(conn, deadline_id, list(plan_ladder(kind.ladder, due_day)))
    conn.execute(_OPEN_ITEM, {**values, "state": DRAFTED, "priority": OTHERS})


def submit(rt: Runtime, actor: Actor, report_id: int, version: int) -> dict[str, Any]:
    """Submit a drafted report (its commune's owning officers or supervisor): freeze its figures, close its item and clock."""
    with rt.unit_of_work(writes=False) as conn:
        report = _load(conn, report_id)
    kind = _kind(rt, report)
    _check_commune_may_submit(actor, report, kind)
    _check_version(report, version)
    fire(report.state, SUBMIT)
    now = rt.clock.now()
    for attempt in (1, 2):
        try:
            _freeze(rt, actor, report_id, version, now)
            break
        except DBAPIError as error:
            # A row the submission writes (its clock, rungs or item: a sweep, a claim) changed after its snapshot; once
            # more on a fresh snapshot, where another submission that won shows as a stale version.
            if not serialization_failure(error):
                raise
            if attempt == 2:
                raise _changed_meanwhile(report_id) from error
    return get(rt, actor, report_id)


def _freeze(rt: Runtime, actor: Actor, report_id: int, version: int, now: datetime) -> None:
    """Write a submission in one transaction: close the report's clock and item, freeze its figures, record the event."""
    with rt.unit_of_work() as conn:
        # One snapshot for the whole submission (PostgreSQL: REPEATABLE READ; SQLite's write lock is one already),
        # so every figure frozen counts the same records; a row changed since the snapshot fails its write.
        indicators.begin_report(conn, read_only=False)
        report = _load(conn, report_id, lock=True)
        _check_version(report, version)
        _, source, dest = fire(report.state, SUBMIT)
        for deadline_id in conn.scalars(_CLOSE_CLOCK, {"id": report_id, "now": now}):
            conn.execute(_CANCEL_RUNGS, {"deadline_id": deadline_id})
        conn.execute(_CLOSE_ITEM, {"id": report_id, "now": now, "user_id": actor.user_id})
        # Read after the report's own clock closed, in this transaction: the figures count it as met (or late) by this submission.
        fresh = indicators.indicators_on(rt, conn, actor, report.unit_code, report.period_start, report.period_end, helpers=False)
        figures = canonical_json(_plain(fresh))
        entry = Entry(SUBMIT, source, dest, FIGURES, figures)
        digest = append(conn, report_id, report.last_seq, report.head_hash, actor, now, entry)
        changed = {"id": report_id, "version": version, "state": dest, "now": now, "user_id": actor.user_id, "figures": figures,
                   "figures_hash": figures_hash(figures), "seq": report.last_seq + 1, "hash": digest}  # fmt: skip
        conn.execute(_SUBMITTED, changed)


def return_report(rt: Runtime, actor: Actor, report_id: int, version: int, reason: str | None) -> dict[str, Any]:
    """Send a submitted report back to its commune with a reason (the province's supervisors); it is due again soon."""
    why = required_reason(reason, "Trả lại báo cáo phải ghi lý do.", "Returning a report needs a reason.")
    now = rt.clock.now()
    with rt.unit_of_work() as conn:
        report = _load(conn, report_id, lock=True)
        kind = _kind(rt, report)
        _check_province_may_return(actor, report)
        _check_version(report, version)
        _, source, dest = fire(report.state, RETURN)
        digest = append(conn, report_id, report.last_seq, report.head_hash, actor, now, Entry(RETURN, source, dest, reason=why))
        due_day = max(report.due_on, kind.return_within.after(local_date(now)))  # a return never shortens the time left
        returned = {"id": report_id, "version": version, "state": dest, "seq": report.last_seq + 1, "hash": digest, "due_on": due_day}
        conn.execute(_RETURNED, returned)
        _open_clock(conn, report_id, kind, due_day, now)
    return get(rt, actor, report_id)


def get(rt: Runtime, actor: Actor, report_id: int) -> dict[str, Any]:
    """Return a report with its frozen figures (once submitted), whether it is late, and its history."""
    with rt.unit_of_work(writes=False) as conn:
        report = _load(conn, report_id)
        _check_reads(actor, report)
        history = [dict(row._mapping) for row in conn.execute(_HISTORY, {"id": report_id})]
    return {**view(rt, report), "figures": json.loads(report.figures) if report.figures else None, "history": history}


def figures_of(rt: Runtime, actor: Actor, report_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return a report and its figures: those frozen at submission, or for a draft those it would freeze now."""
    shown = get(rt, actor, report_id)
    if shown["state"] == DRAFTED:
        return shown, indicators.indicators(rt, actor, shown["unit_code"], shown["period_start"], shown["period_end"])
    return shown, shown["figures"]


def export_labels(shown: dict[str, Any], figures: dict[str, Any]) -> Labels:
    """Return what a report's exports say they are: its kind and year, its unit and period."""
    return labels_of(figures, f"{shown['label_vi']} {shown['year']}", f"{shown['label_en']} {shown['year']}")


_HISTORY = text(
    """SELECT e.seq, e.at, e.trigger, e.from_state, e.to_state, e.reason, e.hash, e.prev_hash, u.username AS actor
    FROM report_events e LEFT JOIN users u ON u.id = e.actor_id WHERE e.report_id = :id ORDER BY e.seq"""
).columns(at=UtcDateTime)


def view(rt: Runtime, report: Any) -> dict[str, Any]:
    """Return what a list or a page shows of a report: its unit, period, state, version, submission and lateness."""
    kind = rt.reports.kinds.get(report.kind)
    due_at = moment(report.due_on, DUE_TIME)
    late = report.submitted_at > due_at if report.submitted_at is not None else rt.clock.now() > due_at
    return {
        "id": report.id, "unit_id": report.unit_id, "province_id": report.province_id, "unit_code": report.unit_code, "unit_name": report.unit_name, "kind": report.kind, "year": report.year,
        "label_vi": kind.label_vi if kind else report.kind, "label_en": kind.label_en if kind else report.kind,
        "period_start": report.period_start, "period_end": report.period_end, "due_on": report.due_on, "state": report.state,
        "version": report.version, "drafted_at": report.drafted_at, "submitted_at": report.submitted_at,
        "submitted_by": report.submitted_by, "late": late, "figures_hash": report.figures_hash,
    }  # fmt: skip


_LIST = (
    text(
        _REPORT.replace("WHERE r.id = :id", "WHERE r.unit_id IN :communes AND (:year IS NULL OR r.year = :year)")
        + " ORDER BY r.year DESC, r.due_on DESC, a.name, r.id"
    )
    .bindparams(bindparam("communes", expanding=True), bindparam("year", type_=Integer))
    .columns(**_COLUMNS)
)


def list_reports(rt: Runtime, actor: Actor, unit_code: str, year: int | None = None) -> dict[str, Any]:
    """List a commune's reports, or a province's communes' reports, newest period first, each submitted, drafted or late."""
    require_report_reader(actor)
    with rt.unit_of_work(writes=False) as conn:
        unit = unit_in_scope(conn, actor, unit_code)
        rows = conn.execute(_LIST, {"communes": sorted(unit.communes), "year": year}).all()
    return {"unit_code": unit.code, "unit_name": unit.name, "unit_kind": unit.kind, "reports": [view(rt, row) for row in rows]}


def _load(conn: Connection, report_id: int, *, lock: bool = False) -> Any:
    query = text(_REPORT + (_LOCK[conn.dialect.name] if lock else "")).columns(**_COLUMNS)
    row = conn.execute(query, {"id": report_id}).first()
    if row is None:
        raise NotFound([problem("report.unknown", f"Không có báo cáo số {report_id}.", f"No report {report_id}.", "report_id")])
    return row


def _kind(rt: Runtime, report: Any) -> ReportKind:
    kind = rt.reports.kinds.get(report.kind)
    if kind is None:  # the policy no longer names it: nothing may be done with it but read it
        vi, en = f"Loại báo cáo '{report.kind}' không còn trong cấu hình.", f"The report kind '{report.kind}' is no longer configured."
        raise Conflict([problem("report.kind", vi, en, "kind")])
    return kind


def _check_reads(actor: Actor, report: Any) -> None:
    """Let the commune's social-policy officers and the supervisors and auditors over it read a report."""
    require_report_reader(actor)
    if not actor.covers(report.unit_id):
        raise _outside(actor, report)


def may_submit(rt: Runtime, actor: Actor, report: dict[str, Any]) -> bool:
    """Tell whether a user may submit a report (a view of it) now: its commune's owning officers or supervisor."""
    return report["state"] == DRAFTED and _submits_for(actor, report["unit_id"], rt.reports.kinds.get(report["kind"]))


def may_return(actor: Actor, report: dict[str, Any]) -> bool:
    """Tell whether a user may return a report now: a supervisor of its commune's province, once it is submitted."""
    return report["state"] != DRAFTED and _returns_for(actor, report["province_id"])


def _submits_for(actor: Actor, commune_id: int, kind: ReportKind | None) -> bool:
    officer = actor.role == "officer" and kind is not None and actor.department == kind.department and actor.covers(commune_id)
    return officer or (actor.role == "supervisor" and actor.unit_id == commune_id)


def _returns_for(actor: Actor, province_id: int) -> bool:
    return actor.role == "supervisor" and actor.unit_id == province_id


def _check_commune_may_submit(actor: Actor, report: Any, kind: ReportKind) -> None:
    _check_reads(actor, report)
    if not _submits_for(actor, report.unit_id, kind):
        vi = f"Chỉ cán bộ bộ phận {kind.department} hoặc lãnh đạo của xã mới được nộp báo cáo của xã."
        en = f"Only the commune's {kind.department} officers or its supervisor may submit its report."
        raise Forbidden([problem("report.submitter", vi, en, "actor")])


def _check_province_may_return(actor: Actor, report: Any) -> None:
    _check_reads(actor, report)
    if not _returns_for(actor, report.province_id):
        vi, en = "Chỉ lãnh đạo cấp tỉnh mới được trả lại báo cáo của xã.", "Only the province's supervisors may return a commune's report."
        raise Forbidden([problem("report.returner", vi, en, "actor")])


def _outside(actor: Actor, report: Any) -> Forbidden:
    vi = f"Báo cáo số {report.id} là của {report.unit_name}, không thuộc đơn vị {actor.username} phụ trách."
    en = f"Report {report.id} belongs to {report.unit_name}, outside the units {actor.username} works for."
    return Forbidden([problem("report.other_unit", vi, en, "report_id")])


def _check_version(report: Any, version: int) -> None:
    if version != report.version:
        vi = f"Báo cáo số {report.id} đã được thay đổi từ phiên bản {version} (hiện là {report.version}); tải lại rồi thử lại."
        en = f"Report {report.id} was changed since version {version} (it is now {report.version}); reload and try again."
        raise Conflict([problem("report.stale", vi, en, "version")])


def _changed_meanwhile(report_id: int) -> Conflict:
    vi = f"Báo cáo số {report_id} vừa được người khác thay đổi trong lúc nộp; tải lại rồi thử lại."
    en = f"Report {report_id} was changed by someone else while you submitted it; reload and try again."
    return Conflict([problem("report.stale", vi, en, "version")])


def _plain(figures: dict[str, Any]) -> Any:
    """Return the figures as plain JSON values (days as ISO text), the form they are frozen in."""
    return json.loads(json.dumps(figures, default=str))
