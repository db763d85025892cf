"""The provable history: the canonical form of an event, its hash chain, and replay."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from json.encoder import encode_basestring as _quote
from typing import Any

from workflows.case import CARRIED_OVER_RECORDS, TRANSITION_BY_TRIGGER

GENESIS = "0" * 64
REGISTER, ADD_RECORD, CORRECT_RECORD = "register", "add_record", "correct_record"
REASSIGN = "reassign_work"  # a supervisor gave a work item of the case to another officer; no state or record changes
EXTEND_DEADLINE = "extend_deadline"  # a supervisor moved a clock's due time later, with a reason; no state or record changes
SUPPORT_PAYMENT = "support_payment"  # finance paid the worker a support item (its figures in the reason); no state or record changes
# Events that note what was done beside the workflow: they leave the case where it is and carry no record.
NOTES = {REASSIGN: "a reassignment", EXTEND_DEADLINE: "a deadline extension", SUPPORT_PAYMENT: "a support payment"}


def canonical_json(data: Any) -> str:
    """Return the one text form of JSON data: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def canonical_time(moment: datetime) -> str:
    """Return a moment as UTC text with microseconds (naive values are taken as UTC)."""
    if moment.tzinfo is not None and moment.utcoffset():
        moment = moment.astimezone(UTC)
    # The first 26 characters (YYYY-MM-DDTHH:MM:SS.ffffff) drop a "+00:00" suffix: cheaper than replace().
    return moment.isoformat(timespec="microseconds")[:26]


def event_hash(
    case_id: int,
    seq: int,
    at: str,
    actor_id: int | None,
    department: str | None,
    trigger: str,
    from_state: str | None,
    to_state: str,
    application_no: int,
    record_kind: str | None,
    record_json: str | None,
    reason: str | None,
    prev_hash: str,
) -> str:
    """Hash an event's canonical form, which includes its predecessor's hash.

    The canonical form is the compact JSON array of the fields in this order, UTF-8 kept — the
    same bytes as json.dumps([...], ensure_ascii=False, separators=(",", ":")), built by hand
    because verify runs it for every event (bench/verify.py); every text field is escaped, so
    no two different events share a canonical form.
    """
    quote = _quote
    canonical = "[{:d},{:d},{},{},{},{},{},{},{:d},{},{},{},{}]".format(
        case_id,
        seq,
        quote(at),
        "null" if actor_id is None else str(actor_id),
        "null" if department is None else quote(department),
        quote(trigger),
        "null" if from_state is None else quote(from_state),
        quote(to_state),
        application_no,
        "null" if record_kind is None else quote(record_kind),
        "null" if record_json is None else quote(record_json),
        "null" if reason is None else quote(reason),
        quote(prev_hash),
    )
    return sha256(canonical.encode()).hexdigest()


class AnchorHasher:
    """Hash an anchor incrementally: the previous anchor's hash, its case heads in (case, seq) order, then its report heads.

    A report head is written "|report:id:seq:hash" and a case head "|id:seq:hash", so the bytes tell them apart; an
    anchor that sealed no report head hashes the same bytes as before reports were sealed (its hash is unchanged).
    """

    def __init__(self, prev_hash: str) -> None:
        self._digest = hashlib.sha256(prev_hash.encode())

    def add(self, case_id: int, seq: int, head: str) -> None:
        """Add the next chain head; heads must come in (case, seq) order."""
        self._digest.update(f"|{case_id}:{seq}:{head}".encode())

    def add_report(self, report_id: int, seq: int, head: str) -> None:
        """Add a report's chain head, after every case head; report heads must come in (report, seq) order."""
        self._digest.update(f"|report:{report_id}:{seq}:{head}".encode())

    def hexdigest(self) -> str:
        """Return the anchor's hash."""
        return self._digest.hexdigest()


def anchor_hash(prev_hash: str, heads: Iterable[tuple[int, int, str]], report_heads: Iterable[tuple[int, int, str]] = ()) -> str:
    """Hash an anchor: the previous anchor's hash, the case chain heads (case, seq, hash), then the report heads, in order."""
    hasher = AnchorHasher(prev_hash)
    for case_id, seq, head in sorted(heads):
        hasher.add(case_id, seq, head)
    for report_id, seq, head in sorted(report_heads):
        hasher.add_report(report_id, seq, head)
    return hasher.hexdigest()


@dataclass
class Replayed:
    """A case rebuilt from its events alone."""

    state: str | None = None
    application_no: int = 0
    records: dict[str, Any] = field(default_factory=dict)


def replay(events: Iterable[tuple[str, str | None, str, str | None, Any]]) -> Replayed:
    """Rebuild state, application number and current records from (trigger, from, to, kind, record)."""
    case = Replayed()
    for trigger, from_state, to_state, record_kind, record in events:
        if trigger == REGISTER:
            if case.state is not None:
                raise ValueError(f"a second register event while the case is {case.state}")
            case.state, case.application_no, case.records = to_state, 1, {}
        elif trigger in (ADD_RECORD, CORRECT_RECORD) or trigger in NOTES:
            if not (case.state == from_state == to_state):
                raise ValueError(f"event {trigger} {from_state}->{to_state} does not follow state {case.state}")
            if trigger in NOTES and record_kind is not None:
                raise ValueError(f"event {trigger} carries a {record_kind} record; {NOTES[trigger]} has none")
        else:
            spec = TRANSITION_BY_TRIGGER.get(trigger)
            if spec is None:
                raise ValueError(f"unknown trigger {trigger!r}")
            if case.state != from_state or case.state not in spec.sources or spec.dest != to_state:
                raise ValueError(f"event {trigger} {from_state}->{to_state} does not follow state {case.state}")
            if spec.new_application:
                case.application_no += 1
                case.records = {kind: value for kind, value in case.records.items() if kind in CARRIED_OVER_RECORDS}
            case.state = to_state
        if record_kind is not None:
            case.records[record_kind] = record
    return case
