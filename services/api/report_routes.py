"""The reporting API: plans per unit and year, support payments to priority groups, and the indicators."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status

from services import indicators, plans, report_exports, support
from services.api import report_schemas as shapes
from services.api.deps import Me, Rt
from services.api.routes import REFUSALS, CaseId
from services.api.schemas import ProblemsOut
from workflows.plans import Targets
from workflows.support import Payment

report_api = APIRouter(prefix="/api", responses=REFUSALS, tags=["reports"])

UnitCode = Annotated[str, Path(max_length=40, description="The commune's or province's code.")]
Year = Annotated[int, Path(ge=2000, le=2100)]


@report_api.get("/plans/{unit_code}/{year}", response_model=shapes.PlanOut)
def get_plan(rt: Rt, me: Me, unit_code: UnitCode, year: Year) -> dict[str, Any]:
    """Return a unit's targets for a year (its own plan, or the defaults for its kind)."""
    return plans.get_plan(rt, me, unit_code, year)


@report_api.put("/plans/{unit_code}/{year}", response_model=shapes.PlanOut)
def set_plan(rt: Rt, me: Me, unit_code: UnitCode, year: Year, body: shapes.TargetsIn) -> dict[str, Any]:
    """Set a unit's targets for a year (admins of the unit or above; logged)."""
    return plans.set_plan(rt, me, unit_code, year, Targets(**body.model_dump()))


@report_api.post("/cases/{case_id}/support-payments", response_model=shapes.SupportPaidOut, status_code=status.HTTP_201_CREATED)
def record_support_payment(rt: Rt, me: Me, case_id: CaseId, body: shapes.SupportPaymentIn) -> support.Paid:
    """Record a support payment to the case's worker (finance; priority groups only; each item once per person, up to its cap)."""
    return support.record_payment(rt, me, case_id, Payment(**body.model_dump()))


FirstDay = Annotated[date, Query(description="First day.")]
LastDay = Annotated[date, Query(description="Last day.")]


@report_api.get("/indicators/{unit_code}", response_model=shapes.IndicatorsOut)
def unit_indicators(
    rt: Rt,
    me: Me,
    unit_code: UnitCode,
    start: FirstDay,
    end: LastDay,
) -> dict[str, Any]:
    """Return a commune's or province's indicators over a period (days inclusive), in total and per commune."""
    return indicators.indicators(rt, me, unit_code, start, end)


EXPORT_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"content": {media: {"schema": {"type": "string", "format": "binary"}} for media in report_exports.FORMATS.values()},
          "description": "The XLSX workbook (a sheet per table) or the PDF of the printable page."},
    503: {"model": ProblemsOut, "description": "This server cannot make the format (the PDF's system library is missing)."},
}  # fmt: skip


ExportFormat = Annotated[Literal["xlsx", "pdf"], Query(description="xlsx: a sheet per table; pdf: the printable page.")]
ExportLanguage = Annotated[Literal["vi", "en"], Query(description="The PDF's language (the XLSX has both).")]


@report_api.get("/indicators/{unit_code}/export", response_class=Response, responses=EXPORT_ANSWERS)
def export_indicators(
    rt: Rt,
    me: Me,
    unit_code: UnitCode,
    start: FirstDay,
    end: LastDay,
    format: ExportFormat = "xlsx",
    lang: ExportLanguage = "vi",
) -> Response:
    """Download a unit's indicators over a period as XLSX or PDF: the same figures as the JSON, the same checks."""
    return export_response(indicators.indicators(rt, me, unit_code, start, end), format, lang)


def export_response(figures: dict[str, Any], format: str, lang: str, labels: report_exports.Labels | None = None) -> Response:
    """Answer with figures rendered as an XLSX or PDF download."""
    body = report_exports.xlsx(figures, labels) if format == "xlsx" else report_exports.pdf(figures, lang, labels)
    disposition = f'attachment; filename="{report_exports.filename(figures, format)}"'
    return Response(body, media_type=report_exports.FORMATS[format], headers={"Content-Disposition": disposition})
