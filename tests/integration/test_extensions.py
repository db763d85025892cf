"""A supervisor extends a deadline: the history notes it, the rungs not yet fired move with the due day, fired ones stay."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from services import audit, cases, deadlines, extensions, queries
from services.models import WorkItem
from tests import factories as f
from workflows.calendar import VIETNAM, local_date
from workflows.errors import Conflict, Forbidden, RecordInvalid
from workflows.history import EXTEND_DEADLINE, replay


def at_nine(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 9, 0, tzinfo=VIETNAM).astimezone(UTC)


def counselling_clock(rt, case_id: int) -> dict:
    [clock] = [d for d in deadlines.case_deadlines(rt, case_id) if d["clock"] == "counselling"]
    return clock


def test_an_extension_moves_the_pending_rungs_keeps_the_fired_one_and_is_in_the_history(rt, actors, clock):
    # Registered Mon 1/6/2026: counselling due Wed 1/7; its first reminder (three working days before) on Fri 26/6.
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today())).id
    clock.moment = at_nine(6, 26)
    assert [(r.clock, r.rung) for r in deadlines.sweep(rt)] == [("counselling", 1)]
    before = counselling_clock(rt, case_id)
    done = extensions.extend(
        rt, actors["supervisor"], case_id, before["id"], expected_version=1, reason="Chờ giấy tờ hộ khẩu", due_on=date(2026, 7, 15)
    )
    assert (done.version, local_date(done.old_due_at), local_date(done.new_due_at)) == (2, date(2026, 7, 1), date(2026, 7, 15))
    after = counselling_clock(rt, case_id)
    assert after["due_at"] == datetime(2026, 7, 15, 23, 59, 59, tzinfo=VIETNAM).astimezone(UTC)
    # Fired rung 1 stays where it fired; rungs 2–4 are the ladder around Wed 15/7: on the day, +1 working day, +7 working days.
    assert [(r["rung"], r["status"], local_date(r["fires_at"])) for r in after["rungs"]] == [
        (1, "fired", date(2026, 6, 26)),
        (2, "pending", date(2026, 7, 15)),
        (3, "pending", date(2026, 7, 16)),
        (4, "pending", date(2026, 7, 24)),
    ]
    assert after["counted_from"] == before["counted_from"]  # the clock still counts from the registration
    # The social-policy item waiting on the case is due with the clock's new day.
    with rt.unit_of_work(writes=False) as conn:
        assert conn.scalar(select(WorkItem.due_at).where(WorkItem.case_id == case_id, WorkItem.kind == "state")) == after["due_at"]
    # The sweep at the old due day (and the day after, the old escalation) fires nothing; at the new one it reminds again.
    assert deadlines.sweep(rt, at_nine(7, 1)) == [] and deadlines.sweep(rt, at_nine(7, 2)) == []
    assert [(r.clock, r.rung, r.action) for r in deadlines.sweep(rt, at_nine(7, 15))] == [("counselling", 2, "remind")]
    assert [(r.clock, r.rung, r.action) for r in deadlines.sweep(rt, at_nine(7, 16))] == [("counselling", 3, "escalate")]

    history = queries.case_history(rt, case_id)
    event = history[-1]
    assert (event["trigger"], event["actor"], event["from_state"], event["to_state"]) == (
        EXTEND_DEADLINE,
        "supervisor",
        "registered",
        "registered",
    )
    assert event["reason"] == f"Chờ giấy tờ hộ khẩu · counselling #{before['id']}: 2026-07-01 → 2026-07-15"
    assert replay((e["trigger"], e["from_state"], e["to_state"], e["record_kind"], None) for e in history).state == "registered"
    with rt.unit_of_work(writes=False) as conn:
        assert audit.verify(conn, case_id).ok


def test_days_count_on_from_the_current_due_day_and_a_task_clock_moves_its_item(rt, actors, clock):
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today())).id
    f.walk(rt, actors, case_id, ["counsel", "train", "certify_health", "approve_loan", "depart"])
    [database] = [d for d in deadlines.case_deadlines(rt, case_id) if d["clock"] == "national_database"]
    version = queries.case_detail(rt, case_id)["version"]
    extensions.extend(
        rt, actors["province_supervisor"], case_id, database["id"], expected_version=version, reason="Hệ thống quốc gia lỗi", days=10
    )
    [moved] = [d for d in deadlines.case_deadlines(rt, case_id) if d["clock"] == "national_database"]
    assert local_date(moved["due_at"]) == local_date(database["due_at"]) + timedelta(days=10)
    with rt.unit_of_work(writes=False) as conn:
        task_due = conn.scalar(select(WorkItem.due_at).where(WorkItem.case_id == case_id, WorkItem.kind == "national_database"))
    assert task_due == moved["due_at"]


@pytest.mark.parametrize(
    ("who", "changes", "refusal", "code"),
    [
        ("social_policy", {}, Forbidden, "role.forbidden"),
        ("auditor", {}, Forbidden, "role.forbidden"),
        ("admin", {}, Forbidden, "role.forbidden"),
        ("supervisor", {"reason": "  "}, RecordInvalid, "reason.required"),
        ("supervisor", {"due_on": date(2026, 6, 30)}, RecordInvalid, "extension.not_later"),
        ("supervisor", {"due_on": date(2026, 7, 1)}, RecordInvalid, "extension.not_later"),  # the same day is no extension
        ("supervisor", {"due_on": None}, RecordInvalid, "extension.due_or_days"),
        ("supervisor", {"days": 3}, RecordInvalid, "extension.due_or_days"),  # a date and days together
        ("supervisor", {"expected_version": 7}, Conflict, "case.stale"),
    ],
)
def test_a_refused_extension_writes_nothing(rt, actors, who, changes, refusal, code):
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today())).id
    before = counselling_clock(rt, case_id)
    arguments = {"expected_version": 1, "reason": "Chờ giấy tờ", "due_on": date(2026, 7, 15), **changes}
    with pytest.raises(refusal) as refused:
        extensions.extend(rt, actors[who], case_id, before["id"], **arguments)
    assert [p.code for p in refused.value.problems] == [code]
    assert all(p.vi and p.en and p.vi != p.en for p in refused.value.problems)
    assert counselling_clock(rt, case_id) == before
    assert [e["trigger"] for e in queries.case_history(rt, case_id)] == ["register"]


def test_a_closed_deadline_cannot_be_extended(rt, actors):
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today())).id
    clock_id = counselling_clock(rt, case_id)["id"]
    f.step(rt, actors, case_id, "counsel")  # the counselling clock stops
    with pytest.raises(Conflict) as refused:
        extensions.extend(rt, actors["supervisor"], case_id, clock_id, expected_version=2, reason="Muộn", days=5)
    assert [p.code for p in refused.value.problems] == ["deadline.closed"]
    assert counselling_clock(rt, case_id)["status"] == "closed"


def test_a_correction_of_the_start_date_keeps_an_extension_unless_it_moves_the_clock_later_still(rt, actors, clock):
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today())).id
    for trigger in f.MAIN_PATH[:3]:  # counsel, train, certify health (examined today: the certificate runs 12 months)
        clock.advance(days=7)
        f.step(rt, actors, case_id, trigger)
    [before] = [d for d in deadlines.case_deadlines(rt, case_id) if d["clock"] == "health_certificate"]
    version = queries.case_detail(rt, case_id)["version"]
    extended = local_date(before["due_at"]) + timedelta(days=30)
    extensions.extend(rt, actors["supervisor"], case_id, before["id"], expected_version=version, reason="Chờ lịch bay", due_on=extended)
    # The office corrects the examination date one day earlier: the clock would fall due a day earlier — the extension stands.
    earlier = f.health(rt.today() - timedelta(days=1))
    cases.put_record(rt, actors["office"], case_id, "health", earlier, expected_version=version + 1, reason="Sai ngày khám")
    [kept] = [d for d in deadlines.case_deadlines(rt, case_id) if d["clock"] == "health_certificate"]
    assert local_date(kept["due_at"]) == extended and kept["counted_from"] == rt.today() - timedelta(days=1)
    # A correction that moves the due day past the extension moves the clock.
    clock.advance(days=40)
    later = f.health(rt.today())
    cases.put_record(rt, actors["office"], case_id, "health", later, expected_version=version + 2, reason="Khám lại")
    [moved] = [d for d in deadlines.case_deadlines(rt, case_id) if d["clock"] == "health_certificate"]
    assert local_date(moved["due_at"]) > extended
