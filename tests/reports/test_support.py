"""Support payments: caps, once per person, priority groups only, finance of the commune only, and the history event."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from services import audit, cases, queries, support
from services.models import OutboxMessage, SupportPayment
from tests import factories as f
from tests.api.conftest import OTHER_COMMUNE, OTHER_VILLAGE
from workflows.errors import Conflict, Forbidden, GuardFailed, NotFound, RecordInvalid
from workflows.history import SUPPORT_PAYMENT
from workflows.support import Payment

PAID_ON = date(2026, 5, 30)


def _case(rt, actors, serial=1, **overrides):
    return cases.register(rt, actors["social_policy"], f.registration(rt.today(), serial, **overrides)).id


def _rows(rt):
    with rt.unit_of_work(writes=False) as conn:
        return conn.scalar(select(func.count()).select_from(SupportPayment))


def test_a_payment_is_an_event_in_the_history_and_a_row(rt, actors):
    case_id = _case(rt, actors)
    paid = support.record_payment(rt, actors["finance"], case_id, Payment("language", 4_000_000, PAID_ON, "HD-001"))
    assert (paid.version, paid.cap_vnd, paid.amount_vnd) == (2, 4_000_000, 4_000_000)
    history = queries.case_history(rt, case_id, actors["supervisor"])
    assert [e["trigger"] for e in history] == ["register", SUPPORT_PAYMENT]
    assert "4.000.000 đ" in history[-1]["reason"] and "HD-001" in history[-1]["reason"]
    with rt.unit_of_work(writes=False) as conn:
        assert audit.verify(conn, case_id).ok
        row = conn.execute(select(SupportPayment)).one()
    assert (row.item, row.amount_vnd, row.paid_on, row.invoice_number) == ("language", 4_000_000, PAID_ON, "HD-001")


def test_a_payment_lands_in_the_history_and_sends_no_message(rt, actors):
    case_id = _case(rt, actors)
    with rt.unit_of_work(writes=False) as conn:
        before = conn.scalar(select(func.count()).select_from(OutboxMessage))
    paid = support.record_payment(rt, actors["finance"], case_id, Payment("passport", 200_000, PAID_ON, "HD-0"))
    with rt.unit_of_work(writes=False) as conn:
        assert conn.scalar(select(func.count()).select_from(OutboxMessage)) == before  # no department waits on it
        assert conn.scalar(select(SupportPayment.event_id).where(SupportPayment.id == paid.id)) is not None
        assert audit.verify(conn, case_id).ok
    history = queries.case_history(rt, case_id, actors["supervisor"])
    assert history[-1]["trigger"] == SUPPORT_PAYMENT and "HD-0" in history[-1]["reason"] and paid.version == 2


def test_over_the_cap_is_refused_saying_the_cap(rt, actors):
    case_id = _case(rt, actors)
    with pytest.raises(RecordInvalid) as refused:
        support.record_payment(rt, actors["finance"], case_id, Payment("health_check", 750_001, PAID_ON, "HD-2"))
    assert "750.000 đ" in refused.value.problems[0].vi and "750,000 VND" in refused.value.problems[0].en
    assert _rows(rt) == 0


def test_orientation_adds_food_per_day_and_lodging_per_month(rt, actors):
    case_id = _case(rt, actors)
    cap = 530_000 + 10 * 50_000 + 1 * 400_000
    with pytest.raises(RecordInvalid) as refused:
        support.record_payment(
            rt, actors["finance"], case_id, Payment("orientation", cap + 1, PAID_ON, "HD-3", food_days=10, lodging_months=1)
        )
    assert f"{cap:,} VND" in refused.value.problems[0].en
    paid = support.record_payment(
        rt, actors["finance"], case_id, Payment("orientation", cap, PAID_ON, "HD-3", food_days=10, lodging_months=1)
    )
    assert paid.cap_vnd == cap
    with pytest.raises(RecordInvalid):  # food and lodging belong to the orientation course only
        support.record_payment(rt, actors["finance"], case_id, Payment("travel", 200_000, PAID_ON, "HD-4", food_days=2))


def test_each_item_once_per_person_saying_when(rt, actors):
    case_id = _case(rt, actors)
    support.record_payment(rt, actors["finance"], case_id, Payment("passport", 200_000, PAID_ON, "HD-5"))
    with pytest.raises(Conflict) as refused:
        support.record_payment(rt, actors["finance"], case_id, Payment("passport", 100_000, PAID_ON, "HD-6"))
    assert "30/05/2026" in refused.value.problems[0].vi and "2026-05-30" in refused.value.problems[0].en
    support.record_payment(rt, actors["finance"], case_id, Payment("criminal_record", 200_000, PAID_ON, "HD-7"))  # another item is fine
    assert _rows(rt) == 2


def test_only_a_priority_group_is_paid(rt, actors):
    case_id = _case(rt, actors, priority={})
    with pytest.raises(GuardFailed) as refused:
        support.record_payment(rt, actors["finance"], case_id, Payment("language", 1_000_000, PAID_ON, "HD-8"))
    assert refused.value.problems[0].code == "support.not_priority" and "priority group" in refused.value.problems[0].en
    assert _rows(rt) == 0


def test_only_finance_of_the_cases_commune_records_it(rt, actors, other_commune):
    case_id = _case(rt, actors)
    for name in ("social_policy", "bank", "supervisor", "auditor", "admin"):
        with pytest.raises(Forbidden):
            support.record_payment(rt, actors[name], case_id, Payment("language", 1_000_000, PAID_ON, "HD-9"))
    theirs = cases.register(
        rt, other_commune["b_social_policy"], f.registration(rt.today(), 2, commune_code=OTHER_COMMUNE, village_code=OTHER_VILLAGE)
    ).id
    with pytest.raises(NotFound):
        support.record_payment(rt, actors["finance"], theirs, Payment("language", 1_000_000, PAID_ON, "HD-10"))
    assert _rows(rt) == 0


def test_bad_figures_are_named(rt, actors):
    case_id = _case(rt, actors)
    with pytest.raises(RecordInvalid) as refused:
        support.record_payment(rt, actors["finance"], case_id, Payment("language", 0, date(2027, 1, 1), " "))
    assert {p.field for p in refused.value.problems} == {"amount_vnd", "paid_on", "invoice_number"}
    with pytest.raises(RecordInvalid) as unknown:
        support.record_payment(rt, actors["finance"], case_id, Payment("lunch", 1, PAID_ON, "HD-11"))
    assert unknown.value.problems[0].code == "support.item"


def test_the_visa_fee_follows_the_counselled_country(rt, actors):
    case_id = _case(rt, actors)
    f.step(rt, actors, case_id, "counsel", market_code="KR-EPS")
    support.record_payment(rt, actors["finance"], case_id, Payment("visa", 1_500_000, PAID_ON, "HD-12"))
    other = _case(rt, actors, 3)
    f.step(rt, actors, other, "counsel", market_code="JP-TTS")
    with pytest.raises(RecordInvalid) as refused:
        support.record_payment(rt, actors["finance"], other, Payment("visa", 1_500_000, PAID_ON, "HD-13"))
    assert "610,000 VND" in refused.value.problems[0].en
