"""Proving the history: verify every chain and anchor, and seal the chain heads in a new anchor."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from services.models import Anchor, AnchorHead, Case, Event
from workflows.history import GENESIS, anchor_hash, canonical_time, event_hash

_EVENT_COLUMNS = (
    Event.id,
    Event.case_id,
    Event.seq,
    Event.at,
    Event.actor_id,
    Event.department,
    Event.trigger,
    Event.from_state,
    Event.to_state,
    Event.application_no,
    Event.record_kind,
    Event.record_json,
    Event.reason,
    Event.prev_hash,
    Event.hash,
)


@dataclass(frozen=True)
class Finding:
    """The first thing wrong in one chain (or one anchor), named so a supervisor can look at it."""

    case_id: int | None
    seq: int | None
    event_id: int | None
    code: str
    en: str
    vi: str


@dataclass
class VerifyReport:
    """What verify read and what it found."""

    cases: int = 0
    events: int = 0
    anchors: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Tell whether every chain and anchor checked out."""
        return not self.findings


class _Chain:
    """Walks one case's events in order, remembering the first break."""

    def __init__(self, case_id: int) -> None:
        self.case_id, self.expected_seq, self.prev_hash, self.last_event = case_id, 1, GENESIS, None
        self.finding: Finding | None = None

    def check(self, row: Any) -> None:
        if self.finding is not None:
            return
        if row.seq != self.expected_seq:
            gap = row.seq > self.expected_seq
            self.fail(
                row,
                "missing" if gap else "order",
                f"event {self.expected_seq} is missing (deleted?)" if gap else f"event number {row.seq} is out of order",
                f"thiếu sự kiện số {self.expected_seq} (đã bị xóa?)" if gap else f"sự kiện số {row.seq} sai thứ tự",
            )
        elif row.prev_hash != self.prev_hash:
            self.fail(
                row,
                "link",
                f"event {row.seq} does not follow event {row.seq - 1} (inserted, reordered, or its predecessor was changed)",
                f"sự kiện {row.seq} không nối tiếp sự kiện {row.seq - 1} (bị chèn, đảo thứ tự, hoặc sự kiện trước bị sửa)",
            )
        elif _hash_of(row) != row.hash:
            self.fail(
                row,
                "content",
                f"event {row.seq} was changed after it was written (its hash does not match)",
                f"sự kiện {row.seq} đã bị sửa sau khi ghi (mã băm không khớp)",
            )
        self.expected_seq, self.prev_hash, self.last_event = row.seq + 1, row.hash, row

    def fail(self, row: Any, code: str, en: str, vi: str) -> None:
        self.finding = Finding(self.case_id, row.seq if row is not None else None, row.id if row is not None else None, code, en, vi)


def _hash_of(row: Any) -> str:
    return event_hash(
        row.case_id,
        row.seq,
        canonical_time(row.at),
        row.actor_id,
        row.department,
        row.trigger,
        row.from_state,
        row.to_state,
        row.application_no,
        row.record_kind,
        row.record_json,
        row.reason,
        row.prev_hash,
    )


def verify(conn: Connection, case_id: int | None = None) -> VerifyReport:
    """Recompute every chain (or one case's) and every anchor; name the first bad event of each."""
    started, report = time.perf_counter(), VerifyReport()
    heads_query = select(Case.id, Case.last_seq, Case.head_hash)
    events_query = select(*_EVENT_COLUMNS).order_by(Event.case_id, Event.seq)
    if case_id is not None:
        heads_query, events_query = heads_query.where(Case.id == case_id), events_query.where(Event.case_id == case_id)
    heads = {row.id: (row.last_seq, row.head_hash) for row in conn.execute(heads_query)}
    sealed = _sealed_heads(conn, report, case_id)
    chain: _Chain | None = None
    for row in conn.execution_options(yield_per=20_000).execute(events_query):
        if chain is None or row.case_id != chain.case_id:
            _finish(chain, heads, report)
            chain = _Chain(row.case_id)
        chain.check(row)
        expected = sealed.get((row.case_id, row.seq))
        if expected is not None and expected != row.hash and chain.finding is None:
            chain.fail(
                row,
                "anchor",
                f"event {row.seq} differs from the value sealed in an anchor",
                f"sự kiện {row.seq} khác với giá trị đã niêm phong trong mốc neo",
            )
        report.events += 1
    _finish(chain, heads, report)
    for missing in sorted(heads):
        report.findings.append(
            Finding(missing, 1, None, "missing", "the case has no events left (deleted?)", "hồ sơ không còn sự kiện nào (bị xóa?)")
        )
    report.cases += len(heads)
    report.findings.sort(key=lambda f: (f.case_id or 0, f.seq or 0))
    report.seconds = time.perf_counter() - started
    return report


