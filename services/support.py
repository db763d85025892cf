"""Support payments to workers of priority groups: finance records one per person and item, with its event in the history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from services import access, store
from services.models import SupportPayment
from services.runtime import Runtime
from services.users import Actor
from workflows.access import AccessPolicy
from workflows.errors import Conflict, Forbidden, GuardFailed, RecordInvalid, problem
from workflows.history import SUPPORT_PAYMENT
from workflows.records import vi_date, vi_money
from workflows.support import Payment, SupportItem, already_paid, not_priority_group, payment_problems

PAYING_DEPARTMENT = "finance"
# Support paid is money paid to a person: it is shown to whoever sees the loan figures in clear (config/access.toml).
MONEY_CATEGORY = "loan"


@dataclass(frozen=True)
class Paid:
    """A recorded payment: its id, the case's version after the event, and the figures."""

    id: int
    case_id: int
    version: int
    item: str
    amount_vnd: int
    paid_on: date
    cap_vnd: int


def record_payment(rt: Runtime, actor: Actor, case_id: int, payment: Payment) -> Paid:
    """Record a support payment for a case's worker (finance of the case's commune), or raise why not; nothing is written then."""
    require_recorder(actor)
    if "\x00" in payment.invoice_number:
        raise RecordInvalid([problem("field.nul", "Có ký tự NUL (\\0) không hợp lệ.", "Contains a NUL character (\\0).", "invoice_number")])
    try:
        with rt.unit_of_work() as conn:
            case, records = store.load_case_and_records(conn, case_id, rt.sealer)  # locks the case row on PostgreSQL
            access.require_commune(actor, case.commune_id, case_id)
            country = _destination(rt, records)
            problems = payment_problems(rt.support, payment, rt.today(), country)
            if problems:
                raise RecordInvalid(problems)
            item = rt.support.items[payment.item]
            registration = records["registration"]
            if not registration.priority.any():
                raise GuardFailed([not_priority_group(registration.full_name)])
            _refuse_second(conn, item, case.person_id)
            payment_id, version = _write(conn, rt, actor, case, item, payment)
    except IntegrityError as error:  # the same item paid meanwhile by another request (the unique key), or the case moved
        with rt.unit_of_work(writes=False) as conn:
            _refuse_second(conn, rt.support.items[payment.item], case.person_id)
        raise store.stale(case_id, None, None) from error
    cap = item.cap_for(payment.food_days, payment.lodging_months, country)
    return Paid(payment_id, case_id, version, payment.item, payment.amount_vnd, payment.paid_on, cap)


def may_record(actor: Actor) -> bool:
    """Tell whether a user records support payments (the finance officers; their commune is checked on the case)."""
    return actor.role == "officer" and actor.department == PAYING_DEPARTMENT


def require_recorder(actor: Actor) -> None:
    """Refuse anyone but a finance officer (before their form is read: a stranger to it is told so, not what is wrong in it)."""
    if not may_record(actor):
        vi = f"Chỉ cán bộ Tài chính – Kế hoạch của xã mới ghi chi hỗ trợ ({actor.username} không phải)."
        en = f"Only the commune's finance officer records support payments ({actor.username} is not one)."
        raise Forbidden([problem("support.finance_only", vi, en, "actor")])


def may_read(policy: AccessPolicy, actor: Actor) -> bool:
    """Tell whether a user sees the support paid to a worker: finance, and whoever sees the loan figures in clear."""
    if actor.role == "system" or may_record(actor):
        return True
    return any(category.name == MONEY_CATEGORY and category.visible_to(actor.role, actor.department) for category in policy.sensitive)


