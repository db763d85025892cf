"""An attacker with database access edits the history; verify names the case and event, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import DBAPIError

from services import audit, cases, reports
from services.models import Anchor, AnchorHead, AnchorReportHead, Case, CaseRecord, Event, OutboxMessage, Person, Report, ReportEvent
from services.report_history import figures_hash
from tests import factories as f
from workflows.history import GENESIS, anchor_hash, canonical_json, canonical_time, event_hash


@dataclass(frozen=True)
class World:
    """Three cases with history: `long` is departed with a correction, `reopened` was withdrawn and reopened."""

    long: int
    reopened: int
    short: int


@pytest.fixture
def world(rt, actors, clock) -> World:
    long = cases.register(rt, actors["social_policy"], f.registration(rt.today(), serial=1)).id
    f.step(rt, actors, long, "counsel")
    clock.advance(days=1)
    cases.put_record(rt, actors["enterprise"], long, "counselling", f.counselling(rt.today(), job="Xây dựng"), reason="Sai ngành nghề")
    for trigger in ("train", "certify_health", "approve_loan", "depart"):
        clock.advance(days=3)
        f.step(rt, actors, long, trigger)
    reopened = cases.register(rt, actors["social_policy"], f.registration(rt.today(), serial=2, sex="female")).id
    f.step(rt, actors, reopened, "counsel")
    cases.withdraw(rt, actors["social_policy"], reopened, "Gia đình không đồng ý")
    clock.advance(days=30)
    cases.reopen(rt, actors["social_policy"], reopened, "Đăng ký lại")
    short = cases.register(rt, actors["social_policy"], f.registration(rt.today(), serial=3)).id
    with rt.unit_of_work() as conn:
        assert audit.verify(conn).ok
    return World(long, reopened, short)


@contextmanager
def attacker(engine: Engine) -> Iterator[Connection]:
    """Open a transaction with the append-only triggers switched off, as someone with DB access would."""
    with engine.begin() as conn:
        for table in ("events", "anchors", "anchor_heads", "report_events", "anchor_report_heads"):
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            else:
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_update")
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        yield conn


def events_of(conn: Connection, case_id: int) -> list[Any]:
    return list(conn.execute(select(Event.__table__).where(Event.case_id == case_id).order_by(Event.seq)))


def hash_of(values: dict[str, Any], prev_hash: str) -> str:
    """Compute an event's hash the way the application does, as an attacker who read the code would."""
    return event_hash(
        values["case_id"], values["seq"], canonical_time(values["at"]), values["actor_id"], values["department"], values["trigger"],
        values["from_state"], values["to_state"], values["application_no"], values["record_kind"], values["record_json"],
        values["reason"], prev_hash,
    )  # fmt: skip


def delete_event(conn: Connection, event_id: int) -> None:
    """Remove an event and the outbox rows that point at it (the foreign key would refuse otherwise)."""
    conn.execute(delete(OutboxMessage).where(OutboxMessage.event_id == event_id))
    conn.execute(delete(Event).where(Event.id == event_id))


def shift_seqs(conn: Connection, case_id: int, from_seq: int, by: int) -> None:
    """Renumber the events from `from_seq` on (two steps, so the unique (case, seq) key never collides)."""
    conn.execute(update(Event).where(Event.case_id == case_id, Event.seq >= from_seq).values(seq=-Event.seq))
    conn.execute(update(Event).where(Event.case_id == case_id, Event.seq < 0).values(seq=-Event.seq + by))


def rewrite_chain(conn: Connection, case_id: int, from_seq: int) -> None:
    """Recompute every hash from `from_seq` on and the case's head, so the chain is consistent again."""
    rows = events_of(conn, case_id)
    prev = rows[from_seq - 2].hash
    for row in rows[from_seq - 1 :]:
        digest = hash_of(row._asdict(), prev)
        conn.execute(update(Event).where(Event.id == row.id).values(prev_hash=prev, hash=digest))
        prev = digest
    conn.execute(update(Case).where(Case.id == case_id).values(head_hash=prev))


def findings(rt) -> list[audit.Finding]:
    with rt.unit_of_work() as conn:
        return audit.verify(conn).findings


def test_history_of_the_world_verifies(rt, world):
    with rt.unit_of_work() as conn:
        report = audit.verify(conn)
    assert report.ok
    assert (report.cases, report.events) == (3, 7 + 4 + 1)


