"""The exports as a supervisor downloads them: the XLSX's figures against the API's JSON, the printable page's charts, the PDF."""

from __future__ import annotations

import io
import json
import re
import sys
import zlib
from datetime import date

import openpyxl
import pytest

from services import demo, indicators, report_exports
from tests.api.conftest import client, token  # noqa: F401
from tests.conftest import REQUIRE_SERVICES
from tests.reports.test_indicators import END, START, seeded  # noqa: F401

PERIOD = {"start": START.isoformat(), "end": END.isoformat()}
SHEETS = ["Tổng hợp", "Theo tháng", "Xuất cảnh", "Đào tạo", "Hỗ trợ", "Tồn đọng", "Thời hạn", "Giai đoạn"]
# The summary's columns (the English half of each header) and where the API keeps each figure of a unit.
SUMMARY = {"Departures": ("departures", "total"), "Yearly target (more than)": ("plan", "departures_more_than"),
           "Bank loans": ("loans", "bank_loans"), "Loan amount (VND)": ("loans", "amount_vnd"), "Self-financed": ("loans", "self_financed"),
           "Support payments": ("support", "payments"), "Support paid (VND)": ("support", "amount_vnd"),
           **{en: ("outcomes", name) for en, name in (("Returns", "returns"), ("Completed", "completed"), ("Early returns", "early_returns"),
              ("Deported", "deported"), ("Absconded", "absconded"), ("Overstayed", "overstayed"), ("Deceased", "deceased"),
              ("Missing", "missing"))}}  # fmt: skip
# Per sheet: the columns that name a row (0-based), and for the wide sheets the first column of figures (the whole unit's).
PER_UNIT = {"Tổng hợp": (), "Đào tạo": (3,), "Hỗ trợ": (2,), "Thời hạn": (2,), "Giai đoạn": (2, 3)}
WIDE = {"Theo tháng": ((0,), 1), "Xuất cảnh": ((1, 2), 3), "Tồn đọng": ((1,), 2)}
FIGURE_HEADERS = {*SUMMARY, "Departures", "Trained", "Share (%)", "Target (%)", "Payments", "Amount (VND)", "Due", "Met", "Met (%)",
                  "Cases", "Median (days)"}  # fmt: skip


def months(start: date, end: date) -> list[str]:
    return sorted({date.fromordinal(day).strftime("%Y-%m") for day in range(start.toordinal(), end.toordinal() + 1)})


def expected_cells(api):
    """Every figure the workbook must hold, keyed (sheet, unit, row, column), computed from the API's JSON answer."""
    cells = {}
    units = [("total", api["total"]), *((row["unit_code"], row) for row in api["communes"])]
    for who, unit in units:
        for header, (part, name) in SUMMARY.items():
            cells[("Tổng hợp", who, "", header)] = unit[part][name]
        for month in months(START, END):
            cells[("Theo tháng", who, month, "n")] = unit["departures"]["by_month"].get(month, 0)
        for key, values in api["total"]["departures"].items():
            for value in values if key not in ("total", "by_month") else ():
                cells[("Xuất cảnh", who, f"{key}:{value}", "n")] = unit["departures"][key].get(value, 0)
        for state, n in unit["backlog"].items():
            cells[("Tồn đọng", who, state, "n")] = n
        for row in unit["training"]:
            for header, name in (
                ("Departures", "departures"),
                ("Trained", "trained"),
                ("Share (%)", "percent"),
                ("Target (%)", "target_percent"),
            ):
                cells[("Đào tạo", who, row["training"], header)] = row[name]
        for item, slot in unit["support"]["items"].items():
            cells[("Hỗ trợ", who, item, "Payments")], cells[("Hỗ trợ", who, item, "Amount (VND)")] = slot["payments"], slot["amount_vnd"]
        for dept in unit["departments"]:
            for header, name in (("Due", "deadlines_due"), ("Met", "deadlines_met"), ("Met (%)", "met_percent")):
                cells[("Thời hạn", who, dept["department"], header)] = dept[name]
            for stage in dept["stages"]:
                key = f"{dept['department']}:{stage['from_state']}"
                cells[("Giai đoạn", who, key, "Cases")], cells[("Giai đoạn", who, key, "Median (days)")] = (
                    stage["cases"],
                    stage["median_days"],
                )
    return cells


