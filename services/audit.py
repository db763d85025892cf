"""Proving the history: verify every chain and anchor, and seal the chain heads in a new anchor."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Engine, String, and_, bindparam, cast, func, insert, literal_column, or_, select, update
from sqlalchemy.orm import aliased
from sqlalchemy.pool import NullPool

from services.db import make_engine
from services.models import Anchor, AnchorHead, Case, CaseRecord, Event, Person
from workflows.history import GENESIS, AnchorHasher, anchor_hash, event_hash

# The database writes each event's time in canonical text (workflows.history.canonical_time), so
# verify neither parses nor formats a datetime per event: that was a third of its time.
_CANONICAL_AT = {
    "postgresql": func.to_char(func.timezone("UTC", Event.at), literal_column("'YYYY-MM-DD\"T\"HH24:MI:SS.US'")),
    "sqlite": func.replace(Event.at, " ", "T"),
}


def _event_columns(dialect: str) -> tuple[Any, ...]:
    return (
        Event.id, Event.case_id, Event.seq, _CANONICAL_AT[dialect], Event.actor_id, Event.department, Event.trigger, Event.from_state,
        Event.to_state, Event.application_no, Event.record_kind, Event.record_json, Event.reason, Event.prev_hash, Event.hash,
    )  # fmt: skip


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


def _finding(case_id: int, seq: int | None, event_id: int | None, code: str, en: str, vi: str) -> Finding:
    return Finding(case_id, seq, event_id, code, en, vi)


def verify_all(engine: Engine, workers: int | None = None) -> VerifyReport:
    """Verify the whole history with one process per core: chains are independent; anchors are checked once."""
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        with engine.connect().execution_options(writes=False) as conn:
            return verify(conn)
    started = time.perf_counter()
    url = engine.url.render_as_string(hide_password=False)
    report, current = VerifyReport(), VerifyReport()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        walking = pool.starmap_async(_verify_part, [(url, part, workers) for part in range(workers)])
        # Meanwhile the database proves the anchors and the current rows for the whole history.
        with engine.connect().execution_options(writes=False) as conn:
            _check_anchors(conn, report, None, None)
            _check_current(conn, current, None, None)
        parts = walking.get()
    for part in parts:
        report.cases, report.events = report.cases + part.cases, report.events + part.events
        report.findings += part.findings
    broken = {finding.case_id for finding in report.findings}
    report.findings += [finding for finding in current.findings if finding.case_id not in broken]
    report.findings.sort(key=lambda f: (f.case_id or 0, f.seq or 0))
    report.seconds = time.perf_counter() - started
    return report


def _verify_part(url: str, part: int, parts: int) -> VerifyReport:
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect().execution_options(writes=False) as conn:
            return verify(conn, part=(part, parts))
    finally:
        engine.dispose()


def verify(conn: Connection, case_id: int | None = None, *, part: tuple[int, int] | None = None) -> VerifyReport:
    """Recompute every chain (or one case's, or a share of them) and the anchors; name the first bad event of each chain."""
    started, report = time.perf_counter(), VerifyReport()
    heads_query = select(Case.id, Case.last_seq, Case.head_hash, Case.state, Case.application_no)
    events_query = select(*_event_columns(conn.dialect.name)).order_by(Event.case_id, Event.seq)
    if case_id is not None:
        heads_query, events_query = heads_query.where(Case.id == case_id), events_query.where(Event.case_id == case_id)
    if part is not None:
        heads_query = heads_query.where(Case.id % part[1] == part[0])
        events_query = events_query.where(Event.case_id % part[1] == part[0])
    heads = {row.id: (row.last_seq, row.head_hash, row.state, row.application_no) for row in conn.execute(heads_query)}
    sealed = _check_anchors(conn, report, case_id, part)
    rows = conn.execution_options(yield_per=20_000).execute(events_query)
    for chain_case, events in groupby(rows, key=itemgetter(1)):
        count, last, finding = _walk_chain(events, sealed.get(chain_case))
        report.events += count
        if finding is not None:
            report.cases += 1
            report.findings.append(finding)
            heads.pop(chain_case, None)
        else:
            _end_chain(report, chain_case, last, heads, sealed)
    report.cases += len(heads)
    for missing in sorted(heads):
        report.findings.append(
            _finding(missing, 1, None, "missing", "the case has no events left (deleted?)", "hồ sơ không còn sự kiện nào (bị xóa?)")
        )
    if part is None:  # a share's parent proves the current rows for all shares at once
        _check_current(conn, report, case_id, part)
    report.findings.sort(key=lambda f: (f.case_id or 0, f.seq or 0))
    report.seconds = time.perf_counter() - started
    return report


def _walk_chain(events: Iterator[Any], sealed_head: tuple[int, str] | None) -> tuple[int, Any, Finding | None]:
    """Walk one case's events in order; return how many, the last good one, and the first break."""
    expected, prev, count, last = 1, GENESIS, 0, None
    sealed_seq, sealed_hash = sealed_head or (0, "")
    for row in events:
        count += 1
        _, case_id, seq, at, actor, dept, trigger, source, dest, app_no, kind, record, reason, prev_hash, digest = row
        if (
            seq != expected
            or prev_hash != prev
            or event_hash(case_id, seq, at, actor, dept, trigger, source, dest, app_no, kind, record, reason, prev_hash) != digest
            or (seq == sealed_seq and digest != sealed_hash)
        ):
            return count + sum(1 for _ in events), last, _what_broke(row, expected, prev, sealed_hash)
        expected, prev, last = seq + 1, digest, row
    return count, last, None


def _check_current(conn: Connection, report: VerifyReport, case_id: int | None, part: tuple[int, int] | None) -> None:
    """Prove the current rows against the history: records, the worker's identity, the case's market.

    A current record must be, byte for byte, the record of the event it names, and no later event of
    its application may have replaced it; every record the history wrote must still be there.
    """
    broken = {finding.case_id for finding in report.findings}
    record, event = aliased(CaseRecord), aliased(Event)
    latest = _only(
        select(Event.case_id, Event.application_no, Event.record_kind, func.max(Event.seq).label("seq"))
        .where(Event.record_kind.is_not(None))
        .group_by(Event.case_id, Event.application_no, Event.record_kind),
        Event.case_id, case_id, part,
    ).subquery()  # fmt: skip
    same_slot = and_(
        latest.c.case_id == record.case_id, latest.c.application_no == record.application_no, latest.c.record_kind == record.kind
    )
    forged = (
        select(record.case_id, record.application_no, record.kind)
        .outerjoin(event, and_(event.case_id == record.case_id, event.seq == record.event_seq))
        .outerjoin(latest, same_slot)
        .where(or_(event.id.is_(None), event.record_kind != record.kind, event.record_json != record.data, latest.c.seq > record.event_seq))
    )
    missing = (
        select(latest.c.case_id, latest.c.application_no, latest.c.record_kind).outerjoin(record, same_slot).where(record.case_id.is_(None))
    )
    for query, column in ((forged, record.case_id), (missing, latest.c.case_id)):
        for found_case, app, kind in conn.execute(_only(query, column, case_id, part)):
            if found_case not in broken:
                broken.add(found_case)
                en = f"the current {kind} record (application {app}) does not match the history: changed outside the application"
                vi = f"hồ sơ hiện hành '{kind}' (lần {app}) không khớp với lịch sử: đã bị sửa ngoài ứng dụng"
                report.findings.append(_finding(found_case, None, None, "record", en, vi))
    for found_case in _identities_changed(conn, case_id, part):
        if found_case not in broken:
            en = "the worker's identity or the case's market does not match the history: changed outside the application"
            vi = "nhân thân người lao động hoặc thị trường của hồ sơ không khớp với lịch sử: đã bị sửa ngoài ứng dụng"
            report.findings.append(_finding(found_case, None, None, "person", en, vi))


def _only(query: Any, column: Any, case_id: int | None, part: tuple[int, int] | None) -> Any:
    if case_id is not None:
        query = query.where(column == case_id)
    if part is not None:
        query = query.where(column % part[1] == part[0])
    return query


def _identities_changed(conn: Connection, case_id: int | None, part: tuple[int, int] | None) -> Iterator[int]:
    """Yield the cases whose person row or market disagrees with their current records."""
    registration, counselling = aliased(CaseRecord), aliased(CaseRecord)
    query = (
        select(Case.id, Case.market_code, registration.data, counselling.data, *_PERSON)
        .join(Person, Person.id == Case.person_id)
        .outerjoin(registration, and_(registration.case_id == Case.id, registration.application_no == Case.application_no, registration.kind == "registration"))
        .outerjoin(counselling, and_(counselling.case_id == Case.id, counselling.application_no == Case.application_no, counselling.kind == "counselling"))
    )  # fmt: skip
    for found_case, market, registered, counselled, *person in conn.execution_options(yield_per=20_000).execute(
        _only(query, Case.id, case_id, part)
    ):
        facts = json.loads(registered) if registered else {}
        chosen = json.loads(counselled)["market_code"] if counselled else None
        if tuple(person) != tuple(str(facts.get(field)) for field in _PERSON_FIELDS) or market != chosen:
            yield found_case


_PERSON_FIELDS = ("full_name", "date_of_birth", "sex", "personal_id", "ethnicity", "phone")
_PERSON = tuple(cast(getattr(Person, field), String) for field in _PERSON_FIELDS)


def _what_broke(row: Any, expected: int, prev: str, sealed_hash: str) -> Finding:
    """Name the first check an event failed."""
    event_id, case_id, seq, *_, prev_hash, digest = row
    if seq != expected:
        if seq > expected:
            return _finding(
                case_id, seq, event_id, "missing", f"event {expected} is missing (deleted?)", f"thiếu sự kiện số {expected} (đã bị xóa?)"
            )
        return _finding(case_id, seq, event_id, "order", f"event number {seq} is out of order", f"sự kiện số {seq} sai thứ tự")
    if prev_hash != prev:
        return _finding(
            case_id, seq, event_id, "link",
            f"event {seq} does not follow event {seq - 1} (inserted, reordered, or its predecessor was changed)",
            f"sự kiện {seq} không nối tiếp sự kiện {seq - 1} (bị chèn, đảo thứ tự, hoặc sự kiện trước bị sửa)",
        )  # fmt: skip
    if event_hash(*row[1:14]) != digest:
        return _finding(
            case_id, seq, event_id, "content",
            f"event {seq} was changed after it was written (its hash does not match)", f"sự kiện {seq} đã bị sửa sau khi ghi (mã băm không khớp)",
        )  # fmt: skip
    return _finding(
        case_id, seq, event_id, "anchor",
        f"event {seq} differs from the value sealed in an anchor", f"sự kiện {seq} khác với giá trị đã niêm phong trong mốc neo",
    )  # fmt: skip


def _end_chain(
    report: VerifyReport, case_id: int, last: Any, heads: dict[int, tuple[int, str, str, int]], sealed: dict[int, tuple[int, str]]
) -> None:
    """Compare the end of an intact chain with the head its case row records and the last anchor sealed."""
    report.cases += 1
    head = heads.pop(case_id, None)
    event_id, seq, state, application_no, digest = last[0], last[2], last[8], last[9], last[14]
    sealed_seq = sealed.get(case_id, (0, ""))[0]
    if sealed_seq > seq:
        report.findings.append(
            _finding(
                case_id,
                seq,
                event_id,
                "anchor",
                f"events after {seq} are missing: an anchor sealed the chain up to event {sealed_seq}",
                f"thiếu các sự kiện sau số {seq}: mốc neo đã niêm phong chuỗi đến sự kiện {sealed_seq}",
            )
        )
        return
    if head is None:
        report.findings.append(
            _finding(
                case_id, seq, event_id, "orphan", "events belong to a case that does not exist", "sự kiện thuộc một hồ sơ không tồn tại"
            )
        )
    elif (seq, digest) != head[:2]:
        if seq < head[0]:
            en, vi = f"events after {seq} are missing (the case records {head[0]})", f"thiếu các sự kiện sau số {seq} (hồ sơ ghi {head[0]})"
        else:
            en, vi = (
                f"event {seq} is not the chain head the case records (inserted or changed?)",
                f"sự kiện {seq} không phải đầu chuỗi mà hồ sơ ghi (bị chèn hoặc sửa?)",
            )
        report.findings.append(_finding(case_id, seq, event_id, "head", en, vi))
    elif (state, application_no) != head[2:]:
        report.findings.append(
            _finding(
                case_id,
                seq,
                event_id,
                "state",
                f"the case row says {head[2]} (application {head[3]}) but its history ends in {state} (application {application_no})",
                f"hồ sơ ghi trạng thái {head[2]} (lần {head[3]}) nhưng lịch sử kết thúc ở {state} (lần {application_no})",
            )
        )


def _check_anchors(conn: Connection, report: VerifyReport, case_id: int | None, part: tuple[int, int] | None) -> dict[int, tuple[int, str]]:
    """Recompute the anchor chain (whole verify only); return each case's latest sealed head.

    The latest sealed head is enough for the events: the hash chain pins everything before it.
    One case, or a share of the cases, only gets its sealed heads: the whole verify checks the anchors.
    """
    whole = case_id is None and part is None
    heads_query = select(AnchorHead.anchor_id, AnchorHead.case_id, AnchorHead.seq, AnchorHead.hash).order_by(
        AnchorHead.anchor_id, AnchorHead.case_id
    )
    if case_id is not None:
        heads_query = heads_query.where(AnchorHead.case_id == case_id)
    if part is not None:
        heads_query = heads_query.where(AnchorHead.case_id % part[1] == part[0])
    anchors = {row.id: row for row in conn.execute(select(Anchor.id, Anchor.prev_hash, Anchor.hash).order_by(Anchor.id))} if whole else {}
    hashers: dict[int, AnchorHasher] = {}
    latest: dict[int, tuple[int, str]] = {}
    for anchor_id, head_case, seq, digest in conn.execution_options(yield_per=20_000).execute(heads_query):
        if whole:
            if anchor_id not in hashers:
                anchor = anchors.get(anchor_id)
                hashers[anchor_id] = AnchorHasher(anchor.prev_hash if anchor else GENESIS)
            hashers[anchor_id].add(head_case, seq, digest)
        latest[head_case] = (seq, digest)
    prev = GENESIS
    for anchor in anchors.values():
        report.anchors += 1
        recomputed = (hashers.get(anchor.id) or AnchorHasher(anchor.prev_hash)).hexdigest()
        if anchor.prev_hash != prev or recomputed != anchor.hash:
            en = f"anchor {anchor.id} was changed or an anchor before it was removed"
            report.findings.append(Finding(None, None, None, "anchor", en, f"mốc neo {anchor.id} đã bị sửa hoặc một mốc trước nó bị xóa"))
        prev = anchor.hash
    return latest


def check_pinned(conn: Connection, anchor_id: int, digest: str) -> Finding | None:
    """Compare an anchor with the hash kept outside the database when it was sealed."""
    stored = conn.scalar(select(Anchor.hash).where(Anchor.id == anchor_id))
    if stored == digest:
        return None
    what_en = "is missing" if stored is None else "differs from the hash kept outside the database"
    what_vi = "không còn" if stored is None else "khác mã băm đã lưu bên ngoài cơ sở dữ liệu"
    return Finding(None, None, None, "pinned", f"anchor {anchor_id} {what_en}", f"mốc neo {anchor_id} {what_vi}")


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
