"""The periodic reports' pages: a unit's reports (the province sees its communes'), and a report to review and submit."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from services import plans, report_exports, reports
from services.api.deps import Rt
from services.charts import report_charts
from services.users import Actor
from services.web.pages import Number, User, language, render
from workflows.errors import DomainError

report_pages = APIRouter(include_in_schema=False)


@report_pages.get("/reports")
def reports_page(request: Request, rt: Rt, me: User) -> HTMLResponse:
    """List the reports of the user's commune, or of every commune of their province, newest period first."""
    listed = reports.list_reports(rt, me, plans.own_unit_code(rt, me) or "")
    return render(request, "reports.html", me, listed=listed)


def _report_page(request: Request, rt: Any, me: Actor, report_id: int, status_code: int = 200, **extra: Any) -> HTMLResponse:
    shown, figures = reports.figures_of(rt, me, report_id)  # a draft shows what it would freeze if submitted now
    charts = {name: Markup(svg) for name, svg in report_charts(figures, language(request)).items()}  # drawn by us, text escaped
    context = {"report": shown, "figures": figures, "charts": charts, "exports": _exports(report_id, language(request)),
               "submits": reports.may_submit(rt, me, shown), "returns": reports.may_return(me, shown)}  # fmt: skip
    return render(request, "report.html", me, status_code=status_code, **context | extra)


def _exports(report_id: int, lang: str) -> dict[str, str]:
    """Return the report's printable page and downloads, named as the links show them."""
    api = f"/api/reports/{report_id}/export?"
    return {"print": f"/reports/{report_id}/print?lang={lang}", "XLSX": api + urlencode({"format": "xlsx"}),
            "PDF": api + urlencode({"format": "pdf", "lang": lang})}  # fmt: skip


@report_pages.get("/reports/{report_id}")
def report_page(request: Request, rt: Rt, me: User, report_id: Number) -> HTMLResponse:
    return _report_page(request, rt, me, report_id)


@report_pages.get("/reports/{report_id}/print")
def report_print_page(request: Request, rt: Rt, me: User, report_id: Number) -> HTMLResponse:
    """Show a report as a printable page (charts and tables), with its XLSX and PDF downloads."""
    shown, figures = reports.figures_of(rt, me, report_id)
    lang = language(request)
    links = {name: link for name, link in _exports(report_id, lang).items() if name != "print"}
    return HTMLResponse(report_exports.printable_html(figures, lang, reports.export_labels(shown, figures), links))


@report_pages.post("/reports/{report_id}/submit")
async def submit_form(request: Request, rt: Rt, me: User, report_id: Number) -> Response:
    """Submit the report from its page; a refusal (stale version) shows the page again with the reason."""
    form = await request.form()
    try:
        await run_in_threadpool(reports.submit, rt, me, report_id, _version(form.get("version")))  # it computes the figures
    except DomainError as error:
        if error.http_status in (401, 403, 404):
            raise
        return await run_in_threadpool(_report_page, request, rt, me, report_id, error.http_status, problems=error.problems)
    return RedirectResponse(f"/reports/{report_id}", status_code=303)


@report_pages.post("/reports/{report_id}/return")
async def return_form(request: Request, rt: Rt, me: User, report_id: Number) -> Response:
    """Return the report to its commune from its page, with a reason."""
    form = await request.form()
    try:
        await run_in_threadpool(reports.return_report, rt, me, report_id, _version(form.get("version")), str(form.get("reason") or ""))
    except DomainError as error:
        if error.http_status in (401, 403, 404):
            raise
        return await run_in_threadpool(_report_page, request, rt, me, report_id, error.http_status, problems=error.problems)
    return RedirectResponse(f"/reports/{report_id}", status_code=303)


def _version(value: Any) -> int:
    text = str(value or "")
    return int(text) if text.isdigit() and len(text) < 10 else 0  # 0 is no version: the command refuses it as stale
