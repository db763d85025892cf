"""The rules of non-refundable support to priority groups: the items, their caps, and why a payment is refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from workflows.errors import Problem, problem
from workflows.records import vi_date, vi_money


@dataclass(frozen=True)
class SupportItem:
    """One item of support and its cap; orientation adds food per day and lodging per month of the course."""

    code: str
    name_vi: str
    name_en: str
    cap_vnd: int
    food_per_day_vnd: int = 0
    lodging_per_month_vnd: int = 0
    by_country: dict[str, int] = field(default_factory=dict)  # the official fee per destination (the visa)

    def cap_for(self, food_days: int, lodging_months: int, country: str | None) -> int:
        """Return the most this item may pay for a course of so many days and months, to a destination."""
        base = self.by_country.get(country or "", self.cap_vnd)
        return base + food_days * self.food_per_day_vnd + lodging_months * self.lodging_per_month_vnd


@dataclass(frozen=True)
class SupportPolicy:
    """The support items by code, in the order of config/support.toml."""

    items: dict[str, SupportItem]


@dataclass(frozen=True)
class Payment:
    """What finance types for one payment."""

    item: str
    amount_vnd: int
    paid_on: date
    invoice_number: str
    food_days: int = 0
    lodging_months: int = 0


def build_support_policy(data: dict[str, Any]) -> SupportPolicy:
    """Build the support policy from config/support.toml's data."""
    items = {}
    for code, values in data["item"].items():
        by_country = {country.upper(): int(fee) for country, fee in values.get("by_country", {}).items()}
        items[code] = SupportItem(
            code=code, name_vi=values["name_vi"], name_en=values["name_en"], cap_vnd=int(values["cap_vnd"]),
            food_per_day_vnd=int(values.get("food_per_day_vnd", 0)), lodging_per_month_vnd=int(values.get("lodging_per_month_vnd", 0)),
            by_country=by_country,
        )  # fmt: skip
    return SupportPolicy(items=items)


def payment_problems(policy: SupportPolicy, payment: Payment, today: date, country: str | None) -> list[Problem]:
    """Return what is wrong with a payment itself: an unknown item, bad figures, a future day, a cap exceeded."""
    item = policy.items.get(payment.item)
    if item is None:
        known = ", ".join(policy.items)
        return [problem("support.item", f"Không có khoản hỗ trợ '{payment.item}' (có: {known}).",
                        f"No support item '{payment.item}' (known: {known}).", "item")]  # fmt: skip
    found = _figure_problems(item, payment, today)
    if found:
        return found
    cap = item.cap_for(payment.food_days, payment.lodging_months, country)
    if payment.amount_vnd > cap:
        vi = f"Số tiền {vi_money(payment.amount_vnd)} đ vượt mức tối đa {vi_money(cap)} đ của khoản '{item.name_vi}'."
        en = f"{payment.amount_vnd:,} VND exceeds the cap of {cap:,} VND for '{item.name_en}'."
        found.append(problem("support.over_cap", vi + _cap_detail_vi(item, payment), en + _cap_detail_en(item, payment), "amount_vnd"))
    return found


def _figure_problems(item: SupportItem, payment: Payment, today: date) -> list[Problem]:
    found = []
    if payment.amount_vnd <= 0:
        found.append(problem("support.amount", "Số tiền phải lớn hơn 0.", "The amount must be greater than 0.", "amount_vnd"))
    if payment.paid_on > today:
        vi, en = f"Ngày chi {vi_date(payment.paid_on)} chưa tới.", f"The payment day {payment.paid_on.isoformat()} is in the future."
        found.append(problem("support.paid_on", vi, en, "paid_on"))
    if not payment.invoice_number.strip():
        found.append(problem("support.invoice", "Cần số hóa đơn, chứng từ.", "The invoice number is required.", "invoice_number"))
    for name, value, allowed in (
        ("food_days", payment.food_days, item.food_per_day_vnd),
        ("lodging_months", payment.lodging_months, item.lodging_per_month_vnd),
    ):
        if value < 0 or value > 366:
            found.append(problem("support.course_length", "Số ngày / tháng phải từ 0 đến 366.", "Days or months must be 0 to 366.", name))
        elif value and not allowed:
            vi, en = f"Khoản '{item.name_vi}' không hỗ trợ tiền ăn, ở.", f"'{item.name_en}' pays no food or lodging."
            found.append(problem("support.no_food_lodging", vi, en, name))
    return found


def _cap_detail_vi(item: SupportItem, payment: Payment) -> str:
    if not (payment.food_days or payment.lodging_months):
        return ""
    return (f" (khóa học {vi_money(item.cap_vnd)} đ + ăn {payment.food_days} ngày × {vi_money(item.food_per_day_vnd)} đ"
            f" + ở {payment.lodging_months} tháng × {vi_money(item.lodging_per_month_vnd)} đ)")  # fmt: skip


def _cap_detail_en(item: SupportItem, payment: Payment) -> str:
    if not (payment.food_days or payment.lodging_months):
        return ""
    return (f" (course {item.cap_vnd:,} + food {payment.food_days} days × {item.food_per_day_vnd:,}"
            f" + lodging {payment.lodging_months} months × {item.lodging_per_month_vnd:,})")  # fmt: skip


def not_priority_group(full_name: str) -> Problem:
    """Return the refusal of support to a worker in no priority group."""
    return problem(
        "support.not_priority",
        f"{full_name} không thuộc nhóm đối tượng ưu tiên nào (hộ nghèo, cận nghèo, dân tộc thiểu số, …); không được hỗ trợ.",
        f"{full_name} belongs to no priority group (poor or near-poor household, ethnic minority, …); no support can be paid.",
        "item",
    )


def already_paid(item: SupportItem, paid_on: date, case_id: int) -> Problem:
    """Return the refusal of an item this person was paid already, saying when."""
    return problem(
        "support.already_paid",
        f"Khoản '{item.name_vi}' đã chi cho người này ngày {vi_date(paid_on)} (hồ sơ {case_id}); mỗi khoản chỉ chi một lần.",
        f"'{item.name_en}' was paid to this person on {paid_on.isoformat()} (case {case_id}); each item is paid once.",
        "item",
    )
