"""The intake pages in headless Chromium: an officer checks an import file, confirms it and downloads the report; a referral
goes from the police to the social-policy inbox and becomes a case. Screenshots land beside the other pages' (test-artifacts/e2e/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import factories as f
from tests.e2e.test_pages import _login, _shot, browser, playwright, site  # noqa: F401  (the fixtures, shared)
from tests.import_files import csv_file, row_of


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_an_officer_checks_a_file_confirms_it_and_downloads_the_report(site, browser, rt):  # noqa: F811
    today = rt.today()
    rows = [
        row_of(f.registration(today, 1)),
        row_of(f.registration(today, 2), phone="12"),
        row_of(f.registration(today, 3), village="Đồng Tâm"),
    ]
    page = _login(browser, site, "social_policy")
    page.get_by_role("link", name="Nhập từ tệp").click()
    page.set_input_files("input[name=file]", files=[{"name": "dang-ky.csv", "mimeType": "text/csv", "buffer": csv_file(rows)}])
    page.get_by_role("button", name="Tải lên").click()  # the "check only" box is ticked by default
    playwright.expect(page.get_by_test_id("counts")).to_contain_text("3 dòng: 2 hợp lệ, 1 có lỗi")
    bad = page.locator("tr[data-row='3'] .row-problem[data-field=phone]")
    playwright.expect(bad).to_contain_text("Số điện thoại (phone)")
    playwright.expect(bad).to_contain_text("Wrong format")  # the other language beneath
    _shot(page, "import-checked")
    page.get_by_test_id("confirm").click()
    playwright.expect(page.get_by_test_id("counts")).to_contain_text("2 đã đăng ký")
    playwright.expect(page.locator("tr.registered a[href^='/cases/']")).to_have_count(2)
    _shot(page, "import-registered")
    with page.expect_download() as download:
        page.get_by_test_id("report-download").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("row,status,case_id") and len(lines) == 4
    assert [line.split(",")[1] for line in lines[1:]] == ["registered", "refused", "registered"]
    page.locator("tr[data-row='4'] a").click()
    playwright.expect(page.get_by_test_id("state")).to_have_text("Đã đăng ký")


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_police_referral_reaches_the_social_policy_inbox_and_becomes_a_case(site, browser, rt):  # noqa: F811
    today = rt.today()
    police = _login(browser, site, "police")
    police.goto(f"{site}/referrals")
    form = police.locator("form.refer")
    for name, value in {"full_name": "Trịnh Văn Hải", "date_of_birth": f.registration(today, 7)["date_of_birth"], "phone": "0987654321",
                        "village": "Tân Lập", "service_ended_on": today.isoformat()}.items():  # fmt: skip
        form.locator(f"[name={name}]").fill(value)
    form.get_by_role("button").click()
    playwright.expect(police.get_by_test_id("referred")).to_be_visible()
    _shot(police, "referral-sent")
    officer = _login(browser, site, "social_policy")
    panel = officer.get_by_test_id("open-referrals")  # loaded into the inbox by HTMX
    playwright.expect(panel).to_contain_text("Trịnh Văn Hải")
    _shot(officer, "referral-in-inbox")
    panel.get_by_role("link", name="Trịnh Văn Hải").click()
    convert = officer.get_by_test_id("convert")
    convert.get_by_role("button").click()  # without the personal ID: refused, next to its field
    playwright.expect(officer.locator(".error[data-field=personal_id]")).to_be_visible()
    registration = f.registration(today, 7)
    convert = officer.get_by_test_id("convert")
    convert.locator("[name=personal_id]").fill(registration["personal_id"])
    convert.locator("[name=sex]").select_option("male")
    convert.locator("[name='consent.given']").check()
    convert.get_by_role("button").click()
    playwright.expect(officer.get_by_test_id("state")).to_have_text("Đã đăng ký")
    playwright.expect(officer.locator("p.meta")).to_contain_text("referral")
    _shot(officer, "referral-converted")
    police.goto(f"{site}/referrals?lang=en")
    playwright.expect(police.get_by_test_id("status")).to_have_text("Registered")
