"""The intake pages: importing registrations from a file (check, then confirm) and the referrals of police and military."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from services import import_files, imports, referrals
from services.api.deps import Rt
from services.api.intake_routes import read_form, template_response, uploaded
from services.users import Actor
from services.web.pages import Number, User, place_problems, record_from_form, render
from workflows.errors import DomainError, RecordInvalid, problem
from workflows.record_forms import form_fields
from workflows.referrals import SERVICE_FACT

intake_pages = APIRouter(include_in_schema=False)
# The confirm form carries the checked file back in base64 (a third larger), so nothing of it is kept on the server.
_CONFIRM_LIMIT = import_files.MAX_BYTES * 4 // 3 + 4
# The registration fields social policy fills in when converting a referral; the source is always "referral".
CONVERT_FIELDS = [field for field in form_fields("registration") if field.path != "source"]


# --- import -----------------------------------------------------------------------------------------------------------


@intake_pages.get("/imports")
def import_page(request: Request, me: User) -> HTMLResponse:
    imports.require_importer(me)
    return render(request, "import.html", me, report=None, columns=import_files.COLUMNS)


@intake_pages.get("/imports/template.{kind}")
def import_template(me: User, kind: str) -> Response:
    imports.require_importer(me)
    if kind not in ("xlsx", "csv"):
        return Response(status_code=404)
    return template_response(kind)


@intake_pages.post("/imports")
async def import_submit(request: Request, rt: Rt, me: User) -> HTMLResponse:
    """Check (dry run) or register an uploaded file; the page shows the report, and after a check a button to confirm."""
    imports.require_importer(me)
    try:
        form = await read_form(request, _CONFIRM_LIMIT)
        content, name = _content_of(form)
        dry_run = form.get("dry_run") is not None
        report = await run_in_threadpool(imports.import_registrations, rt, me, content, name, dry_run=dry_run)
    except DomainError as error:
        if error.http_status in (401, 403):
            raise
        return render(
            request, "import.html", me, status_code=error.http_status, problems=error.problems, report=None, columns=import_files.COLUMNS
        )
    data = report.as_dict()
    download = base64.b64encode(import_files.report_csv(data["rows"])).decode()
    carried = base64.b64encode(content).decode() if dry_run and data["counts"]["valid"] else None
    return render(request, "import.html", me, report=data, download=download, carried=carried, columns=import_files.COLUMNS)


def _content_of(form: Any) -> tuple[bytes, str]:
    """Return the file of the form: uploaded now, or carried back from the check by the confirm button."""
    carried = form.get("content")
    if not isinstance(carried, str) or not carried:
        return uploaded(form)
    try:
        return base64.b64decode(carried, validate=True), str(form.get("file_name") or "upload")
    except (binascii.Error, ValueError):
        raise RecordInvalid(
            [
                problem(
                    "file.carried", "Tệp gửi lại bị hỏng; hãy tải tệp lên lại.", "The file sent back is damaged; upload it again.", "file"
                )
            ]
        ) from None


# --- referrals --------------------------------------------------------------------------------------------------------


def _list_page(request: Request, rt: Any, me: Actor, status_code: int = 200, **extra: Any) -> HTMLResponse:
    rows = referrals.list_referrals(rt, me, limit=200)
    context = {"rows": rows, "may_refer": referrals.may_refer(me), "entered": {}} | extra  # a refused form comes back as it was entered
    return render(request, "referrals.html", me, status_code=status_code, **context)


@intake_pages.get("/referrals")
def referrals_page(request: Request, rt: Rt, me: User) -> HTMLResponse:
    return _list_page(request, rt, me, done=request.query_params.get("done"))


@intake_pages.post("/referrals")
async def refer_submit(request: Request, rt: Rt, me: User) -> Response:
    """Refer a youth from the form; a refusal shows the form again with what was entered and each problem."""
    form = dict(await request.form())
    data = {key: str(value).strip() for key, value in form.items() if str(value).strip()}
    try:
        made = referrals.refer(rt, me, data)
    except DomainError as error:
        if error.http_status in (401, 403):
            raise
        return _list_page(request, rt, me, error.http_status, problems=error.problems, entered=form)
    return RedirectResponse(f"/referrals?done={made['id']}", status_code=303)


@intake_pages.get("/referrals/panel")
def referrals_panel(request: Request, rt: Rt, me: User) -> HTMLResponse:
    """The open referrals, for the social-policy inbox (loaded into it by HTMX); empty for whoever does not convert them."""
    converts = referrals.may_convert(me)
    rows = referrals.list_referrals(rt, me, status="open", limit=100) if converts else []
    return render(request, "_referrals_panel.html", me, rows=rows)


def _detail_page(request: Request, rt: Any, me: Actor, referral_id: int, status_code: int = 200, **extra: Any) -> HTMLResponse:
    shown = referrals.get_referral(rt, me, referral_id)
    converts = shown["status"] == "open" and referrals.may_convert(me)
    start = {"full_name": shown["full_name"], "date_of_birth": shown["date_of_birth"], "phone": shown["phone"],
             "commune_code": shown["commune_code"], "village_code": shown["village_code"],
             f"priority.{SERVICE_FACT[shown['department']]}": "on", "consent.given_on": rt.today().isoformat()}  # fmt: skip
    context = {"referral": shown, "converts": converts, "fields": CONVERT_FIELDS, "entered": start, "placed": {}} | extra
    return render(request, "referral.html", me, status_code=status_code, **context)


@intake_pages.get("/referrals/{referral_id}")
def referral_page(request: Request, rt: Rt, me: User, referral_id: Number) -> HTMLResponse:
    return _detail_page(request, rt, me, referral_id)


@intake_pages.post("/referrals/{referral_id}/convert")
async def convert_submit(request: Request, rt: Rt, me: User, referral_id: Number) -> Response:
    """Register the referred youth from the form; a refusal shows each problem next to its field, nothing written."""
    form = await request.form()
    given = record_from_form(CONVERT_FIELDS, form)
    try:
        _, ref = referrals.convert(rt, me, referral_id, given)
    except DomainError as error:
        if error.http_status in (401, 403, 404):
            raise
        placed = place_problems(error.problems, "registration", [field.path for field in CONVERT_FIELDS])
        return _detail_page(request, rt, me, referral_id, error.http_status, entered=dict(form), placed=placed, failed="convert")
    return RedirectResponse(f"/cases/{ref.id}", status_code=303)


@intake_pages.post("/referrals/{referral_id}/decline")
async def decline_submit(request: Request, rt: Rt, me: User, referral_id: Number) -> Response:
    form = await request.form()
    try:
        referrals.decline(rt, me, referral_id, str(form.get("reason") or ""))
    except DomainError as error:
        if error.http_status in (401, 403, 404):
            raise
        return _detail_page(request, rt, me, referral_id, error.http_status, problems=error.problems, failed="decline")
    return RedirectResponse(f"/referrals/{referral_id}", status_code=303)
