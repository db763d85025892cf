"""The periodic reports' pages: a unit's reports (the province sees its communes'), and a report to review and submit."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services import indicators, reports
from services.api.deps import Rt
from services.users import Actor
from services.web.pages import Number, User, render
from workflows.errors import DomainError
from workflows.reports import DRAFTED

report_pages = APIRouter(include_in_schema=False)


@report_pages.get("/reports")
def reports_page(request: Request, rt: Rt, me: User) -> HTMLResponse:
    """List the reports of the user's commune, or of every commune of their province, newest period first."""
    listed = reports.list_reports(rt, me, reports.home_unit_code(rt, me))
    return render(request, "reports.html", me, listed=listed)


def _report_page(request: Request, rt: Any, me: Actor, report_id: int, status_code: int = 200, **extra: Any) -> HTMLResponse:
    shown = reports.get(rt, me, report_id)
    figures = shown["figures"]
    if shown["state"] == DRAFTED:  # a draft shows what it would freeze if submitted now
        figures = indicators.indicators(rt, me, shown["unit_code"], shown["period_start"], shown["period_end"])
    context = {"report": shown, "figures": figures, "submits": reports.may_submit(rt, me, shown), "returns": reports.may_return(me, shown)}
    return render(request, "report.html", me, status_code=status_code, **context | extra)


@report_pages.get("/reports/{report_id}")
def report_page(request: Request, rt: Rt, me: User, report_id: Number) -> HTMLResponse:
    return _report_page(request, rt, me, report_id)


@report_pages.post("/reports/{report_id}/submit")
async def submit_form(request: Request, rt: Rt, me: User, report_id: Number) -> Response:
    """Submit the report from its page; a refusal (stale version) shows the page again with the reason."""
    form = await request.form()
    try:
        reports.submit(rt, me, report_id, _version(form.get("version")))
    except DomainError as error:
        if error.http_status in (401, 403, 404):
            raise
        return _report_page(request, rt, me, report_id, error.http_status, problems=error.problems)
    return RedirectResponse(f"/reports/{report_id}", status_code=303)


@report_pages.post("/reports/{report_id}/return")
async def return_form(request: Request, rt: Rt, me: User, report_id: Number) -> Response:
    """Return the report to its commune from its page, with a reason."""
    form = await request.form()
    try:
        reports.return_report(rt, me, report_id, _version(form.get("version")), str(form.get("reason") or ""))
    except DomainError as error:
        if error.http_status in (401, 403, 404):
            raise
        return _report_page(request, rt, me, report_id, error.http_status, problems=error.problems)
    return RedirectResponse(f"/reports/{report_id}", status_code=303)


def _version(value: Any) -> int:
    text = str(value or "")
    return int(text) if text.isdigit() and len(text) < 10 else 0  # 0 is no version: the command refuses it as stale
