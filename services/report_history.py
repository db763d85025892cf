"""A periodic report's tamper-evident history: appending an event to its chain, and verifying every report's chain.

A report event is hashed by the case history's own function (workflows.history.event_hash), the report's id in
the case's place and application 0; its triggers (report.*) are none of a case's, so no event of one chain can pass
for an event of the other. Verify recomputes each chain, compares its head with the report row, and proves the
figures the row holds against the last submission in the history, and each chain against every head an anchor
sealed of it (anchor_report_heads), so a chain rewritten wholesale or cut short after an anchor is found.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, literal_column, select, text

from services.audit import Finding
from services.models import AnchorReportHead, Report, ReportEvent, UtcDateTime
from services.users import Actor
from workflows.history import GENESIS, canonical_time, event_hash
from workflows.reports import DRAFTED, SUBMIT

_INSERT = text(
    """INSERT INTO report_events (report_id, seq, at, actor_id, department, trigger, from_state, to_state, record_kind,
                                  record_json, reason, prev_hash, hash)
    VALUES (:report_id, :seq, :at, :actor_id, :department, :trigger, :from_state, :to_state, :record_kind,
            :record_json, :reason, :prev_hash, :hash)"""
).bindparams(bindparam("at", type_=UtcDateTime))


@dataclass(frozen=True)
class Entry:
    """An event to append: the step, the states around it, and what it carries (the frozen figures, a reason)."""

    trigger: str
    from_state: str | None
    to_state: str
    record_kind: str | None = None
    record_json: str | None = None
    reason: str | None = None


def append(conn: Connection, report_id: int, last_seq: int, head_hash: str, actor: Actor | None, now: datetime, entry: Entry) -> str:
    """Append an event after the report's chain head; return its hash (the caller moves the head on the report row)."""
    at = now
    actor_id = actor.user_id if actor is not None else None
    department = actor.department if actor is not None else None
    seq = last_seq + 1
    digest = event_hash(
        report_id, seq, canonical_time(at), actor_id, department, entry.trigger, entry.from_state, entry.to_state, 0,
        entry.record_kind, entry.record_json, entry.reason, head_hash,
    )  # fmt: skip
    conn.execute(
        _INSERT,
        {
            "report_id": report_id, "seq": seq, "at": at, "actor_id": actor_id, "department": department, "trigger": entry.trigger,
            "from_state": entry.from_state, "to_state": entry.to_state, "record_kind": entry.record_kind,
            "record_json": entry.record_json, "reason": entry.reason, "prev_hash": head_hash, "hash": digest,
        },
    )  # fmt: skip
    return digest


def figures_hash(figures_json: str) -> str:
    """Return the sha256 of frozen figures' canonical JSON."""
    return hashlib.sha256(figures_json.encode()).hexdigest()


def heads_to_seal(conn: Connection) -> list[tuple[int, int, str]]:
    """Return the report chain heads (report, seq, hash) that moved since the last anchor that sealed them."""
    latest = (
        select(AnchorReportHead.report_id, func.max(AnchorReportHead.anchor_id).label("anchor_id"))
        .group_by(AnchorReportHead.report_id)
        .subquery()
    )
    sealed = (
        select(AnchorReportHead.report_id, AnchorReportHead.hash)
        .join(latest, and_(latest.c.report_id == AnchorReportHead.report_id, latest.c.anchor_id == AnchorReportHead.anchor_id))
        .subquery()
    )
    query = (
        select(Report.id, Report.last_seq, Report.head_hash)
        .outerjoin(sealed, sealed.c.report_id == Report.id)
        .where((sealed.c.hash.is_(None)) | (sealed.c.hash != Report.head_hash))
        .order_by(Report.id)
    )
    return [(report_id, seq, digest) for report_id, seq, digest in conn.execute(query)]


def sealed_heads(conn: Connection, report_id: int | None = None) -> list[Any]:
    """Return every report head the anchors sealed (anchor, report, seq, hash), in anchor then report order."""
    h = AnchorReportHead
    query = select(h.anchor_id, h.report_id, h.seq, h.hash).order_by(h.anchor_id, h.report_id)
    return list(conn.execute(query if report_id is None else query.where(h.report_id == report_id)))


# The time as verify reads it: the same canonical text the events were hashed with (services/audit.py does the same).
_AT = {
    "postgresql": func.to_char(func.timezone("UTC", ReportEvent.at), literal_column("'YYYY-MM-DD\"T\"HH24:MI:SS.US'")),
    "sqlite": func.replace(ReportEvent.at, " ", "T"),
}