def test_edited_record_is_named(rt, world):
    with attacker(rt.engine) as conn:
        counselled = events_of(conn, world.long)[1]
        forged = canonical_json({**json.loads(counselled.record_json), "market_code": "KR-EPS"})
        conn.execute(update(Event).where(Event.id == counselled.id).values(record_json=forged))
    found = findings(rt)
    assert [(x.case_id, x.seq, x.code) for x in found] == [(world.long, 2, "content")]
    assert "event 2 was changed" in found[0].en


def test_edited_reason_is_named(rt, world):
    with attacker(rt.engine) as conn:
        withdrawal = next(row for row in events_of(conn, world.reopened) if row.trigger == "withdraw")
        conn.execute(update(Event).where(Event.id == withdrawal.id).values(reason="Người lao động bị ép rút hồ sơ"))
    found = findings(rt)
    assert [(x.case_id, x.seq, x.code) for x in found] == [(world.reopened, withdrawal.seq, "content")]


def test_deleted_middle_event_is_named(rt, world):
    with attacker(rt.engine) as conn:
        correction = events_of(conn, world.long)[2]
        assert correction.trigger == "correct_record"
        delete_event(conn, correction.id)
    found = findings(rt)
    # The finding points at the first surviving event after the hole and says which one is gone.
    assert [(x.case_id, x.seq, x.code) for x in found] == [(world.long, 4, "missing")]
    assert "event 3 is missing" in found[0].en


def test_deleted_last_event_is_named(rt, world):
    with attacker(rt.engine) as conn:
        delete_event(conn, events_of(conn, world.long)[-1].id)
    found = findings(rt)
    assert [(x.case_id, x.seq, x.code) for x in found] == [(world.long, 6, "head")]
    assert "events after 6 are missing" in found[0].en


def test_deleted_only_event_is_named(rt, world):
    with attacker(rt.engine) as conn:
        delete_event(conn, events_of(conn, world.short)[0].id)
    found = findings(rt)
    assert [(x.case_id, x.seq, x.code) for x in found] == [(world.short, 1, "missing")]


def _forged_after(last: Any, actor_id: int) -> dict[str, Any]:
    values = {
        **last._asdict(), "seq": last.seq + 1, "at": last.at + timedelta(hours=1), "actor_id": actor_id,
        "trigger": "correct_record", "from_state": last.to_state, "record_kind": "counselling",
        "record_json": canonical_json({"counselled_on": "2026-06-01", "enterprise_licence": f.LICENCE, "market_code": "TW-LD", "job": "X"}),
        "reason": "Sửa lại", "prev_hash": last.hash,
    }  # fmt: skip
    values.pop("id")
    values["hash"] = hash_of(values, last.hash)
    return values


def test_forged_event_appended_with_a_plausible_hash_is_named(rt, world, actors):
    with attacker(rt.engine) as conn:
        last = events_of(conn, world.long)[-1]
        conn.execute(insert(Event), _forged_after(last, actors["enterprise"].user_id))
    found = findings(rt)
    assert [(x.case_id, x.seq, x.code) for x in found] == [(world.long, 8, "head")]


def test_forged_event_inserted_in_the_middle_is_named(rt, world, actors):
    with attacker(rt.engine) as conn:
        before = events_of(conn, world.long)[2]
        shift_seqs(conn, world.long, 4, by=1)
        conn.execute(insert(Event), _forged_after(before, actors["enterprise"].user_id))
    found = findings(rt)
    # The forged event 4 is self-consistent; the original event, now 5, no longer follows it.
    assert [(x.case_id, x.seq, x.code) for x in found] == [(world.long, 5, "link")]


def test_swapped_events_are_named(rt, world):
    with attacker(rt.engine) as conn:
        rows = events_of(conn, world.long)
        conn.execute(update(Event).where(Event.id == rows[3].id).values(seq=-1))
        conn.execute(update(Event).where(Event.id == rows[4].id).values(seq=4))
        conn.execute(update(Event).where(Event.id == rows[3].id).values(seq=5))
    found = findings(rt)
    assert [(x.case_id, x.seq, x.code) for x in found] == [(world.long, 4, "link")]