def _finish(chain: _Chain | None, heads: dict[int, tuple[int, str]], report: VerifyReport) -> None:
    if chain is None:
        return
    head = heads.pop(chain.case_id, None)
    report.cases += 1
    last = chain.last_event
    if chain.finding is None and head is None:
        chain.fail(last, "orphan", "events belong to a case that does not exist", "sự kiện thuộc một hồ sơ không tồn tại")
    elif chain.finding is None and head is not None and last is not None and (last.seq, last.hash) != head:
        if last.seq < head[0]:
            en, vi = (
                f"events after {last.seq} are missing (the case records {head[0]})",
                f"thiếu các sự kiện sau số {last.seq} (hồ sơ ghi {head[0]})",
            )
        else:
            en, vi = (
                f"event {last.seq} is not the chain head the case records (inserted or changed?)",
                f"sự kiện {last.seq} không phải đầu chuỗi mà hồ sơ ghi (bị chèn hoặc sửa?)",
            )
        chain.fail(last, "head", en, vi)
    if chain.finding is not None:
        report.findings.append(chain.finding)


def _sealed_heads(conn: Connection, report: VerifyReport, case_id: int | None) -> dict[tuple[int, int], str]:
    """Check the anchor chain and return the heads it sealed, by (case, seq)."""
    heads_by_anchor: dict[int, list[tuple[int, int, str]]] = {}
    for row in conn.execute(select(AnchorHead.anchor_id, AnchorHead.case_id, AnchorHead.seq, AnchorHead.hash)):
        heads_by_anchor.setdefault(row.anchor_id, []).append((row.case_id, row.seq, row.hash))
    sealed: dict[tuple[int, int], str] = {}
    prev = GENESIS
    for anchor in conn.execute(select(Anchor.id, Anchor.prev_hash, Anchor.hash).order_by(Anchor.id)):
        heads = heads_by_anchor.get(anchor.id, [])
        report.anchors += 1
        if anchor.prev_hash != prev or anchor_hash(anchor.prev_hash, heads) != anchor.hash:
            report.findings.append(
                Finding(
                    None,
                    None,
                    None,
                    "anchor",
                    f"anchor {anchor.id} was changed or an anchor before it was removed",
                    f"mốc neo {anchor.id} đã bị sửa hoặc một mốc trước nó bị xóa",
                )
            )
        prev = anchor.hash
        sealed.update({(c, s): h for c, s, h in heads if case_id is None or c == case_id})
    return sealed


@dataclass(frozen=True)
class Sealed:
    """A new anchor: its id, hash and how many chain heads it sealed."""

    id: int
    hash: str
    heads: int


def seal(conn: Connection, now: datetime) -> Sealed | None:
    """Seal every chain head that moved since the last anchor into a new anchor; None if none moved."""
    heads = [
        (row.id, row.last_seq, row.head_hash)
        for row in conn.execute(select(Case.id, Case.last_seq, Case.head_hash).where(Case.last_seq != Case.anchored_seq).order_by(Case.id))
    ]
    if not heads:
        return None
    prev = conn.scalar(select(Anchor.hash).order_by(Anchor.id.desc()).limit(1)) or GENESIS
    digest = anchor_hash(prev, heads)
    anchor_id = conn.execute(
        insert(Anchor).returning(Anchor.id), {"at": now, "heads_count": len(heads), "prev_hash": prev, "hash": digest}
    ).scalar_one()
    conn.execute(insert(AnchorHead), [{"anchor_id": anchor_id, "case_id": c, "seq": s, "hash": h} for c, s, h in heads])
    conn.execute(
        update(Case).where(Case.id == bindparam("case_id")).values(anchored_seq=bindparam("seq")),
        [{"case_id": c, "seq": s} for c, s, _ in heads],
    )
    return Sealed(anchor_id, digest, len(heads))