def verify_reports(conn: Connection, report_id: int | None = None) -> tuple[int, int, list[Finding]]:
    """Recompute every report's chain (or one's); return how many reports and events were read and the first break of each."""
    e = ReportEvent
    events = select(e.id, e.report_id, e.seq, _AT[conn.dialect.name], e.actor_id, e.department, e.trigger, e.from_state,
                    e.to_state, e.record_kind, e.record_json, e.reason, e.prev_hash, e.hash).order_by(e.report_id, e.seq)  # fmt: skip
    heads = select(Report.id, Report.last_seq, Report.head_hash, Report.state, Report.figures, Report.figures_hash)
    if report_id is not None:
        events, heads = events.where(e.report_id == report_id), heads.where(Report.id == report_id)
    rows = {row.id: row for row in conn.execute(heads)}
    sealed: dict[int, dict[int, str]] = {}  # every head sealed of each report, not only the last: a later seal cannot launder a cut
    for _, sealed_report, seq, digest in sealed_heads(conn, report_id):
        sealed.setdefault(sealed_report, {})[seq] = digest
    reports, findings, count = len(rows), [], 0
    for chain, chain_events in groupby(conn.execute(events), key=itemgetter(1)):
        walked = list(chain_events)
        count += len(walked)
        head, seals = rows.pop(chain, None), sealed.pop(chain, {})
        reports += head is None
        finding = _walk(chain, walked, seals) or _check_sealed_end(chain, walked[-1], seals) or _check_head(chain, walked, head)
        if finding is not None:
            findings.append(finding)
    findings += [_finding(missing, None, None, "missing", "the report has no events left (deleted?)", "báo cáo không còn sự kiện nào (bị xóa?)")
                 for missing in sorted(rows)]  # fmt: skip
    findings += [_finding(gone, None, None, "anchor", "the report an anchor sealed is gone with its whole history",
                          "báo cáo mà mốc neo đã niêm phong đã mất cùng toàn bộ lịch sử") for gone in sorted(sealed)]  # fmt: skip
    return reports, count, findings


def _walk(report_id: int, events: list[Any], sealed: dict[int, str]) -> Finding | None:
    expected, prev = 1, GENESIS
    for row in events:
        event_id, _, seq, at, actor, dept, trigger, source, dest, kind, record, reason, prev_hash, digest = row
        if seq != expected:
            return _finding(report_id, seq, event_id, "missing" if seq > expected else "order",
                            f"report event {expected} is missing or out of order", f"thiếu hoặc sai thứ tự sự kiện {expected} của báo cáo")  # fmt: skip
        if prev_hash != prev:
            return _finding(report_id, seq, event_id, "link", f"report event {seq} does not follow event {seq - 1}",
                            f"sự kiện {seq} của báo cáo không nối tiếp sự kiện {seq - 1}")  # fmt: skip
        if event_hash(report_id, seq, at, actor, dept, trigger, source, dest, 0, kind, record, reason, prev_hash) != digest:
            return _finding(report_id, seq, event_id, "content", f"report event {seq} was changed after it was written (its hash does not match)",
                            f"sự kiện {seq} của báo cáo đã bị sửa sau khi ghi (mã băm không khớp)")  # fmt: skip
        if sealed.get(seq, digest) != digest:
            return _finding(report_id, seq, event_id, "anchor", f"report event {seq} differs from the value sealed in an anchor",
                            f"sự kiện {seq} của báo cáo khác với giá trị đã niêm phong trong mốc neo")  # fmt: skip
        expected, prev = seq + 1, digest
    return None


def _check_sealed_end(report_id: int, last: Any, sealed: dict[int, str]) -> Finding | None:
    """Name an intact chain that ends before the furthest head an anchor sealed of it (events cut off its end)."""
    furthest = max(sealed, default=0)
    if furthest <= last.seq:
        return None
    return _finding(report_id, last.seq, last.id, "anchor",
                    f"report events after {last.seq} are missing: an anchor sealed the chain up to event {furthest}",
                    f"thiếu các sự kiện sau số {last.seq} của báo cáo: mốc neo đã niêm phong chuỗi đến sự kiện {furthest}")  # fmt: skip


def _check_head(report_id: int, events: list[Any], head: Any) -> Finding | None:
    """Compare an intact chain's end with the report row: head, state, and the figures of its last submission."""
    last = events[-1]
    if head is None:
        return _finding(
            report_id,
            last.seq,
            last.id,
            "orphan",
            "events belong to a report that does not exist",
            "sự kiện thuộc một báo cáo không tồn tại",
        )
    if (last.seq, last.hash, last.to_state) != (head.last_seq, head.head_hash, head.state):
        return _finding(report_id, last.seq, last.id, "head", "the report row does not match the end of its history (changed outside the application)",
                        "báo cáo không khớp với cuối lịch sử của nó (bị sửa ngoài ứng dụng)")  # fmt: skip
    submitted = next((row.record_json for row in reversed(events) if row.trigger == SUBMIT), None)
    expected = None if head.state == DRAFTED else submitted
    if head.figures != expected or (expected is not None and head.figures_hash != figures_hash(expected)):
        return _finding(report_id, None, None, "figures", "the report's figures differ from those its submission froze",
                        "số liệu của báo cáo khác với số liệu đã chốt khi nộp")  # fmt: skip
    return None


def _finding(report_id: int, seq: int | None, event_id: int | None, code: str, en: str, vi: str) -> Finding:
    return Finding(None, seq, event_id, f"report.{code}", en, vi, report_id=report_id)