def test_edited_event_with_recomputed_own_hash_breaks_the_next_link(rt, world):
    with attacker(rt.engine) as conn:
        row = events_of(conn, world.long)[4]
        values = {**row._asdict(), "record_json": row.record_json.replace('"examined_on":"2026-06-', '"examined_on":"2026-05-')}
        assert values["record_json"] != row.record_json
        conn.execute(update(Event).where(Event.id == row.id).values(record_json=values["record_json"], hash=hash_of(values, row.prev_hash)))
    found = findings(rt)
    assert [(x.case_id, x.seq, x.code) for x in found] == [(world.long, 6, "link")]


def test_consistent_rewrite_passes_without_an_anchor_and_is_caught_after_sealing(rt, world, clock):
    with attacker(rt.engine) as conn:
        row = events_of(conn, world.reopened)[1]
        forged = row.record_json.replace("JP-TTS", "KR-EPS")
        conn.execute(update(Event).where(Event.id == row.id).values(record_json=forged))
        rewrite_chain(conn, world.reopened, 2)
        # A careful attacker also makes the current record agree with the forged history.
        conn.execute(
            update(CaseRecord)
            .where(CaseRecord.case_id == world.reopened, CaseRecord.application_no == row.application_no, CaseRecord.kind == "counselling")
            .values(data=forged)
        )
    assert findings(rt) == []  # what the anchor is for: a chain alone cannot tell

    with rt.unit_of_work() as conn:
        audit.seal(conn, clock.now())
    with attacker(rt.engine) as conn:
        row = events_of(conn, world.long)[2]
        conn.execute(update(Event).where(Event.id == row.id).values(reason="Không có lý do"))
        rewrite_chain(conn, world.long, 3)
    found = findings(rt)
    assert [(x.case_id, x.seq, x.code) for x in found] == [(world.long, 7, "anchor")]
    assert "sealed in an anchor" in found[0].en


@pytest.mark.parametrize("target", ["anchor_hash", "sealed_head", "removed_anchor"])
def test_edited_anchor_is_caught(rt, world, actors, clock, target):
    with rt.unit_of_work() as conn:
        first = audit.seal(conn, clock.now())
    clock.advance(days=1)
    f.step(rt, actors, world.short, "counsel")
    with rt.unit_of_work() as conn:
        second = audit.seal(conn, clock.now())
        assert first and second and audit.verify(conn).ok
    with attacker(rt.engine) as conn:
        if target == "anchor_hash":
            conn.execute(update(Anchor).where(Anchor.id == second.id).values(hash="f" * 64))
        elif target == "sealed_head":
            conn.execute(update(AnchorHead).where(AnchorHead.anchor_id == first.id, AnchorHead.case_id == world.long).values(hash="e" * 64))
        else:
            conn.execute(delete(AnchorHead).where(AnchorHead.anchor_id == first.id))
            conn.execute(delete(Anchor).where(Anchor.id == first.id))
    found = findings(rt)
    assert found and found[0].code == "anchor" and found[0].case_id is None
    assert f"anchor {second.id if target != 'sealed_head' else first.id}" in found[0].en


def test_sealed_events_cut_off_with_the_case_head_reset_are_caught(rt, world, clock):
    with rt.unit_of_work() as conn:
        audit.seal(conn, clock.now())
    with attacker(rt.engine) as conn:
        rows = events_of(conn, world.long)
        for row in rows[-2:]:
            delete_event(conn, row.id)
        conn.execute(update(Case).where(Case.id == world.long).values(last_seq=5, head_hash=rows[4].hash, state="health_checked"))
    found = findings(rt)
    assert [(x.case_id, x.code) for x in found] == [(world.long, "anchor")]


def test_database_refuses_to_change_or_remove_events(rt, world):
    with rt.unit_of_work() as conn:
        before = [tuple(row) for row in events_of(conn, world.long)]
    with pytest.raises(DBAPIError, match="append-only"), rt.engine.begin() as conn:
        conn.execute(update(Event).where(Event.case_id == world.long, Event.seq == 2).values(reason="x"))
    with pytest.raises(DBAPIError, match="append-only"), rt.engine.begin() as conn:
        conn.execute(delete(OutboxMessage).where(OutboxMessage.case_id == world.long))
        conn.execute(delete(Event).where(Event.case_id == world.long, Event.seq == 7))
    if rt.engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), rt.engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE events CASCADE")
    with rt.unit_of_work() as conn:
        assert [tuple(row) for row in events_of(conn, world.long)] == before
        assert audit.verify(conn).ok


