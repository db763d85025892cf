"""The web pages (server-rendered, Vietnamese by default with an English switch): login, inbox, case, search, dashboard, printable report, audit."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from services import access, auth, cases, deadlines, extensions, indicators, outbox, plans, queries, report_exports, work, work_queries
from services.api.deps import SESSION_COOKIE, Rt, remote_address
from services.charts import report_charts
from services.exports import csv_document
from services.users import Actor
from services.web.diagram import workflow_svg
from workflows import case as workflow
from workflows.errors import DomainError, RecordInvalid
from workflows.errors import problem as field_problem
from workflows.record_forms import form_fields

TEMPLATES = Jinja2Templates(directory=FilePath(__file__).resolve().parent / "templates")
LANG_COOKIE = "gw_lang"
pages = APIRouter(include_in_schema=False)


def language(request: Request) -> str:
    """Return the page language: ?lang=, else the cookie, else Vietnamese."""
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "vi"
    return chosen if chosen in ("vi", "en") else "vi"


def page_actor(request: Request, rt: Rt) -> Actor:
    """Return the logged-in user of a page, or send the browser to the login page (or, while the user still has the
    password an admin chose, to the page that sets their own)."""
    return _session_actor(request, rt, allow_admin_password=False)


def account_page_actor(request: Request, rt: Rt) -> Actor:
    """Return the logged-in user of their account's page, also one who must still choose their own password."""
    return _session_actor(request, rt, allow_admin_password=True)


def _session_actor(request: Request, rt: Rt, *, allow_admin_password: bool) -> Actor:
    token = request.cookies.get(SESSION_COOKIE)
    try:
        if token:
            return auth.authenticate(rt, token, allow_admin_password=allow_admin_password)
    except auth.NotAuthenticated:
        pass
    except auth.PasswordChangeRequired:
        raise HTTPException(status_code=303, headers={"Location": "/account/password"}) from None
    raise HTTPException(status_code=303, headers={"Location": f"/login?next={request.url.path}"})


User = Annotated[Actor, Depends(page_actor)]
AccountUser = Annotated[Actor, Depends(account_page_actor)]
Number = Annotated[int, Path(ge=1, le=2**62)]


