"""The JSON API of intake: importing registrations from a file, and referrals from police and military to social policy."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.types import Message

from services import import_files, imports, referrals
from services.api import intake_schemas as shapes
from services.api.deps import Me, Rt
from services.api.routes import REFUSALS
from services.api.schemas import CaseRefOut, ProblemsOut
from workflows.errors import RecordInvalid, problem

intake_api = APIRouter(prefix="/api", responses=REFUSALS | {413: {"model": ProblemsOut}})
ReferralId = Annotated[int, Path(ge=1, le=2**62, description="The referral number.")]
MEDIA_TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "csv": "text/csv; charset=utf-8"}
_MULTIPART_SLACK = 64 * 1024
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}
            }
        },
    }
}


async def read_form(request: Request, limit: int) -> FormData:
    """Parse a multipart form, refusing one past the limit: by its declared size before reading, else as its bytes come."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + _MULTIPART_SLACK:
        raise import_files.FileTooLarge([import_files.too_large()])
    received = 0

    async def bounded() -> Message:  # a chunked upload declares no size: stop it at the limit, not after spooling it all
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > limit + _MULTIPART_SLACK:
            raise import_files.FileTooLarge([import_files.too_large()])
        return message

    return await Request(request.scope, bounded).form(max_files=1, max_fields=10, max_part_size=limit + _MULTIPART_SLACK)


def uploaded(form: FormData) -> tuple[bytes, str]:
    """Return the content and name of the form's file, or refuse a form without one."""
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise RecordInvalid([problem("file.missing", "Hãy chọn một tệp.", "Choose a file.", "file")])
    return file.file.read(import_files.MAX_BYTES + 1), file.filename or "upload"


# --- import -----------------------------------------------------------------------------------------------------------


@intake_api.post("/imports/registrations", response_model=shapes.ImportReportOut, tags=["intake"], openapi_extra=_UPLOAD_BODY)
async def import_registrations(
    rt: Rt, me: Me, request: Request, dry_run: Annotated[bool, Query(description="Check every row, write nothing.")] = False
) -> dict[str, Any]:
    """Register each row of an Excel (.xlsx) or CSV file in its own transaction; the answer reports every row (multipart `file`)."""
    imports.require_importer(me)  # before reading a byte of the file
    content, name = uploaded(await read_form(request, import_files.MAX_BYTES))
    report = await run_in_threadpool(imports.import_registrations, rt, me, content, name, dry_run=dry_run)
    return report.as_dict()


@intake_api.get(
    "/imports/registrations/template.{kind}",
    tags=["intake"],
    response_class=Response,
    responses={200: {"content": {media: {} for media in MEDIA_TYPES.values()}}},
)
def import_template(me: Me, kind: Literal["xlsx", "csv"]) -> Response:
    """Download the import template: Vietnamese headers with the English field names (the .xlsx has a guide sheet)."""
    imports.require_importer(me)
    return template_response(kind)


def template_response(kind: str) -> Response:
    """Return the template file as a download."""
    content = import_files.template_xlsx() if kind == "xlsx" else import_files.template_csv()
    headers = {"Content-Disposition": f'attachment; filename="mau-dang-ky-registration-template.{kind}"'}
    return Response(content, media_type=MEDIA_TYPES[kind], headers=headers)


# --- referrals --------------------------------------------------------------------------------------------------------


@intake_api.post("/referrals", response_model=shapes.ReferralOut, status_code=status.HTTP_201_CREATED, tags=["referrals"])
def refer(rt: Rt, me: Me, body: dict[str, Any]) -> dict[str, Any]:
    """Refer a youth who finished military or police service to social policy (police, military; a supervisor names `department`)."""
    return referrals.refer(rt, me, body)


@intake_api.get("/referrals", response_model=list[shapes.ReferralOut], tags=["referrals"])
def list_referrals(
    rt: Rt,
    me: Me,
    status: Annotated[Literal["open", "converted", "declined"] | None, Query()] = None,
    after: Annotated[int, Query(ge=0, le=2**62, description="The last id of the previous page.")] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> list[dict[str, Any]]:
    """List the referrals of your communes (police and military: their department's), oldest first."""
    return referrals.list_referrals(rt, me, status=status, after_id=after, limit=limit)


@intake_api.get("/referrals/{referral_id}", response_model=shapes.ReferralOut, tags=["referrals"])
def get_referral(rt: Rt, me: Me, referral_id: ReferralId) -> dict[str, Any]:
    """Return a referral and what became of it."""
    return referrals.get_referral(rt, me, referral_id)


@intake_api.post(
    "/referrals/{referral_id}/convert", response_model=shapes.ConvertedOut, status_code=status.HTTP_201_CREATED, tags=["referrals"]
)
def convert_referral(rt: Rt, me: Me, referral_id: ReferralId, body: dict[str, Any]) -> dict[str, Any]:
    """Register the referred youth (social policy): the body is the rest of the registration record; the source is `referral`."""
    shown, ref = referrals.convert(rt, me, referral_id, body)
    return {"referral": shown, "case": CaseRefOut(id=ref.id, version=ref.version, state=ref.state)}


@intake_api.post("/referrals/{referral_id}/decline", response_model=shapes.ReferralOut, tags=["referrals"])
def decline_referral(rt: Rt, me: Me, referral_id: ReferralId, body: shapes.DeclineIn) -> dict[str, Any]:
    """Decline a referral with the reason (social policy)."""
    return referrals.decline(rt, me, referral_id, body.reason)
