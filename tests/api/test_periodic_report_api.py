"""The periodic reports over HTTP: what the commune and the province see and do, and the refusals they get."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import openpyxl

from services import report_exports, reports
from tests import factories as f
from tests.api.conftest import OTHER_COMMUNE, register_in

DRAFT_DAY = datetime(2026, 6, 16, 2, tzinfo=UTC)  # 09:00 in Vietnam, 10 working days before 30 June 2026
LATE = datetime(2026, 7, 2, 2, tzinfo=UTC)


def _drafted(rt, actors) -> dict[str, int]:
    """Let beat draft the 6-month reports; return the province's, by commune code."""
    rt.clock.moment = DRAFT_DAY
    reports.draft_due(rt)
    listed = reports.list_reports(rt, actors["province_supervisor"], "38")["reports"]
    return {row["unit_code"]: row["id"] for row in listed}


def test_the_commune_submits_and_the_province_sees_who_and_when(client, token, rt, actors):
    report_id = _drafted(rt, actors)[f.COMMUNE]
    shown = client.get(f"/api/reports/{report_id}", headers=token("social_policy")).json()
    assert (shown["state"], shown["version"], shown["figures"], shown["late"]) == ("drafted", 1, None, False)
    assert [e["trigger"] for e in shown["history"]] == ["report.draft"] and shown["history"][0]["actor"] is None
    answer = client.post(f"/api/reports/{report_id}/submit", json={"version": 1}, headers=token("social_policy"))
    assert answer.status_code == 200, answer.text
    frozen = answer.json()
    assert (
        frozen["figures"]
        == client.get(f"/api/indicators/{f.COMMUNE}?start=2026-01-01&end=2026-06-30", headers=token("social_policy")).json()
        and len(frozen["figures_hash"]) == 64
    )
    listed = client.get("/api/reports/units/38?year=2026", headers=token("province_supervisor")).json()
    [row] = [r for r in listed["reports"] if r["id"] == report_id]
    assert (row["state"], row["submitted_by"], row["late"]) == ("submitted", "social_policy", False)
    assert row["submitted_at"].startswith("2026-06-16T02:00")


def test_a_stale_submit_is_a_409_and_changes_nothing(client, token, rt, actors):
    report_id = _drafted(rt, actors)[f.COMMUNE]
    assert client.post(f"/api/reports/{report_id}/submit", json={"version": 1}, headers=token("social_policy")).status_code == 200
    again = client.post(f"/api/reports/{report_id}/submit", json={"version": 1}, headers=token("supervisor"))
    assert again.status_code == 409
    [problem] = again.json()["problems"]
    assert problem["code"] == "report.stale" and "tải lại" in problem["vi"] and "reload" in problem["en"]
    shown = client.get(f"/api/reports/{report_id}", headers=token("supervisor")).json()
    assert shown["version"] == 2 and len(shown["history"]) == 2


def test_an_officer_of_another_commune_gets_403(client, token, rt, actors, other_commune):
    report_id = _drafted(rt, actors)[f.COMMUNE]
    for user in ("b_social_policy", "b_supervisor"):
        answer = client.post(f"/api/reports/{report_id}/submit", json={"version": 1}, headers=token(user))
        assert answer.status_code == 403 and answer.json()["problems"][0]["code"] == "report.other_unit", user
        assert client.get(f"/api/reports/{report_id}", headers=token(user)).status_code == 403
    assert client.get(f"/api/reports/units/{f.COMMUNE}", headers=token("b_social_policy")).status_code == 404
    theirs = client.get(f"/api/reports/units/{OTHER_COMMUNE}", headers=token("b_social_policy")).json()["reports"]
    assert [r["unit_code"] for r in theirs] == [OTHER_COMMUNE]


def test_bad_input_is_a_bilingual_422(client, token, rt, actors):
    report_id = _drafted(rt, actors)[f.COMMUNE]
    client.post(f"/api/reports/{report_id}/submit", json={"version": 1}, headers=token("social_policy"))
    missing = client.post(f"/api/reports/{report_id}/submit", json={}, headers=token("social_policy"))
    assert missing.status_code == 422 and missing.json()["problems"][0]["vi"] == "Thiếu trường bắt buộc."
    blank = client.post(f"/api/reports/{report_id}/return", json={"version": 2, "reason": "   "}, headers=token("province_supervisor"))
    assert blank.status_code == 422
    assert blank.json()["problems"] == [
        {"code": "reason.required", "field": "reason", "vi": "Trả lại báo cáo phải ghi lý do.", "en": "Returning a report needs a reason."}
    ]
    assert client.get(f"/api/reports/{report_id}", headers=token("province_supervisor")).json()["state"] == "submitted"


