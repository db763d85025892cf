"""The periodic reports' API: a unit's reports, one report, submitting it (the commune) and returning it (the province)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from services import reports
from services.api import periodic_report_schemas as shapes
from services.api.deps import Me, Rt
from services.api.report_routes import EXPORT_ANSWERS, ExportFormat, ExportLanguage, UnitCode, export_response
from services.api.routes import REFUSALS

periodic_report_api = APIRouter(prefix="/api", responses=REFUSALS, tags=["reports"])

ReportId = Annotated[int, Path(ge=1, le=2**62, description="The report number.")]


@periodic_report_api.get("/reports/units/{unit_code}", response_model=shapes.ReportListOut)
def unit_reports(rt: Rt, me: Me, unit_code: UnitCode, year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> dict[str, Any]:
    """List a commune's reports, or a province's communes' reports: submitted (when, by whom), drafted, late."""
    return reports.list_reports(rt, me, unit_code, year)


@periodic_report_api.get("/reports/{report_id}", response_model=shapes.ReportDetailOut)
def get_report(rt: Rt, me: Me, report_id: ReportId) -> dict[str, Any]:
    """Return a report with its frozen figures (once submitted) and its history."""
    return reports.get(rt, me, report_id)


@periodic_report_api.get("/reports/{report_id}/export", response_class=Response, responses=EXPORT_ANSWERS)
def export_report(
    rt: Rt,
    me: Me,
    report_id: ReportId,
    format: ExportFormat = "xlsx",
    lang: ExportLanguage = "vi",
) -> Response:
    """Download a report as XLSX or PDF: the figures frozen at submission, or a draft's figures as of now."""
    shown, figures = reports.figures_of(rt, me, report_id)
    return export_response(figures, format, lang, reports.export_labels(shown, figures))


@periodic_report_api.post("/reports/{report_id}/submit", response_model=shapes.ReportDetailOut)
def submit_report(rt: Rt, me: Me, report_id: ReportId, body: shapes.SubmitIn) -> dict[str, Any]:
    """Submit a drafted report (the commune's social-policy officers or supervisor): its figures are frozen."""
    return reports.submit(rt, me, report_id, body.version)


@periodic_report_api.post("/reports/{report_id}/return", response_model=shapes.ReportDetailOut)
def return_report(rt: Rt, me: Me, report_id: ReportId, body: shapes.ReturnIn) -> dict[str, Any]:
    """Return a submitted report to its commune with a reason (the province's supervisors)."""
    return reports.return_report(rt, me, report_id, body.version, body.reason)
