"""The plan and support pages: a unit's plan for a year (admins edit it, report readers see it) and a case's support panel (finance pays)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services import admin, plans, support
from services.api.deps import Rt
from services.users import Actor
from services.web.pages import Number, User, _case_page, render
from workflows.errors import DomainError, Problem, RecordInvalid, problem
from workflows.plans import Targets
from workflows.support import Payment

plan_pages = APIRouter(include_in_schema=False)
Year = Annotated[int, Path(ge=plans.MIN_YEAR, le=plans.MAX_YEAR)]
TARGET_FIELDS = ("departures_more_than", "language_orientation_percent", "vocational_percent", "in_depth_percent")
PAYMENT_FIELDS = ("item", "amount_vnd", "paid_on", "invoice_number", "food_days", "lodging_months")


# --- plans ------------------------------------------------------------------------------------------------------------


def _plans_page(request: Request, rt: Any, me: Actor, unit: str, year: int, status_code: int = 200, **extra: Any) -> HTMLResponse:
    units = plans.plan_units(rt, me)
    chosen = unit or (units[0]["code"] if units else "")
    plan = plans.get_plan(rt, me, chosen, year)
    context = {"units": units, "plan": plan, "may_edit": me.role == "admin", "placed": {}, "entered": {}} | extra
    return render(request, "plans.html", me, status_code=status_code, done=request.query_params.get("done"), **context)


@plan_pages.get("/plans")
def plans_page(
    request: Request, rt: Rt, me: User, unit: Annotated[str, Query(max_length=40)] = "",
    year: Annotated[int | None, Query(ge=plans.MIN_YEAR, le=plans.MAX_YEAR)] = None,
) -> HTMLResponse:  # fmt: skip
    """Show a unit's targets for a year (the user's own unit and this year unless chosen), with the form for admins."""
    return _plans_page(request, rt, me, unit, year or rt.today().year)


@plan_pages.post("/plans/{unit_code}/{year}")
async def plan_submit(request: Request, rt: Rt, me: User, unit_code: Annotated[str, Path(max_length=40)], year: Year) -> Response:
    """Save a unit's targets from the form; a refusal shows the form again as typed, each problem next to its field."""
    admin.require_admin(me)
    form = await request.form()
    typed = {name: str(form.get(name) or "").strip() for name in TARGET_FIELDS}
    try:
        plans.set_plan(rt, me, unit_code, year, Targets(**_whole_numbers(typed)))
    except DomainError as error:
        if error.http_status in (401, 403, 404):
            raise
        return _plans_page(request, rt, me, unit_code, year, error.http_status, placed=_by_field(error.problems), entered=typed)
    return RedirectResponse(f"/plans?unit={unit_code}&year={year}&done=1", status_code=303)


def _whole_numbers(typed: dict[str, str]) -> dict[str, int]:
    """Read whole-number inputs (a sign allowed, so a negative figure is refused by the rule that names it); refuse the others."""
    problems = [
        problem("field.int", f"'{value}' phải là số nguyên.", f"'{value}' must be a whole number.", name)
        for name, value in typed.items()
        if not value.removeprefix("-").isdigit() or len(value) > 12
    ]
    if problems:
        raise RecordInvalid(problems)
    return {name: int(value) for name, value in typed.items()}


def _by_field(problems: list[Problem]) -> dict[str, list[Problem]]:
    placed: dict[str, list[Problem]] = {}
    for found in problems:
        placed.setdefault(found.field or "", []).append(found)
    return placed


# --- support on the case page -----------------------------------------------------------------------------------------


@plan_pages.get("/cases/{case_id}/support")
def support_panel(request: Request, rt: Rt, me: User, case_id: Number) -> HTMLResponse:
    """The case's support panel, loaded into the case page by HTMX; empty for whoever may not see the support paid."""
    return render(request, "_support_panel.html", me, support_panel=support.case_support(rt, me, case_id), placed={}, entered={})


@plan_pages.post("/cases/{case_id}/support-payments")
async def payment_submit(request: Request, rt: Rt, me: User, case_id: Number) -> Response:
    """Record a support payment from the case page; a refusal shows the case again with the reason next to the field, nothing written."""
    support.require_recorder(me)
    form = await request.form()
    typed = {name: str(form.get(name) or "").strip() for name in PAYMENT_FIELDS}
    try:
        support.record_payment(rt, me, case_id, _payment(typed))
    except DomainError as error:
        if error.http_status in (401, 403, 404):
            raise
        panel = support.case_support(rt, me, case_id)
        extra = {"support_panel": panel, "placed": _by_field(error.problems), "entered": typed}
        return _case_page(request, rt, me, case_id, error.http_status, **extra)
    return RedirectResponse(f"/cases/{case_id}#support", status_code=303)


def _payment(typed: dict[str, str]) -> Payment:
    """Read the payment form; refuse an amount, day or course length that is no number or date, naming each."""
    problems = []
    for name in ("amount_vnd", "food_days", "lodging_months"):
        if (typed[name] and not typed[name].isdigit()) or len(typed[name]) > 15:
            problems.append(problem("field.int", f"'{typed[name]}' phải là số nguyên.", f"'{typed[name]}' must be a whole number.", name))
    try:
        paid_on = date.fromisoformat(typed["paid_on"])
    except ValueError:
        value = typed["paid_on"]
        problems.append(
            problem("field.date", f"Ngày '{value}' không hợp lệ (YYYY-MM-DD).", f"'{value}' is not a date (YYYY-MM-DD).", "paid_on")
        )
    if problems:
        raise RecordInvalid(problems)
    numbers = {name: int(typed[name] or 0) for name in ("amount_vnd", "food_days", "lodging_months")}
    return Payment(item=typed["item"], paid_on=paid_on, invoice_number=typed["invoice_number"], **numbers)