def test_a_draft_past_its_due_day_is_listed_late(client, token, rt, actors):
    report_id = _drafted(rt, actors)[f.COMMUNE]
    rt.clock.moment = LATE
    listed = client.get("/api/reports/units/38", headers=token("province_supervisor")).json()["reports"]
    assert [(r["state"], r["late"]) for r in listed if r["id"] == report_id] == [("drafted", True)]


def test_the_report_page_offers_submit_to_the_commune_and_return_to_the_province(client, rt, actors):
    report_id = _drafted(rt, actors)[f.COMMUNE]

    def page(user: str, lang: str = "vi") -> str:
        client.cookies.clear()
        client.post("/login", data={"username": user, "password": "demo-camtan"}, follow_redirects=False)
        return client.get(f"/reports/{report_id}?lang={lang}", headers={"Accept": "text/html"}).text

    mine = page("social_policy")
    assert 'data-testid="submit"' in mine and "Số liệu hiện tại (chưa chốt)" in mine and 'data-testid="return"' not in mine
    assert "Nộp báo cáo" in mine and 'data-testid="submit"' not in page("auditor")
    refused = client.post(f"/reports/{report_id}/submit", data={"version": "1"}, headers={"Accept": "text/html"})  # as the auditor
    assert refused.status_code == 403 and "mới được nộp báo cáo của xã" in refused.text
    page("social_policy")
    done = client.post(f"/reports/{report_id}/submit", data={"version": "1"}, headers={"Accept": "text/html"}, follow_redirects=False)
    assert done.status_code == 303
    province = page("province_supervisor", "en")
    assert 'data-testid="return"' in province and "The figures frozen at submission" in province and "social_policy" in province
    listing = client.get("/reports", headers={"Accept": "text/html"}).text
    assert f'href="/reports/{report_id}"' in listing and "Submitted" in listing


def _summary(workbook: bytes) -> dict[str, object]:
    """The whole unit's row of the workbook's summary sheet, by English header."""
    rows = list(openpyxl.load_workbook(io.BytesIO(workbook))["Tổng hợp"].iter_rows(values_only=True))
    headers = [str(h).split(" / ")[-1] for h in rows[1]]
    [whole] = [row for row in rows[2:] if str(row[0]).startswith("Toàn đơn vị")]
    return dict(zip(headers, whole, strict=True))


def test_a_submitted_report_exports_the_figures_it_froze_not_the_records_of_today(client, token, rt, actors, other_commune):
    report_id = _drafted(rt, actors)[f.COMMUNE]
    assert client.post(f"/api/reports/{report_id}/submit", json={"version": 1}, headers=token("social_policy")).status_code == 200
    case_id = register_in(rt, actors["social_policy"], 31)  # a departure in the period, recorded after the submission
    f.walk(rt, actors, case_id, f.MAIN_PATH[:5])
    headers = token("province_supervisor")
    live = client.get(f"/api/indicators/{f.COMMUNE}/export", params={"start": "2026-01-01", "end": "2026-06-30"}, headers=headers)
    report = client.get(f"/api/reports/{report_id}/export", headers=headers)
    assert report.status_code == 200 and report.headers["content-type"].startswith(report_exports.XLSX_TYPE)
    frozen, today = _summary(report.content), _summary(live.content)
    assert (frozen["Departures"], today["Departures"]) == (0, 1)
    assert _summary(report_exports.xlsx(client.get(f"/api/reports/{report_id}", headers=headers).json()["figures"])) == frozen
    client.post("/login", data={"username": "province_supervisor", "password": "demo-camtan"}, follow_redirects=False)
    printable = client.get(f"/reports/{report_id}/print?lang=en", headers={"Accept": "text/html"})
    assert printable.status_code == 200 and "The 6-month report on workers sent abroad 2026" in printable.text and "<svg" in printable.text
    assert f"/api/reports/{report_id}/export?format=pdf&amp;lang=en" in printable.text
    assert client.get(f"/api/reports/{report_id}/export", headers=token("b_social_policy")).status_code == 403
