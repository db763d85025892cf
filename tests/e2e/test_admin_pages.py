"""The admin and the supervisor in headless Chromium: an admin creates a user and a village; a supervisor extends a deadline.

Screenshots land in test-artifacts/e2e/ beside those of test_pages.py.
"""

from __future__ import annotations

import pytest

from services import cases
from tests import factories as f
from tests.e2e.test_pages import _login, _shot, browser, playwright, site  # noqa: F401 (the fixtures are used by name)


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_an_admin_creates_an_officer_who_then_logs_in_and_adds_a_village(site, browser):  # noqa: F811
    page = _login(browser, site, "admin")
    playwright.expect(page.get_by_test_id("users")).to_contain_text("province_supervisor")
    form = page.get_by_test_id("new-user")
    form.locator("[name=username]").fill("tran_thi_moi")
    form.locator("[name=full_name]").fill("Trần Thị Mới")
    form.locator("[name=role]").select_option("officer")
    form.locator("[name=unit_code]").select_option(f.COMMUNE)
    form.locator("[name=password]").fill("ngan")  # too short: refused, what was typed stays
    form.get_by_role("button").click()
    playwright.expect(page.locator(".problems")).to_contain_text("Cán bộ phải thuộc một bộ phận")
    playwright.expect(page.locator(".problems")).to_contain_text("Mật khẩu phải có từ 10")
    form = page.get_by_test_id("new-user")
    playwright.expect(form.locator("[name=full_name]")).to_have_value("Trần Thị Mới")
    form.locator("[name=department]").select_option("finance")
    form.locator("[name=password]").fill("mat-khau-moi-2026")
    form.get_by_role("button").click()
    playwright.expect(page.locator("tr[data-user=tran_thi_moi]")).to_contain_text("finance")
    _shot(page, "admin-users")
    page.goto(f"{site}/admin/units")
    add = page.locator(f"details[data-add-village='{f.COMMUNE}']")
    add.locator("summary").click()
    add.locator("[name=code]").fill("TH-CAMTAN-07")
    add.locator("[name=name]").fill("Thôn Đồng Mới")
    add.get_by_role("button").click()
    playwright.expect(page.locator(f"li[data-unit='{f.COMMUNE}'] li[data-unit='TH-CAMTAN-07']")).to_contain_text("Thôn Đồng Mới")
    _shot(page, "admin-units")
    page.goto(f"{site}/admin/log")
    playwright.expect(page.get_by_test_id("log")).to_contain_text("user.create")
    playwright.expect(page.get_by_test_id("log")).to_contain_text("unit.add_village")
    officer = browser.new_page()
    officer.goto(f"{site}/login")
    officer.fill("input[name=username]", "tran_thi_moi")
    officer.fill("input[name=password]", "mat-khau-moi-2026")
    officer.click("button[type=submit]")
    # The admin chose that password: the officer chooses their own before anything else.
    playwright.expect(officer.locator("h1")).to_contain_text("Đổi mật khẩu")
    playwright.expect(officer.locator(".notice")).to_contain_text("do quản trị viên đặt")
    officer.goto(f"{site}/inbox")
    playwright.expect(officer.locator("h1")).to_contain_text("Đổi mật khẩu")  # nothing else until then
    officer.fill("input[name=current_password]", "mat-khau-moi-2026")
    officer.fill("input[name=new_password]", "mat-khau-cua-rieng-toi")
    _shot(officer, "own-password")
    officer.click("button[type=submit]")
    playwright.expect(officer.locator("h1")).to_contain_text("finance")  # their department's inbox


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_supervisor_extends_a_deadline_and_sees_it_in_the_timeline(site, browser, rt, actors):  # noqa: F811
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today(), 5)).id
    page = _login(browser, site, "supervisor")
    page.goto(f"{site}/cases/{case_id}")
    extend = page.locator("details[data-deadline]").first
    extend.locator("summary").click()
    extend.locator("[name=due_on]").fill("2026-07-20")
    extend.get_by_role("button").click()  # no reason: refused, nothing written
    playwright.expect(page.locator("details[data-deadline] .problems")).to_contain_text("Gia hạn phải ghi lý do.")
    extend = page.locator("details[data-deadline]").first
    playwright.expect(extend.locator("[name=due_on]")).to_have_value("2026-07-20")
    extend.locator("[name=reason]").fill("Người lao động đang điều trị")
    extend.get_by_role("button").click()
    playwright.expect(page.get_by_test_id("timeline")).to_contain_text("extend_deadline")
    playwright.expect(page.get_by_test_id("timeline")).to_contain_text("Người lao động đang điều trị")
    playwright.expect(page.locator("table.deadlines")).to_contain_text("20/07/2026")
    _shot(page, "supervisor-extended")