def test_verify_across_processes_finds_what_one_process_finds(rt, world, clock):
    with rt.unit_of_work() as conn:
        audit.seal(conn, clock.now())
    with attacker(rt.engine) as conn:
        counselled = events_of(conn, world.long)[1]
        conn.execute(update(Event).where(Event.id == counselled.id).values(reason="sửa lén"))
        conn.execute(update(Case).where(Case.id == world.reopened).values(state="departed"))
    alone = findings(rt)
    shared = audit.verify_all(rt.engine, workers=2)
    assert [(x.case_id, x.seq, x.code) for x in shared.findings] == [(x.case_id, x.seq, x.code) for x in alone]
    assert [(x.case_id, x.code) for x in alone] == [(world.long, "content"), (world.reopened, "state")]
    assert (shared.cases, shared.events, shared.anchors) == (3, 12, 1)


TRICKY = [
    'nói "không" \\ dấu gạch',
    "dòng 1\ndòng 2\r\n\tthụt lề",
    "điều khiển \x01\x08\x0c\x1f và DEL \x7f",
    "chữ Nôm 𡨸 · emoji 🇻🇳 · U+2028[\u2028] U+2029[\u2029]",
    "</script><b>&amp;</b> ' ; --",
]


@pytest.mark.parametrize("reason", TRICKY)
def test_any_text_in_a_record_or_reason_verifies_and_its_edit_is_caught(rt, actors, reason):
    """The database and Python must agree on the canonical form of every character people may type."""
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today(), serial=77)).id
    cases.withdraw(rt, actors["social_policy"], case_id, reason)
    with rt.unit_of_work() as conn:
        report = audit.verify(conn)
    assert report.ok, report.findings
    with attacker(rt.engine) as conn:
        last = events_of(conn, case_id)[-1]
        conn.execute(update(Event).where(Event.id == last.id).values(reason=reason + " "))
    assert [(x.case_id, x.seq, x.code) for x in findings(rt)] == [(case_id, 2, "content")]


def test_anchors_are_append_only_and_a_pinned_anchor_catches_their_removal(rt, world, clock):
    with rt.unit_of_work() as conn:
        sealed = audit.seal(conn, clock.now())
    assert sealed is not None
    with pytest.raises(DBAPIError, match="append-only"), rt.engine.begin() as conn:
        conn.execute(delete(AnchorHead).where(AnchorHead.anchor_id == sealed.id))
    with pytest.raises(DBAPIError, match="append-only"), rt.engine.begin() as conn:
        conn.execute(update(Anchor).where(Anchor.id == sealed.id).values(hash="0" * 64))
    # An attacker who removes every anchor (and rewrites chains) is caught by the hash kept outside.
    with attacker(rt.engine) as conn:
        conn.execute(delete(AnchorHead))
        conn.execute(delete(Anchor))
        conn.execute(update(Case).values(anchored_seq=0))
    with rt.unit_of_work() as conn:
        assert audit.verify(conn).ok  # nothing inside the database can tell
        finding = audit.check_pinned(conn, sealed.id, sealed.hash)
    assert finding is not None and finding.code == "pinned" and f"anchor {sealed.id} is missing" in finding.en


def test_a_current_record_changed_outside_the_application_is_named(rt, world):
    with attacker(rt.engine) as conn:
        conn.execute(
            update(CaseRecord)
            .where(CaseRecord.case_id == world.long, CaseRecord.kind == "counselling")
            .values(
                data=canonical_json({**json.loads(events_of(conn, world.long)[1].record_json), "enterprise_licence": f.EXPIRED_LICENCE})
            )
        )
    found = findings(rt)
    assert [(x.case_id, x.code) for x in found] == [(world.long, "record")]
    assert "counselling record (application 1) does not match the history" in found[0].en


def test_a_corrected_record_put_back_to_its_old_value_is_named(rt, world):
    """The old value is in the history, but a later event replaced it: it is not the current record."""
    with attacker(rt.engine) as conn:
        original = events_of(conn, world.long)[1]
        conn.execute(
            update(CaseRecord)
            .where(CaseRecord.case_id == world.long, CaseRecord.kind == "counselling")
            .values(data=original.record_json, event_seq=original.seq)
        )
    found = findings(rt)
    assert [(x.case_id, x.code) for x in found] == [(world.long, "record")]
    assert "counselling record (application 1)" in found[0].en


