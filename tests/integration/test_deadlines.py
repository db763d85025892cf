"""One case walked through 200 days with an injected clock: each reminder and escalation fires once, in order, on time."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from config.settings import Settings
from services import cases, deadlines, work
from services.models import Deadline, DeadlineRung, OutboxMessage, WorkItem
from services.runtime import Runtime, build_runtime
from services.users import load_actor
from tests import factories as f
from workflows.calendar import VIETNAM, local_date

ROOT = Path(__file__).resolve().parents[2]


def at_nine(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=VIETNAM).astimezone(UTC)


def eight(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 8, 0, tzinfo=VIETNAM).astimezone(UTC)


# Registered Mon 1/6/2026; counselled Fri 3/7 (two days late); trained 10/7; health-checked Mon 20/7;
# the bank answers on 12/8 (late); departed Thu 20/8; the enterprise never updates the national database.
PLAN = {
    date(2026, 7, 3): "counsel",
    date(2026, 7, 10): "train",
    date(2026, 7, 20): "certify_health",
    date(2026, 8, 12): "approve_loan",
    date(2026, 8, 20): "depart",
}

EXPECTED = [
    # Counselling: due 1/7 (30 days); three working days before is Fri 26/6; escalated Thu 2/7; the
    # province rung (+7 working days, 10/7) never fires because the case was counselled on 3/7.
    ("counselling", 1, "remind", eight(6, 26), date(2026, 6, 26)),
    ("counselling", 2, "remind", eight(7, 1), date(2026, 7, 1)),
    ("counselling", 3, "escalate", eight(7, 2), date(2026, 7, 2)),
    # The bank's 7 working days from Mon 20/7: due Wed 29/7.
    ("loan_answer", 1, "remind", eight(7, 24), date(2026, 7, 24)),
    ("loan_answer", 2, "remind", eight(7, 29), date(2026, 7, 29)),
    ("loan_answer", 3, "escalate", eight(7, 30), date(2026, 7, 30)),
    ("loan_answer", 4, "escalate", eight(8, 7), date(2026, 8, 7)),
    # National database 5 days after departure: due Tue 25/8. Its first rung (3 working days before,
    # Thu 20/8 08:00) had passed when the clock opened at 09:00, so it fires at the next sweep; the
    # province rung skips the 31/8–2/9 National Day holidays: Tue 8/9.
    ("national_database", 1, "remind", eight(8, 20), date(2026, 8, 21)),
    ("national_database", 2, "remind", eight(8, 25), date(2026, 8, 25)),
    ("national_database", 3, "escalate", eight(8, 26), date(2026, 8, 26)),
    ("national_database", 4, "escalate", eight(9, 8), date(2026, 9, 8)),
]


def test_two_hundred_days_of_one_case_fire_each_rung_once_in_order(rt, actors, clock):
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today())).id
    fired: list[tuple[str, int, str, datetime, date]] = []
    for day in (date(2026, 6, 1) + timedelta(days=n) for n in range(1, 201)):
        clock.moment = at_nine(day)
        for rung in deadlines.sweep(rt):
            fires_at = rung_time(rt, rung.deadline_id, rung.rung)
            fired.append((rung.clock, rung.rung, rung.action, fires_at, day))
        assert not deadlines.sweep(rt, clock.now())  # a second sweep at the same moment finds nothing
        if day in PLAN:
            f.step(rt, actors, case_id, PLAN[day])
    assert fired == EXPECTED
    with rt.unit_of_work() as conn:
        messages = conn.execute(select(OutboxMessage.topic, OutboxMessage.queue).where(OutboxMessage.event_id.is_(None))).all()
        assert len(messages) == len(EXPECTED)  # one message per rung, to the clock's department queue
        assert {queue for _, queue in messages} == {"social_policy", "bank", "enterprise"}
        # The clocks the case moved past are closed, their unfired rungs cancelled; the departure clock never rang.
        states = dict(conn.execute(select(Deadline.clock, Deadline.status)).all())
        cancelled = conn.scalar(select(func.count()).select_from(DeadlineRung).where(DeadlineRung.status == "cancelled"))
    assert states["counselling"] == states["loan_answer"] == states["departure"] == "closed"
    assert states["orientation_certificate"] == states["health_certificate"] == "closed"  # they matter until departure
    assert states["national_database"] == states["expected_return"] == "open"
    assert cancelled == 1 + 3 * 4  # counselling's province rung; every rung of departure, orientation and health


def rung_time(rt, deadline_id: int, rung: int) -> datetime:
    with rt.unit_of_work(writes=False) as conn:
        return conn.scalar(select(DeadlineRung.fires_at).where(DeadlineRung.deadline_id == deadline_id, DeadlineRung.rung == rung))


def test_a_case_deadlines_show_due_dates_rungs_and_whether_they_were_met(rt, actors, clock):
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today())).id
    clock.advance(days=3)
    f.step(rt, actors, case_id, "counsel")
    found = {d["clock"]: d for d in deadlines.case_deadlines(rt, case_id)}
    assert local_date(found["counselling"]["due_at"]) == date(2026, 7, 1)
    assert found["counselling"]["met"] is True and found["counselling"]["status"] == "closed"
    assert [r["status"] for r in found["counselling"]["rungs"]] == ["cancelled"] * 4
    assert found["departure"]["label_en"] == "Depart within 180 days of selection"
    assert local_date(found["departure"]["due_at"]) == date(2026, 6, 4) + timedelta(days=180)
    assert found["departure"]["met"] is None and found["departure"]["status"] == "open"


def test_a_corrected_examination_date_moves_the_health_certificate_clock_and_keeps_fired_rungs(rt, actors, clock):
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today())).id
    for trigger in ("counsel", "train", "certify_health"):
        f.step(rt, actors, case_id, trigger)
    # The certificate (12 months for Japan) is examined on 1/6/2026: its first reminder fires on 27/5/2027.
    [reminder] = [r for r in deadlines.sweep(rt, clock.now() + timedelta(days=362)) if r.clock == "health_certificate"]
    assert reminder.rung == 1
    cases.put_record(rt, actors["office"], case_id, "health", f.health(rt.today()), reason="Ghi chú thêm")  # same date
    earlier = rt.today() - timedelta(days=40)
    cases.put_record(rt, actors["office"], case_id, "health", f.health(earlier), reason="Sai ngày khám")
    [health] = [d for d in deadlines.case_deadlines(rt, case_id) if d["clock"] == "health_certificate"]
    assert (health["status"], health["counted_from"], local_date(health["due_at"])) == ("open", earlier, date(2027, 4, 22))
    # Rung 1 fired already and stays fired (never twice); the others are planned from the corrected date.
    assert [(r["rung"], r["status"], local_date(r["fires_at"])) for r in health["rungs"]] == [
        (1, "fired", date(2027, 5, 27)),
        (2, "pending", date(2027, 4, 22)),
        (3, "pending", date(2027, 4, 23)),
        (4, "pending", date(2027, 5, 5)),
    ]


def registered(engine, clock, count: int) -> Runtime:
    """Register `count` workers today; return the runtime over that database."""
    rt = build_runtime(Settings(), engine=engine, clock=clock)
    with rt.unit_of_work() as conn:
        officer = load_actor(conn, "social_policy")
    for serial in range(count):
        cases.register(rt, officer, f.registration(rt.today(), serial=serial))
    return rt


@pytest.mark.postgres
def test_two_beats_sweeping_at_once_fire_each_rung_once(postgres_engine, clock):
    """Two sweeps race over 40 due rungs: FOR UPDATE SKIP LOCKED gives each rung to one of them."""
    rt = registered(postgres_engine, clock, 40)
    # 40 cases, each with one counselling rung due (26/6 08:00): the sweep at 28/6 fires 40 reminders.
    later = clock.now() + timedelta(days=27)
    barrier = threading.Barrier(2)

    def beat() -> list[deadlines.Fired]:
        barrier.wait()
        return deadlines.sweep(rt, later, batch=7)

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: beat(), range(2))
    keys = [(r.deadline_id, r.rung) for r in first + second]
    # The database derives each message id from the rung's key exactly as Python does.
    assert all(r.message_id == deadlines.rung_message_id(r.deadline_id, r.rung) for r in first + second)
    assert len(keys) == len(set(keys)) == 40
    assert first and second  # both beats did part of the work
    with rt.unit_of_work() as conn:
        assert conn.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.event_id.is_(None))) == 40


def test_after_a_sweep_outage_a_late_deadline_fires_only_its_highest_due_rung(rt, actors, clock):
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today())).id
    fired = deadlines.sweep(rt, clock.now() + timedelta(days=33))  # nobody swept for a month: rungs 1-3 are due
    # Rungs 1 and 2 both remind the officer: only the later one goes; rung 3 (the commune supervisor) goes too.
    assert [(rung.case_id, rung.clock, rung.rung, rung.action) for rung in fired] == [
        (case_id, "counselling", 2, "remind"),
        (case_id, "counselling", 3, "escalate"),
    ]
    with rt.unit_of_work(writes=False) as conn:
        statuses = conn.scalars(select(DeadlineRung.status).order_by(DeadlineRung.rung)).all()  # the counselling clock's four
    assert statuses == ["skipped", "fired", "fired", "pending"]


def test_a_corrected_return_date_moves_the_running_task_clocks_and_leaves_finished_ones(rt, actors, clock):
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today())).id
    for trigger in ("counsel", "train", "certify_health", "approve_loan", "depart"):
        f.step(rt, actors, case_id, trigger)
    clock.advance(days=40)  # an early return
    f.step(rt, actors, case_id, "return_home", reason="early", cause="Ốm")
    with rt.unit_of_work() as conn:
        notice = conn.scalar(select(WorkItem.id).where(WorkItem.case_id == case_id, WorkItem.kind == "return_notice"))
    work.claim(rt, actors["social_policy"], notice)
    work.complete(rt, actors["social_policy"], notice)  # the worker reported to the residence office
    earlier = rt.today() - timedelta(days=3)
    cases.put_record(rt, actors["social_policy"], case_id, "return", f.return_home(earlier), reason="Sai ngày về")
    with rt.unit_of_work(writes=False) as conn:
        items = conn.execute(
            select(WorkItem.kind, WorkItem.status).where(WorkItem.case_id == case_id, WorkItem.kind != "state").order_by(WorkItem.id)
        ).all()
    assert [tuple(item) for item in items if item.kind in ("return_notice", "liquidation")] == [
        ("return_notice", "done"),  # finished before the correction: not asked again
        ("liquidation", "open"),  # running: its due date moves with the corrected return date
    ]
    [liquidation] = [d for d in deadlines.case_deadlines(rt, case_id) if d["clock"] == "liquidation"]
    assert (liquidation["counted_from"], local_date(liquidation["due_at"])) == (earlier, earlier + timedelta(days=180))
    with rt.unit_of_work(writes=False) as conn:
        due = conn.scalar(select(WorkItem.due_at).where(WorkItem.case_id == case_id, WorkItem.kind == "liquidation"))
    assert due == liquidation["due_at"]


def test_a_reopened_case_is_counselled_again_within_its_clock(rt, actors, clock):
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today())).id
    cases.withdraw(rt, actors["social_policy"], case_id, "Gia đình không đồng ý")
    clock.advance(days=100)
    cases.reopen(rt, actors["social_policy"], case_id, "Đăng ký lại")
    clocks = [(d["application_no"], d["clock"], d["status"]) for d in deadlines.case_deadlines(rt, case_id)]
    assert clocks == [(1, "counselling", "closed"), (2, "counselling", "open")]
    with rt.unit_of_work(writes=False) as conn:
        due = conn.scalar(select(WorkItem.due_at).where(WorkItem.case_id == case_id, WorkItem.status == "open"))
    assert local_date(due) == rt.today() + timedelta(days=30)


@pytest.mark.postgres
def test_two_sweeping_processes_at_once_fire_each_rung_once(postgres_engine, clock):
    """Two processes (two beats, or a beat and `guestwork deadlines sweep`) sweep the same moment together."""
    rt = registered(postgres_engine, clock, 300)
    url = postgres_engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "DATABASE_URL": url}
    command = [sys.executable, "-m", "services.cli", "deadlines", "sweep", "--now", "2026-06-28T09:00+07:00"]
    sweeps = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [sweep.communicate(timeout=120)[0] for sweep in sweeps]
    assert all(sweep.returncode == 0 for sweep in sweeps)
    lines = [line for output in outputs for line in output.splitlines() if line.startswith("✓ case")]
    assert len(lines) == len(set(lines)) == 300  # each case's first reminder, by one process or the other
    with rt.unit_of_work(writes=False) as conn:
        assert conn.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.event_id.is_(None))) == 300
