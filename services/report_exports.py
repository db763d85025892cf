"""The exports of a figures dict of indicators(): an XLSX workbook (a sheet per table), a printable HTML page with the charts, a PDF.

The renderers take the figures, never query: a submitted report's frozen figures print the same way as fresh ones.
The PDF is the printable page drawn by WeasyPrint, loaded on first use: it needs the Pango library of the system,
and a machine without it answers a clear refusal (503) while everything else works.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from services.charts import day_of, report_charts
from services.report_tables import Table, tables
from workflows.errors import DomainError, problem

TEMPLATES = Path(__file__).resolve().parent / "web" / "templates"
PRINT_TEMPLATE = "report_print.html"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = {"xlsx": XLSX_TYPE, "pdf": "application/pdf"}
_environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


class ExportUnavailable(DomainError):
    """The export cannot be made on this machine (a library of the system is missing); nothing else is affected."""

    http_status = 503


@dataclass(frozen=True)
class Labels:
    """What a rendered report says it is about: its title, the unit and the period, in both languages where they differ."""

    title_vi: str
    title_en: str
    unit: str
    period: str


def labels_of(figures: Mapping[str, Any], title_vi: str = "Chỉ số báo cáo", title_en: str = "Report indicators") -> Labels:
    """Return the labels of a figures dict: the unit's name and code, the period as dd/mm/yyyy – dd/mm/yyyy."""
    start, end = day_of(figures["start"]), day_of(figures["end"])
    return Labels(title_vi, title_en, f"{figures['unit_name']} ({figures['unit_code']})", f"{start:%d/%m/%Y} – {end:%d/%m/%Y}")


def filename(figures: Mapping[str, Any], extension: str) -> str:
    """Return the download name of an export: the unit's code and the period's days, nothing a header could misread."""
    code = re.sub(r"[^A-Za-z0-9_-]", "_", str(figures["unit_code"]))
    return f"indicators-{code}-{day_of(figures['start']).isoformat()}-{day_of(figures['end']).isoformat()}.{extension}"


def xlsx(figures: Mapping[str, Any], labels: Labels | None = None) -> bytes:
    """Return the workbook: a sheet per table, a title row, bilingual headers on row 2, figures as numbers from row 3."""
    labels = labels or labels_of(figures)
    book = Workbook()
    blank = book.worksheets[0]
    for table in tables(figures):
        _sheet(book, table, labels)
    book.remove(blank)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet(book: Workbook, table: Table, labels: Labels) -> None:
    sheet = book.create_sheet(table.sheet)
    sheet.append([f"{table.title[0]} / {table.title[1]} — {labels.unit}, {labels.period}"])
    sheet.append([f"{vi} / {en}" if vi != en else vi for vi, en in table.headers])
    for row in table.rows:
        sheet.append(row)
    sheet["A1"].font = Font(bold=True, size=12)
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for row in sheet.iter_rows(min_row=3):
        for cell in row:
            if isinstance(cell.value, float):
                cell.number_format = "0.0##"
            elif isinstance(cell.value, int):
                cell.number_format = "#,##0"
    for index, (vi, en) in enumerate(table.headers, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = min(max(len(vi), len(en), 10) + 4, 40)
    sheet.freeze_panes = "A3"


def printable_html(
    figures: Mapping[str, Any], lang: str = "vi", labels: Labels | None = None, links: Mapping[str, str] | None = None
) -> str:
    """Return the printable page: the labels, the three charts, the summary per commune, the other tables for the whole unit."""
    labels = labels or labels_of(figures)

    def t(vi: str, en: str) -> str:
        return en if lang == "en" else vi

    charts = {name: Markup(svg) for name, svg in report_charts(figures, lang).items()}  # our own SVG, its text escaped when drawn
    shown = [table.whole_unit_only() for table in tables(figures)]  # a province's communes in detail fill the XLSX, not paper
    return _environment.get_template(PRINT_TEMPLATE).render(
        lang=lang, t=t, labels=labels, charts=charts, tables=shown, links=links or {}, number=lambda value: _number(value, lang)
    )


def _number(value: Any, lang: str) -> str:
    """Write a figure the way the language does (1.234.567 in Vietnamese, 1,234,567 in English); text is left alone."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    text = f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"
    return text.translate(str.maketrans(",.", ".,")) if lang == "vi" else text


def pdf(figures: Mapping[str, Any], lang: str = "vi", labels: Labels | None = None) -> bytes:
    """Return the printable page as PDF (WeasyPrint); refuse with 503 when the system cannot load it."""
    page = printable_html(figures, lang, labels)
    try:
        from weasyprint import HTML  # loaded here: it opens Pango, which a machine may not have
    except (ImportError, OSError) as error:
        vi = "Máy chủ chưa xuất được PDF (thiếu thư viện WeasyPrint/Pango); hãy dùng trang in hoặc tệp XLSX."
        en = f"This server cannot make PDFs (WeasyPrint/Pango is missing: {type(error).__name__}); use the printable page or the XLSX."
        raise ExportUnavailable([problem("export.pdf_unavailable", vi, en, "format")]) from None
    document: bytes = HTML(string=page, base_url=str(TEMPLATES)).write_pdf()
    return document
