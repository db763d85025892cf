"""Proving the history: verify every chain and anchor, and seal the chain heads in a new anchor."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Engine, String, bindparam, cast, func, insert, literal_column, select, update
from sqlalchemy.pool import NullPool

from services.db import make_engine
from services.models import Anchor, AnchorHead, AnchorReportHead, Case, CaseRecord, Event, Person
from workflows.case import CARRIED_OVER_RECORDS
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
    report_id: int | None = None  # a periodic report's chain (services/report_history.py)


@dataclass
class VerifyReport:
    """What verify read and what it found."""

    cases: int = 0
    events: int = 0
    anchors: int = 0
    reports: int = 0
    report_events: int = 0
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
    report = VerifyReport()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        walking = pool.starmap_async(_verify_part, [(url, part, workers) for part in range(workers)])
        with engine.connect().execution_options(writes=False) as conn:
            _check_anchors(conn, report, None, None)
        parts = walking.get()
    for part in parts:
        report.cases, report.events = report.cases + part.cases, report.events + part.events
        report.reports, report.report_events = report.reports + part.reports, report.report_events + part.report_events
        report.findings += part.findings
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


@dataclass(frozen=True)
class _Head:
    """What a case row says of its history: the chain head, the state, and the facts copied from its records."""

    seq: int
    hash: str
    state: str
    application_no: int
    market_code: str | None
    person: tuple[str, ...]


def verify(conn: Connection, case_id: int | None = None, *, part: tuple[int, int] | None = None) -> VerifyReport:
    """Replay every chain (or one case's, or a share of them): recompute each event's hash, then prove the case row,
    its current records and the worker's identity against what the events say; name the first bad thing of each case.
    The anchors are checked too, except by a share (verify_all checks them once)."""
    started, report = time.perf_counter(), VerifyReport()
    heads_query = select(Case.id, Case.last_seq, Case.head_hash, Case.state, Case.application_no, Case.market_code, *_PERSON).outerjoin(
        Person, Person.id == Case.person_id
    )
    events_query = select(*_event_columns(conn.dialect.name)).order_by(Event.case_id, Event.seq)
    records_query = select(CaseRecord.case_id, CaseRecord.application_no, CaseRecord.kind, CaseRecord.event_seq, CaseRecord.data)
    heads_query, events_query = _only(heads_query, Case.id, case_id, part), _only(events_query, Event.case_id, case_id, part)
    records_query = _only(records_query.order_by(CaseRecord.case_id), CaseRecord.case_id, case_id, part)
    heads = {
        case: _Head(seq, digest, state, app, market, tuple(person))
        for case, seq, digest, state, app, market, *person in conn.execute(heads_query)
    }
    sealed = _check_anchors(conn, report, case_id, part)
    streaming = conn.execution_options(yield_per=20_000)
    stored = _StoredRecords(streaming.execute(records_query))
    for chain_case, events in groupby(streaming.execute(events_query), key=itemgetter(1)):
        count, last, replayed, finding = _walk_chain(events, sealed.get(chain_case))
        report.events += count
        report.cases += 1
        head = heads.pop(chain_case, None)
        finding = finding or _check_end(chain_case, last, head, sealed.get(chain_case, (0, ""))[0])
        if finding is None and head is not None:
            finding = _check_records(chain_case, head, replayed, stored.of(chain_case))
        if finding is not None:
            report.findings.append(finding)
    report.cases += len(heads)
    if case_id is None and (part is None or part[0] == 0):  # the reports' chains, once per whole verify
        _verify_reports(conn, report)
    for missing in sorted(heads):
        report.findings.append(
            _finding(missing, 1, None, "missing", "the case has no events left (deleted?)", "hồ sơ không còn sự kiện nào (bị xóa?)")
        )
    report.findings.sort(key=lambda f: (f.case_id or 0, f.seq or 0))
    report.seconds = time.perf_counter() - started
    return report


def _verify_reports(conn: Connection, report: VerifyReport) -> None:
    from services.report_history import verify_reports  # it builds our Finding: imported here, not at the top

    report.reports, report.report_events, found = verify_reports(conn)
    report.findings += found


def _only(query: Any, column: Any, case_id: int | None, part: tuple[int, int] | None) -> Any:
    if case_id is not None:
        query = query.where(column == case_id)
    if part is not None:
        query = query.where(column % part[1] == part[0])
    return query


_Slot = tuple[int, str]  # (application number, record kind)


def _walk_chain(
    events: Iterator[Any], sealed_head: tuple[int, str] | None
) -> tuple[int, Any, dict[_Slot, tuple[int, str]], Finding | None]:
    """Walk one case's events in order; return how many, the last good one, the records they leave, and the first break.

    The records a history leaves are, per application and kind, the (seq, record JSON) of the last event that
    wrote one; a new application starts with the records carried over from the one before.
    """
    expected, prev, count, last, application = 1, GENESIS, 0, None, 1
    sealed_seq, sealed_hash = sealed_head or (0, "")
    replayed: dict[_Slot, tuple[int, str]] = {}
    for row in events:
        count += 1
        _, case_id, seq, at, actor, dept, trigger, source, dest, app_no, kind, record, reason, prev_hash, digest = row
        if (
            seq != expected
            or prev_hash != prev
            or event_hash(case_id, seq, at, actor, dept, trigger, source, dest, app_no, kind, record, reason, prev_hash) != digest
            or (seq == sealed_seq and digest != sealed_hash)
        ):
            return count + sum(1 for _ in events), last, replayed, _what_broke(row, expected, prev, sealed_hash)
        if app_no != application:
            for carried in CARRIED_OVER_RECORDS:
                if (application, carried) in replayed:
                    replayed[app_no, carried] = replayed[application, carried]
            application = app_no
        if kind is not None:
            replayed[app_no, kind] = (seq, record)
        expected, prev, last = seq + 1, digest, row
    return count, last, replayed, None


class _StoredRecords:
    """The current record rows, streamed in case order beside the events."""

    def __init__(self, rows: Iterable[Any]) -> None:
        self._groups = groupby(rows, key=itemgetter(0))
        self._next = next(self._groups, None)

    def of(self, case_id: int) -> dict[_Slot, tuple[int, str]]:
        """Return one case's rows; cases must be asked for in increasing order."""
        while self._next is not None and self._next[0] < case_id:
            self._next = next(self._groups, None)
        if self._next is None or self._next[0] != case_id:
            return {}
        rows = {(app, kind): (seq, data) for _, app, kind, seq, data in self._next[1]}
        self._next = next(self._groups, None)
        return rows


def _check_records(
    case_id: int, head: _Head, replayed: dict[_Slot, tuple[int, str]], stored: dict[_Slot, tuple[int, str]]
) -> Finding | None:
    """Prove a case's current records, the worker's identity and the case's market against its replayed history.

    Each current record must be, byte for byte, the record of the last event that wrote its slot, and every
    record the history wrote must still be there.
    """
    if stored != replayed:
        app, kind = min(slot for slot in stored.keys() | replayed.keys() if stored.get(slot) != replayed.get(slot))
        en = f"the current {kind} record (application {app}) does not match the history: changed outside the application"
        vi = f"hồ sơ hiện hành '{kind}' (lần {app}) không khớp với lịch sử: đã bị sửa ngoài ứng dụng"
        return _finding(case_id, None, None, "record", en, vi)
    registered = replayed.get((head.application_no, "registration"))
    counselled = replayed.get((head.application_no, "counselling"))
    facts = json.loads(registered[1]) if registered else {}
    market = json.loads(counselled[1])["market_code"] if counselled else None
    if head.person != tuple(str(facts.get(field)) for field in _PERSON_FIELDS) or head.market_code != market:
        en = "the worker's identity or the case's market does not match the history: changed outside the application"
        vi = "nhân thân người lao động hoặc thị trường của hồ sơ không khớp với lịch sử: đã bị sửa ngoài ứng dụng"
        return _finding(case_id, None, None, "person", en, vi)
    return None


# The person row's columns and the registration fields they project (the ID as the same sealed token).
_PERSON_COLUMNS = {
    "full_name": Person.full_name, "date_of_birth": Person.date_of_birth, "sex": Person.sex,
    "personal_id": Person.personal_id_sealed, "ethnicity": Person.ethnicity, "phone": Person.phone,
}  # fmt: skip
_PERSON_FIELDS = tuple(_PERSON_COLUMNS)
_PERSON = tuple(cast(column, String) for column in _PERSON_COLUMNS.values())


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


def _check_end(case_id: int, last: Any, head: _Head | None, sealed_seq: int) -> Finding | None:
    """Compare the end of an intact chain with the head its case row records and the last anchor sealed."""
    event_id, seq, state, application_no, digest = last[0], last[2], last[8], last[9], last[14]
    if sealed_seq > seq:
        en = f"events after {seq} are missing: an anchor sealed the chain up to event {sealed_seq}"
        vi = f"thiếu các sự kiện sau số {seq}: mốc neo đã niêm phong chuỗi đến sự kiện {sealed_seq}"
        return _finding(case_id, seq, event_id, "anchor", en, vi)
    if head is None:
        return _finding(
            case_id, seq, event_id, "orphan", "events belong to a case that does not exist", "sự kiện thuộc một hồ sơ không tồn tại"
        )
    if (seq, digest) != (head.seq, head.hash):
        if seq < head.seq:
            en, vi = (
                f"events after {seq} are missing (the case records {head.seq})",
                f"thiếu các sự kiện sau số {seq} (hồ sơ ghi {head.seq})",
            )
        else:
            en = f"event {seq} is not the chain head the case records (inserted or changed?)"
            vi = f"sự kiện {seq} không phải đầu chuỗi mà hồ sơ ghi (bị chèn hoặc sửa?)"
        return _finding(case_id, seq, event_id, "head", en, vi)
    if (state, application_no) != (head.state, head.application_no):
        en = f"the case row says {head.state} (application {head.application_no}) but its history ends in {state} (application {application_no})"
        vi = f"hồ sơ ghi trạng thái {head.state} (lần {head.application_no}) nhưng lịch sử kết thúc ở {state} (lần {application_no})"
        return _finding(case_id, seq, event_id, "state", en, vi)
    return None


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
    prev, report_heads = GENESIS, _report_heads_by_anchor(conn) if whole else {}
    for anchor in anchors.values():
        report.anchors += 1
        hasher = hashers.get(anchor.id) or AnchorHasher(anchor.prev_hash)
        for report_id, seq, digest in report_heads.get(anchor.id, ()):  # after the case heads, as seal hashed them
            hasher.add_report(report_id, seq, digest)
        recomputed = hasher.hexdigest()
        if anchor.prev_hash != prev or recomputed != anchor.hash:
            en = f"anchor {anchor.id} was changed or an anchor before it was removed"
            report.findings.append(Finding(None, None, None, "anchor", en, f"mốc neo {anchor.id} đã bị sửa hoặc một mốc trước nó bị xóa"))
        prev = anchor.hash
    return latest


def _report_heads_by_anchor(conn: Connection) -> dict[int, list[tuple[int, int, str]]]:
    from services.report_history import sealed_heads  # it imports our Finding: imported here, not at the top

    by_anchor: dict[int, list[tuple[int, int, str]]] = {}
    for anchor_id, report_id, seq, digest in sealed_heads(conn):
        by_anchor.setdefault(anchor_id, []).append((report_id, seq, digest))
    return by_anchor


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
    """A new anchor: its id, hash and how many chain heads it sealed (cases' and reports'), of which reports'."""

    id: int
    hash: str
    heads: int
    reports: int = 0


def seal(conn: Connection, now: datetime) -> Sealed | None:
    """Seal every case and report chain head that moved since the last anchor into a new anchor; None if none moved."""
    from services.report_history import heads_to_seal  # it imports our Finding: imported here, not at the top

    heads = [
        (row.id, row.last_seq, row.head_hash)
        for row in conn.execute(select(Case.id, Case.last_seq, Case.head_hash).where(Case.last_seq != Case.anchored_seq).order_by(Case.id))
    ]
    reports = heads_to_seal(conn)
    if not heads and not reports:
        return None
    prev = conn.scalar(select(Anchor.hash).order_by(Anchor.id.desc()).limit(1)) or GENESIS
    digest, count = anchor_hash(prev, heads, reports), len(heads) + len(reports)
    anchor_id = conn.execute(
        insert(Anchor).returning(Anchor.id), {"at": now, "heads_count": count, "prev_hash": prev, "hash": digest}
    ).scalar_one()
    if heads:
        conn.execute(insert(AnchorHead), [{"anchor_id": anchor_id, "case_id": c, "seq": s, "hash": h} for c, s, h in heads])
        conn.execute(
            update(Case).where(Case.id == bindparam("case_id")).values(anchored_seq=bindparam("seq")),
            [{"case_id": c, "seq": s} for c, s, _ in heads],
        )
    if reports:
        conn.execute(insert(AnchorReportHead), [{"anchor_id": anchor_id, "report_id": r, "seq": s, "hash": h} for r, s, h in reports])
    return Sealed(anchor_id, digest, count, len(reports))