def test_a_deleted_current_record_is_named(rt, world):
    with attacker(rt.engine) as conn:
        conn.execute(delete(CaseRecord).where(CaseRecord.case_id == world.long, CaseRecord.kind == "health"))
    found = findings(rt)
    assert [(x.case_id, x.code) for x in found] == [(world.long, "record")]
    assert "health record (application 1)" in found[0].en and "hồ sơ hiện hành 'health' (lần 1)" in found[0].vi


def test_a_carried_over_registration_changed_in_the_new_application_is_named(rt, world):
    with attacker(rt.engine) as conn:
        conn.execute(
            update(CaseRecord)
            .where(CaseRecord.case_id == world.reopened, CaseRecord.application_no == 2, CaseRecord.kind == "registration")
            .values(data=CaseRecord.data + " ")
        )
    found = findings(rt)
    assert [(x.case_id, x.code) for x in found] == [(world.reopened, "record")]
    assert "registration record (application 2)" in found[0].en


def test_a_worker_identity_changed_outside_the_application_is_named(rt, world):
    with attacker(rt.engine) as conn:
        person_id = conn.scalar(select(Case.person_id).where(Case.id == world.short))
        conn.execute(update(Person).where(Person.id == person_id).values(phone="0999999999"))
    found = findings(rt)
    assert [(x.case_id, x.code) for x in found] == [(world.short, "person")]


# ---- the reports' chains under the anchors --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reports:
    """The commune's half-year report, submitted, and its yearly report, drafted."""

    half_year: int
    yearly: int


@pytest.fixture
def commune_reports(rt, actors, clock) -> Reports:
    clock.moment = datetime(2026, 6, 16, 2, tzinfo=UTC)  # the half-year report's drafting day
    [half_year] = reports.draft_due(rt)
    reports.submit(rt, actors["social_policy"], half_year, version=1)
    clock.moment = datetime(2026, 12, 17, 2, tzinfo=UTC)  # the yearly report's
    [yearly] = reports.draft_due(rt)
    with rt.unit_of_work() as conn:
        assert audit.verify(conn).ok
    return Reports(half_year, yearly)


def report_events_of(conn: Connection, report_id: int) -> list[Any]:
    return list(conn.execute(select(ReportEvent.__table__).where(ReportEvent.report_id == report_id).order_by(ReportEvent.seq)))


def rewrite_report(conn: Connection, report_id: int, old: str = '"departures"', new: str = '"Departures"') -> None:
    """Forge the submitted figures (old text to new) and rehash the whole chain, the row's figures and head with it, as one who read the code."""
    prev, figures = GENESIS, None
    for row in report_events_of(conn, report_id):
        record_json = row.record_json and row.record_json.replace(old, new)
        digest = event_hash(
            report_id, row.seq, canonical_time(row.at), row.actor_id, row.department, row.trigger, row.from_state, row.to_state, 0,
            row.record_kind, record_json, row.reason, prev,
        )  # fmt: skip
        conn.execute(update(ReportEvent).where(ReportEvent.id == row.id).values(record_json=record_json, prev_hash=prev, hash=digest))
        prev, figures = digest, record_json or figures
    assert figures is not None and new in figures
    conn.execute(update(Report).where(Report.id == report_id).values(head_hash=prev, figures=figures, figures_hash=figures_hash(figures)))


def report_findings(rt) -> list[tuple[int | None, int | None, str]]:
    return [(x.report_id, x.seq, x.code) for x in findings(rt)]


def test_a_report_chain_rewritten_wholesale_passes_without_an_anchor_and_is_named_after_one(rt, clock, commune_reports):
    with attacker(rt.engine) as conn:
        rewrite_report(conn, commune_reports.half_year)
    assert findings(rt) == []  # a chain and its row alone cannot tell
    with rt.unit_of_work() as conn:
        sealed = audit.seal(conn, clock.now())
    assert sealed is not None and sealed.reports == 2
    with attacker(rt.engine) as conn:
        rewrite_report(conn, commune_reports.half_year, '"Departures"', '"departures"')  # the true figures back, every hash fresh
    found = findings(rt)
    assert [(x.report_id, x.seq, x.code) for x in found] == [(commune_reports.half_year, 2, "report.anchor")]
    assert "report event 2 differs from the value sealed in an anchor" in found[0].en
    assert "sự kiện 2 của báo cáo khác với giá trị đã niêm phong trong mốc neo" in found[0].vi