def read_cells(book):
    """Every figure cell of the workbook, keyed as expected_cells keys them; a figure written as text fails here."""
    cells = {}
    for name in SHEETS:
        rows = list(book[name].iter_rows(values_only=True))
        headers = [str(h).split(" / ")[-1] for h in rows[1]]
        for row in rows[2:]:
            if name in WIDE:
                keys, first = WIDE[name]
                key = ":".join(str(row[i]) for i in keys)
                figures = {("total" if i == first else headers[i], "n"): row[i] for i in range(first, len(row))}
            else:
                who = "total" if str(row[0]).startswith("Toàn đơn vị") else row[1]
                key = ":".join(str(row[i]) for i in PER_UNIT[name])
                figures = {(who, h): row[i] for i, h in enumerate(headers) if h in FIGURE_HEADERS and i > max(PER_UNIT[name], default=1)}
            for (who, header), value in figures.items():
                assert value is None or type(value) in (int, float), f"{name} {key} {header}: {value!r} is not a number"
                cells[(name, who, key, header)] = value
    return cells


def test_the_xlsx_opens_with_openpyxl_and_its_numbers_equal_the_apis(client, token, seeded):  # noqa: F811
    headers = token("province_supervisor")
    api = client.get("/api/indicators/38", params=PERIOD, headers=headers).json()
    answer = client.get("/api/indicators/38/export", params={**PERIOD, "format": "xlsx"}, headers=headers)
    assert answer.status_code == 200 and answer.headers["content-type"] == report_exports.XLSX_TYPE
    assert answer.headers["content-disposition"] == 'attachment; filename="indicators-38-2026-06-20-2026-09-30.xlsx"'
    assert answer.headers["cache-control"] == "no-store"
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == SHEETS
    assert book["Tổng hợp"]["C2"].value == "Xuất cảnh / Departures" and "Tỉnh Thanh Hóa" in book["Tổng hợp"]["A1"].value
    got, expected = read_cells(book), expected_cells(api)
    assert got == expected
    assert expected[("Tổng hợp", "total", "", "Departures")] > 0 and expected[("Hỗ trợ", "total", "language", "Payments")] > 0
    assert (
        sum(v for (sheet, who, _, _), v in got.items() if sheet == "Theo tháng" and who == "total") == api["total"]["departures"]["total"]
    )


def test_a_frozen_copy_of_the_figures_exports_the_same_as_fresh_ones(rt, actors, seeded):  # noqa: F811
    fresh = indicators.indicators(rt, actors["province_supervisor"], "38", START, END)
    frozen = json.loads(json.dumps(fresh, default=str))  # as a submitted report keeps them: days as text
    read = lambda figures: read_cells(openpyxl.load_workbook(io.BytesIO(report_exports.xlsx(figures))))  # noqa: E731
    assert read(frozen) == read(fresh)
    assert report_exports.printable_html(frozen, "en") == report_exports.printable_html(fresh, "en")


def _logged_in(browser, username):
    """Log a user in with the login form; the client then carries the session cookie."""
    answer = browser.post("/login", data={"username": username, "password": demo.DEMO_PASSWORD}, follow_redirects=False)
    assert answer.status_code == 303
    return browser


def test_the_printable_page_holds_the_three_charts_and_the_figures(client, token, seeded):  # noqa: F811
    api = client.get("/api/indicators/38", params=PERIOD, headers=token("province_supervisor")).json()["total"]
    page = _logged_in(client, "province_supervisor").get("/reports/print", params={"unit": "38", **PERIOD})
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    html = page.text
    assert re.findall(r'<svg [^>]*data-chart="(\w+)"', html) == ["departures_per_month", "funnel_by_state", "targets_against_actual"]
    month_bars = dict(re.findall(r'<g data-key="(\d{4}-\d\d)" data-value="(\d+)">', html))
    assert month_bars == {m: str(api["departures"]["by_month"].get(m, 0)) for m in months(START, END)}
    for state, n in api["backlog"].items():
        assert f'<g data-key="{state}" data-value="{n}">' in html
    assert f">{api['departures']['total']} / &gt; 150<" in html  # departures against the province's yearly target
    vocational = next(row for row in api["training"] if row["training"] == "vocational")
    assert f">{vocational['percent']:g}% / 63%<" in html
    assert "Xuất cảnh theo tháng" in html and "Tỉnh Thanh Hóa (38)" in html and "20/06/2026 – 30/09/2026" in html
    assert f"{api['loans']['amount_vnd']:,}".replace(",", ".") in html  # the summary table, in Vietnamese digits
    summary, training = (re.search(rf'<table data-table="{name}">(.*?)</table>', html, re.S).group(1) for name in ("Tổng hợp", "Đào tạo"))
    assert summary.count("<tr>") == 1 + 1 + 2  # the header, the province, its two communes
    assert training.count("<tr>") == 1 + 3  # on paper the detail tables keep the whole unit (the XLSX has every commune)
    assert 'href="/api/indicators/38/export?start=2026-06-20&amp;end=2026-09-30&amp;format=xlsx"' in html
    english = client.get("/reports/print", params={"unit": "38", **PERIOD, "lang": "en"}).text
    assert "Departures per month" in english and f"{api['loans']['amount_vnd']:,}" in english