def render(request: Request, name: str, me: Actor | None, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page in the user's language, with the notification badge."""
    lang = language(request)
    rt = request.app.state.runtime
    unread = outbox.unread_count(rt, me.user_id) if me is not None and me.user_id is not None else 0

    def t(vi: str, en: str) -> str:
        return vi if lang == "vi" else en

    response = TEMPLATES.TemplateResponse(
        request, name, {"me": me, "lang": lang, "t": t, "unread": unread, "workflow": workflow, **context}, status_code=status_code
    )
    if request.query_params.get("lang") in ("vi", "en"):
        response.set_cookie(LANG_COOKIE, lang, samesite="lax", max_age=365 * 86400)
    return response


def refusal_page(request: Request, error: DomainError) -> HTMLResponse:
    """Show a refusal that no page handled itself, in both languages."""
    return render(request, "refused.html", None, status_code=error.http_status, problems=error.problems)


# --- login ------------------------------------------------------------------------------------------------------------


@pages.get("/login")
def login_page(request: Request) -> HTMLResponse:
    return render(request, "login.html", None, next=request.query_params.get("next", "/"))


@pages.post("/login")
def login_submit(
    request: Request, rt: Rt, username: Annotated[str, Form()], password: Annotated[str, Form()], next: Annotated[str, Form()] = "/"
) -> Response:
    try:
        login = auth.login(rt, username, password, remote_address(request), kind="session")
    except (auth.LoginFailed, auth.TooManyAttempts) as error:
        return render(request, "login.html", None, status_code=error.http_status, problems=error.problems, username=username, next=next)
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    secure = request.url.scheme == "https"  # behind a TLS proxy: uvicorn --proxy-headers makes the scheme https
    response.set_cookie(SESSION_COOKIE, login.token, httponly=True, secure=secure, samesite="lax", max_age=auth.SESSION_HOURS * 3600)
    return response


@pages.post("/logout")
def logout(request: Request, rt: Rt) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        auth.logout(rt, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@pages.get("/account/password")
def password_page(request: Request, me: AccountUser) -> HTMLResponse:
    """Show the form that sets one's own password."""
    return render(request, "account_password.html", me)


@pages.post("/account/password")
def password_submit(
    request: Request, rt: Rt, me: AccountUser, current_password: Annotated[str, Form()], new_password: Annotated[str, Form()]
) -> Response:
    """Set one's own password; the other sessions and tokens end, this session stays."""
    try:
        auth.change_password(rt, me, request.cookies.get(SESSION_COOKIE, ""), current_password, new_password, remote_address(request))
    except (RecordInvalid, auth.TooManyAttempts) as error:
        return render(request, "account_password.html", me, status_code=error.http_status, problems=error.problems)
    return RedirectResponse("/", status_code=303)


@pages.get("/")
def home(me: User) -> Response:
    """Send each role to where its work is."""
    target = {"officer": "/inbox", "supervisor": "/dashboard", "auditor": "/audit", "admin": "/admin/users"}.get(me.role, "/search")
    return RedirectResponse(target, status_code=303)


# --- inbox ------------------------------------------------------------------------------------------------------------


@pages.get("/inbox")
def inbox_page(request: Request, rt: Rt, me: User, department: str | None = None) -> HTMLResponse:
    access.require_role(me, access.CASE_WRITERS, "xem hộp việc", "read inboxes")
    chosen = me.department if me.role == "officer" else department or "social_policy"
    items = work_queries.inbox(rt, me, department=chosen or "", communes=me.communes, now=rt.clock.now(), limit=100)
    return render(request, "inbox.html", me, department=chosen, items=items)


@pages.post("/work/{item_id}/{verb}")
def work_action(request: Request, rt: Rt, me: User, item_id: Number, verb: str) -> Response:
    """Claim or release an item from the inbox; an HTMX request gets the row back, a plain form a redirect."""
    actions = {"claim": work.claim, "release": work.release, "complete": work.complete}
    if verb not in actions:
        raise HTTPException(status_code=404)
    actions[verb](rt, me, item_id)
    if request.headers.get("hx-request"):
        department = me.department or request.query_params.get("department") or "social_policy"
        item = work_queries.inbox_item(rt, me, item_id, department=department, now=rt.clock.now())
        return render(request, "_item_row.html", me, item=item, department=department)
    return RedirectResponse(request.headers.get("referer") or "/inbox", status_code=303)


# --- case -------------------------------------------------------------------------------------------------------------


def place_problems(problems: list[Any], record_kind: str, paths: list[str]) -> dict[str, list[Any]]:
    """Put each problem next to the input it is about ("" for those about the whole step)."""
    placed: dict[str, list[Any]] = {}
    for problem in problems:
        name = (problem.field or "").removeprefix(f"{record_kind}.")
        match = next((path for path in paths if path == name or path.startswith(f"{name}.")), "")
        placed.setdefault(match, []).append(problem)
    return placed


def _case_page(request: Request, rt: Any, me: Actor, case_id: int, status_code: int = 200, **extra: Any) -> HTMLResponse:
    detail = queries.case_detail(rt, case_id, me)
    history = queries.case_history(rt, case_id, me)
    forms = {step["trigger"]: form_fields(step["record"]) for step in detail["next_steps"]}
    return render(
        request, "case.html", me, status_code=status_code, case=detail, history=history, forms=forms,
        deadlines=deadlines.case_deadlines(rt, case_id), diagram=workflow_svg(detail["state"], language(request)), **extra,
    )  # fmt: skip


@pages.get("/cases/{case_id}")
def case_page(request: Request, rt: Rt, me: User, case_id: Number) -> HTMLResponse:
    return _case_page(request, rt, me, case_id)


def record_from_form(fields: list[Any], form: Any) -> dict[str, Any]:
    """Turn a step form's dotted inputs into the record's nested data; empty inputs are left out."""
    record: dict[str, Any] = {}
    for field in fields:
        value = form.get(field.path)
        if field.kind == "checkbox":
            value = True if value else None
        if value in (None, ""):
            continue
        target = record
        *groups, name = field.path.split(".")
        for group in groups:
            target = target.setdefault(group, {})
        target[name] = value
    return record


@pages.post("/cases/{case_id}/steps/{trigger}")
async def fire_step(request: Request, rt: Rt, me: User, case_id: Number, trigger: str) -> Response:
    """Fire a step from its form; a refusal shows the case again with each problem next to its field, nothing written."""
    form = await request.form()
    spec = workflow.TRANSITION_BY_TRIGGER.get(trigger)
    if spec is None:
        raise HTTPException(status_code=404)
    record = record_from_form(form_fields(spec.record), form) or None
    version = str(form.get("version") or "")
    if not version.isdigit():  # the form always carries the version it showed: without it a stale write could pass
        raise HTTPException(status_code=400, detail="version")
    reason = str(form.get("reason") or "").strip() or None
    try:
        cases.fire(rt, me, case_id, trigger, record, expected_version=int(version), reason=reason)
    except DomainError as error:
        if error.http_status in (401, 403, 404):
            raise
        placed = place_problems(error.problems, spec.record, [field.path for field in form_fields(spec.record)])
        return _case_page(request, rt, me, case_id, error.http_status, failed=trigger, placed=placed, entered=dict(form))
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@pages.post("/cases/{case_id}/deadlines/{deadline_id}/extend")
async def extend_deadline(request: Request, rt: Rt, me: User, case_id: Number, deadline_id: Number) -> Response:
    """Extend a clock from the case page; a refusal shows the case again with the problems beside the form, nothing written."""
    form = await request.form()
    version, due_on, days = (str(form.get(name) or "").strip() for name in ("version", "due_on", "days"))
    if not version.isdigit():  # the form always carries the version it showed: without it a stale write could pass
        raise HTTPException(status_code=400, detail="version")
    try:
        extensions.extend(
            rt, me, case_id, deadline_id, expected_version=int(version), reason=str(form.get("reason") or ""),
            due_on=_form_date(due_on), days=_form_days(days),
        )  # fmt: skip
    except DomainError as error:
        if error.http_status in (401, 403, 404):
            raise
        return _case_page(request, rt, me, case_id, error.http_status, extend_failed=deadline_id, extend_problems=error.problems,
                          entered=dict(form))  # fmt: skip
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


def _form_date(value: str) -> date | None:
    """Read a date input; refuse a malformed one in both languages."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RecordInvalid(
            [field_problem("field.date", f"Ngày '{value}' không hợp lệ (YYYY-MM-DD).", f"'{value}' is not a date (YYYY-MM-DD).", "due_on")]
        ) from None


def _form_days(value: str) -> int | None:
    """Read a number-of-days input; refuse one that is not a whole number."""
    if not value:
        return None
    if not value.isdigit():
        raise RecordInvalid(
            [field_problem("field.int", f"Số ngày '{value}' phải là số nguyên.", f"'{value}' days must be a whole number.", "days")]
        )
    return int(value)


# --- search, dashboard, audit -----------------------------------------------------------------------------------------


@pages.get("/search")
def search_page(
    request: Request, rt: Rt, me: User, q: str = "", state: str | None = None, after: Annotated[int, Query(ge=0, le=2**62)] = 0
) -> HTMLResponse:
    rows = queries.list_cases(rt, actor=me, text_query=q or None, state=state or None, after_id=after, limit=50)
    return render(request, "search.html", me, q=q, state=state, rows=rows, next_after=rows[-1]["id"] if len(rows) == 50 else None)


@pages.get("/dashboard")
def dashboard_page(request: Request, rt: Rt, me: User) -> HTMLResponse:
    access.require_role(me, ("supervisor",), "xem bảng điều hành", "read the dashboard")
    communes = me.communes or frozenset()
    return render(
        request, "dashboard.html", me, by_state=queries.count_by_state(rt, communes), villages=queries.funnel_by_village(rt, communes),
        counts=work_queries.counts(rt, rt.clock.now(), communes), oldest=work_queries.oldest(rt, communes), done=request.query_params.get("done"),
    )  # fmt: skip


@pages.get("/dashboard/charts")
def dashboard_charts(request: Request, rt: Rt, me: User) -> HTMLResponse:
    """Draw the report charts of the supervisor's own unit for this year (the dashboard loads them after its lists: a province's take a while)."""
    access.require_role(me, ("supervisor",), "xem bảng điều hành", "read the dashboard")
    unit = plans.own_unit_code(rt, me)
    if unit is None:
        return render(request, "_dashboard_charts.html", me, charts=None)
    year = rt.today().year
    start, end = date(year, 1, 1), date(year, 12, 31)
    figures = indicators.indicators(rt, me, unit, start, end)
    printable = "/reports/print?" + urlencode({"unit": unit, "start": start.isoformat(), "end": end.isoformat()})
    charts = {name: Markup(svg) for name, svg in report_charts(figures, language(request)).items()}  # drawn by us, text escaped
    return render(request, "_dashboard_charts.html", me, charts=charts, chart_year=year, printable=printable)


@pages.get("/reports/print")
def report_print_page(
    request: Request, rt: Rt, me: User, unit: Annotated[str, Query(max_length=40)], start: date, end: date
) -> HTMLResponse:
    """Show a unit's indicators over a period as a printable page (charts and tables), with its XLSX and PDF downloads."""
    figures = indicators.indicators(rt, me, unit, start, end)
    lang = language(request)
    period = {"start": start.isoformat(), "end": end.isoformat()}
    export = f"/api/indicators/{figures['unit_code']}/export?"
    other = "en" if lang == "vi" else "vi"
    links = {
        "XLSX": export + urlencode({**period, "format": "xlsx"}),
        "PDF": export + urlencode({**period, "format": "pdf", "lang": lang}),
        "English" if other == "en" else "Tiếng Việt": "/reports/print?" + urlencode({"unit": unit, **period, "lang": other}),
    }
    return HTMLResponse(report_exports.printable_html(figures, lang, links=links))


@pages.post("/dashboard/reassign")
async def bulk_reassign(request: Request, rt: Rt, me: User) -> Response:
    """Reassign the ticked items to one officer with one reason; a refusal names the item and keeps what was done."""
    form = await request.form()
    items = [int(str(value)) for value in form.getlist("item") if str(value).isdigit()]
    to, reason = str(form.get("to") or ""), str(form.get("reason") or "")
    access.require_role(me, ("supervisor",), "chuyển giao việc", "reassign work")
    done: list[int] = []
    refused: list[tuple[int, DomainError]] = []
    for item_id in items:  # each in its own transaction: a refusal of one keeps the others
        try:
            work.reassign(rt, me, item_id, to, reason)
            done.append(item_id)
        except DomainError as error:
            refused.append((item_id, error))
    if refused:
        communes = me.communes or frozenset()
        problems = [replace(p, vi=f"Việc #{item_id}: {p.vi}", en=f"Item #{item_id}: {p.en}") for item_id, e in refused for p in e.problems]
        return render(
            request, "dashboard.html", me, status_code=refused[0][1].http_status, problems=problems, done=",".join(map(str, done)),
            by_state=queries.count_by_state(rt, communes), villages=queries.funnel_by_village(rt, communes),
            counts=work_queries.counts(rt, rt.clock.now(), communes), oldest=work_queries.oldest(rt, communes),
        )  # fmt: skip
    return RedirectResponse(f"/dashboard?done={','.join(map(str, done))}", status_code=303)


@pages.get("/audit")
def audit_page(request: Request, rt: Rt, me: User, case: Annotated[int | None, Query(ge=1, le=2**62)] = None) -> HTMLResponse:
    access.require_role(me, ("supervisor", "auditor"), "kiểm toán", "audit")
    if case is None:
        return render(request, "audit.html", me, case_id=None, reads=queries.personal_data_reads(rt, me, limit=50))
    return render(
        request, "audit.html", me, case_id=case, history=queries.case_history(rt, case, me), verified=queries.verify_case(rt, case, me),
        reads=queries.personal_data_reads(rt, me, case_id=case, limit=50),
    )  # fmt: skip


@pages.get("/audit/{case_id}.csv")
def audit_export(rt: Rt, me: User, case_id: Number) -> Response:
    """Export a case's whole history as CSV (the personal data masked as on screen; the export is logged)."""
    access.require_role(me, ("supervisor", "auditor"), "xuất lịch sử", "export histories")
    history = queries.case_history(rt, case_id, me, view="export")
    columns = [
        "seq",
        "at",
        "actor",
        "department",
        "trigger",
        "from_state",
        "to_state",
        "application_no",
        "record_kind",
        "record_json",
        "reason",
        "hash",
    ]
    document = csv_document(columns, ([event[column] for column in columns] for event in history))
    headers = {"Content-Disposition": f'attachment; filename="case-{case_id}-history.csv"'}
    return Response(document, media_type="text/csv; charset=utf-8", headers=headers)