def case_support(rt: Runtime, actor: Actor, case_id: int) -> dict[str, Any] | None:
    """Return a case's support: each item with its cap and its payment to the worker, if any; None for a user who may not see it.

    A case outside the user's communes does not exist for them (404), as on the case page; the read is logged like a case's.
    """
    access.require_role(actor, access.CASE_READERS, "xem hồ sơ", "read cases")
    with rt.unit_of_work(writes=False) as conn:
        case, records = store.load_case_and_records(conn, case_id, rt.sealer)
        access.require_commune(actor, case.commune_id, case_id)
        if not may_read(rt.access, actor):
            return None
        paid = {row.item: row._asdict() for row in conn.execute(_PAID.where(SupportPayment.person_id == case.person_id))}
    if actor.user_id is not None:
        with rt.unit_of_work() as conn:
            access.log_read(conn, rt.access, actor, case_id, "support", rt.clock.now())
    country = _destination(rt, records)
    items = [
        {"code": item.code, "name_vi": item.name_vi, "name_en": item.name_en, "cap_vnd": item.cap_for(0, 0, country),
         "food_per_day_vnd": item.food_per_day_vnd, "lodging_per_month_vnd": item.lodging_per_month_vnd, "paid": paid.get(item.code)}
        for item in rt.support.items.values()
    ]  # fmt: skip
    registration = records["registration"]
    return {"case_id": case_id, "version": case.version, "items": items, "priority": registration.priority.any(),
            "country": country, "may_record": may_record(actor), "today": rt.today().isoformat()}  # fmt: skip


_PAID = select(
    SupportPayment.item,
    SupportPayment.amount_vnd,
    SupportPayment.paid_on,
    SupportPayment.invoice_number,
    SupportPayment.food_days,
    SupportPayment.lodging_months,
    SupportPayment.case_id,
)


def _destination(rt: Runtime, records: dict[str, Any]) -> str | None:
    """Return the country of the market the worker was counselled for (the visa fee depends on it)."""
    counselling = records.get("counselling")
    market = rt.policy.markets.get(counselling.market_code) if counselling is not None else None
    return market.country if market is not None else None


def _refuse_second(conn: Connection, item: SupportItem, person_id: int) -> None:
    earlier = conn.execute(
        select(SupportPayment.paid_on, SupportPayment.case_id).where(
            SupportPayment.person_id == person_id, SupportPayment.item == item.code
        )
    ).first()
    if earlier is not None:
        raise Conflict([already_paid(item, earlier.paid_on, earlier.case_id)])


def _write(conn: Connection, rt: Runtime, actor: Actor, case: Any, item: SupportItem, payment: Payment) -> tuple[int, int]:
    """Append the payment's event to the case's chain, then the payment row that points at it.

    No department is sent a message: the reports read the payments from their table, and no one's work waits on one.
    """
    now = rt.clock.now()
    entry = store.Entry(
        trigger=SUPPORT_PAYMENT, from_state=case.state, to_state=case.state, application_no=case.application_no,
        record_kind=None, record=None, reason=payment_note(item, payment),
    )  # fmt: skip
    event_id, _, _ = store.append(conn, case, actor, now, entry)
    values = {
        "case_id": case.id, "person_id": case.person_id, "commune_id": case.commune_id, "item": item.code,
        "amount_vnd": payment.amount_vnd, "paid_on": payment.paid_on, "invoice_number": payment.invoice_number.strip(),
        "food_days": payment.food_days, "lodging_months": payment.lodging_months, "event_id": event_id,
        "recorded_by": actor.user_id, "recorded_at": now,
    }  # fmt: skip
    payment_id = int(conn.execute(insert(SupportPayment).returning(SupportPayment.id), values).scalar_one())
    return payment_id, case.version + 1


def payment_note(item: SupportItem, payment: Payment) -> str:
    """Return the text the history keeps for a payment: the item, amount, day and invoice (the hash chain proves them)."""
    course = f", ăn {payment.food_days} ngày, ở {payment.lodging_months} tháng" if payment.food_days or payment.lodging_months else ""
    return (f"Chi hỗ trợ {item.code} ({item.name_vi}): {vi_money(payment.amount_vnd)} đ, ngày {vi_date(payment.paid_on)}, "
            f"hóa đơn {payment.invoice_number.strip()}{course}")  # fmt: skip