def test_a_report_event_cut_off_the_end_after_an_anchor_is_named(rt, clock, commune_reports):
    with rt.unit_of_work() as conn:
        audit.seal(conn, clock.now())
    with attacker(rt.engine) as conn:
        first, submitted = report_events_of(conn, commune_reports.half_year)
        conn.execute(delete(ReportEvent).where(ReportEvent.id == submitted.id))
        conn.execute(  # the row put back as it was before submitting, so the chain and the row agree
            update(Report)
            .where(Report.id == commune_reports.half_year)
            .values(
                state="drafted", last_seq=1, head_hash=first.hash, figures=None, figures_hash=None, submitted_at=None, submitted_by=None
            )
        )
    found = findings(rt)
    assert [(x.report_id, x.seq, x.code) for x in found] == [(commune_reports.half_year, 1, "report.anchor")]
    assert "report events after 1 are missing: an anchor sealed the chain up to event 2" in found[0].en
    assert "thiếu các sự kiện sau số 1 của báo cáo" in found[0].vi


def test_a_later_anchor_does_not_launder_a_cut_report_chain(rt, clock, commune_reports):
    with rt.unit_of_work() as conn:
        audit.seal(conn, clock.now())
    with attacker(rt.engine) as conn:
        first, submitted = report_events_of(conn, commune_reports.half_year)
        conn.execute(delete(ReportEvent).where(ReportEvent.id == submitted.id))
        conn.execute(update(Report).where(Report.id == commune_reports.half_year).values(state="drafted", last_seq=1, head_hash=first.hash,
                                                                                       figures=None, figures_hash=None))  # fmt: skip
    with rt.unit_of_work() as conn:
        again = audit.seal(conn, clock.now())  # the cut head is sealed too, but the earlier seal still stands
    assert again is not None and (again.heads, again.reports) == (1, 1)
    assert report_findings(rt) == [(commune_reports.half_year, 1, "report.anchor")]


def test_reports_moving_on_after_an_anchor_verify_and_only_moved_heads_are_sealed_again(rt, actors, clock, world, commune_reports):
    with rt.unit_of_work() as conn:
        first = audit.seal(conn, clock.now())
        assert first is not None and (first.heads, first.reports) == (3 + 2, 2)
        assert audit.seal(conn, clock.now()) is None  # nothing moved
    reports.submit(rt, actors["social_policy"], commune_reports.yearly, version=1)
    with rt.unit_of_work() as conn:
        second = audit.seal(conn, clock.now())
        assert second is not None and (second.heads, second.reports) == (1, 1)
        report = audit.verify(conn)
    assert report.ok, report.findings
    assert (report.anchors, report.reports, report.report_events) == (2, 2, 4)
    assert audit.verify_all(rt.engine, workers=2).ok


def test_anchors_sealed_before_reports_existed_still_verify_beside_those_sealing_reports(rt, world, clock, actors):
    with rt.unit_of_work() as conn:
        before = audit.seal(conn, clock.now())
        heads = [(row.case_id, row.seq, row.hash) for row in conn.execute(select(AnchorHead).where(AnchorHead.anchor_id == before.id))]
    assert before is not None and before.hash == anchor_hash(GENESIS, heads)  # the case-only hash, as it always was
    clock.moment = datetime(2026, 6, 16, 2, tzinfo=UTC)
    assert reports.draft_due(rt)
    with rt.unit_of_work() as conn:
        after = audit.seal(conn, clock.now())
        assert after is not None and after.reports == 1
        assert audit.verify(conn).ok


def test_sealed_report_heads_are_append_only_and_an_edited_one_breaks_its_anchor(rt, clock, commune_reports):
    with rt.unit_of_work() as conn:
        sealed = audit.seal(conn, clock.now())
    assert sealed is not None
    for statement in (delete(AnchorReportHead), update(AnchorReportHead).values(seq=9)):
        with pytest.raises(DBAPIError, match="append-only"), rt.engine.begin() as conn:
            conn.execute(statement)
    with attacker(rt.engine) as conn:
        conn.execute(update(AnchorReportHead).where(AnchorReportHead.report_id == commune_reports.yearly).values(hash="e" * 64))
    found = findings(rt)
    # The anchor no longer hashes to itself, and the report's chain no longer ends at what it says was sealed.
    assert [(x.code, x.report_id, x.seq) for x in found] == [("anchor", None, None), ("report.anchor", commune_reports.yearly, 1)]
    assert f"anchor {sealed.id} was changed" in found[0].en