def test_the_dashboard_shows_the_charts_of_the_supervisors_own_unit_this_year(client, rt, seeded):  # noqa: F811
    dashboard = _logged_in(client, "supervisor").get("/dashboard")
    assert dashboard.status_code == 200 and 'hx-get="/dashboard/charts"' in dashboard.text  # drawn after the lists, not before
    page = client.get("/dashboard/charts")
    assert page.status_code == 200
    assert re.findall(r'data-chart="(\w+)"', page.text) == ["departures_per_month", "funnel_by_state", "targets_against_actual"]
    year = rt.today().year
    assert len(re.findall(rf'<g data-key="{year}-\d\d"', page.text)) == 12
    assert f'href="/reports/print?unit=TH-CAMTAN&amp;start={year}-01-01&amp;end={year}-12-31"' in page.text


def _weasyprint_or_skip():
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError) as error:
        message = f"WeasyPrint cannot load here ({error}): PDF tests skipped (apt-get install libpango-1.0-0 libpangoft2-1.0-0)"
        if REQUIRE_SERVICES:
            pytest.fail(message + " — REQUIRE_SERVICES=1 forbids skipping")
        pytest.skip(message)


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_the_pdf_is_the_printable_page_on_its_pages(client, token, seeded):  # noqa: F811
    _weasyprint_or_skip()
    answer = client.get("/api/indicators/38/export", params={**PERIOD, "format": "pdf"}, headers=token("auditor"))
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == 'attachment; filename="indicators-38-2026-06-20-2026-09-30.pdf"'
    assert answer.content.startswith(b"%PDF-")
    assert pdf_pages(answer.content) >= 2  # the charts, then the tables


def pdf_pages(document: bytes) -> int:
    """Count the page objects of a PDF, those packed in compressed object streams too."""
    parts = [document]
    for stream in re.findall(rb"/FlateDecode[^>]*>>\s*stream\r?\n(.*?)\r?\nendstream", document, re.S):
        try:
            parts.append(zlib.decompress(stream))
        except zlib.error:
            continue
    return sum(len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", part)) for part in parts)


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_without_the_pdf_library_the_pdf_is_refused_in_both_languages_and_the_rest_works(client, token, seeded, monkeypatch):  # noqa: F811
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # what `import weasyprint` meets on a machine without it
    headers = token("supervisor")
    refused = client.get("/api/indicators/TH-CAMTAN/export", params={**PERIOD, "format": "pdf"}, headers=headers)
    assert refused.status_code == 503
    [problem] = refused.json()["problems"]
    assert problem["code"] == "export.pdf_unavailable" and "PDF" in problem["vi"] and "XLSX" in problem["en"]
    assert client.get("/api/indicators/TH-CAMTAN/export", params=PERIOD, headers=headers).status_code == 200


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_exports_are_refused_as_the_json_is(client, token, seeded):  # noqa: F811
    for user, unit, status in (("finance", "TH-CAMTAN", 403), ("supervisor", "38", 404), ("social_policy", "38", 404)):
        answer = client.get(f"/api/indicators/{unit}/export", params={**PERIOD, "format": "xlsx"}, headers=token(user))
        assert answer.status_code == status and answer.json()["problems"][0]["vi"], (user, unit)
    wrong = client.get("/api/indicators/TH-CAMTAN/export", params={**PERIOD, "format": "docx"}, headers=token("supervisor"))
    assert wrong.status_code == 422 and wrong.json()["problems"][0]["field"] == "format"
