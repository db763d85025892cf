"""The report pages in headless Chromium: an admin edits a commune's plan; finance records a support payment and is refused.

Screenshots land in test-artifacts/e2e/ beside those of test_pages.py.
"""

from __future__ import annotations

import pytest

from services import cases
from tests import factories as f
from tests.e2e.test_pages import _login, _shot, browser, playwright, site  # noqa: F401 (the fixtures are used by name)


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_an_admin_edits_a_communes_plan_and_the_log_says_so(site, browser):  # noqa: F811
    page = _login(browser, site, "admin")
    page.get_by_role("link", name="Kế hoạch").click()
    pick = page.get_by_test_id("pick")
    pick.locator("[name=unit]").select_option(f.COMMUNE)
    pick.locator("[name=year]").fill("2027")
    pick.get_by_role("button").click()
    playwright.expect(page.get_by_test_id("source")).to_contain_text("Mặc định")
    plan = page.get_by_test_id("plan")
    playwright.expect(plan.locator("[name=vocational_percent]")).to_have_value("66")  # 60 % in 2025 rising to 75 % in 2030
    plan.locator("[name=vocational_percent]").fill("120")
    plan.locator("[name=departures_more_than]").fill("-2")
    plan.get_by_role("button").click()
    playwright.expect(page.locator(".error[data-field=vocational_percent]")).to_have_text("Tỷ lệ phải từ 0 đến 100 (%).")
    playwright.expect(page.locator(".error[data-field=departures_more_than]")).to_contain_text("từ 0 đến 1.000.000")
    playwright.expect(page.get_by_test_id("plan").locator("[name=vocational_percent]")).to_have_value("120")  # as typed
    _shot(page, "admin-plan-refused")
    plan = page.get_by_test_id("plan")
    plan.locator("[name=vocational_percent]").fill("70")
    plan.locator("[name=departures_more_than]").fill("8")
    plan.get_by_role("button").click()
    playwright.expect(page.get_by_test_id("done")).to_be_visible()
    playwright.expect(page.get_by_test_id("source")).to_contain_text("Kế hoạch riêng của đơn vị · admin")
    playwright.expect(page.get_by_test_id("plan").locator("[name=vocational_percent]")).to_have_value("70")
    _shot(page, "admin-plan-saved")
    page.goto(f"{site}/admin/log?lang=en")
    playwright.expect(page.get_by_test_id("log")).to_contain_text("plan.set")


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_finance_records_a_support_payment_and_sees_the_refusals(site, browser, rt, actors):  # noqa: F811
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today(), 7)).id
    outside = cases.register(rt, actors["social_policy"], f.registration(rt.today(), 8, priority={})).id
    page = _login(browser, site, "finance")
    page.goto(f"{site}/cases/{case_id}")
    form = page.get_by_test_id("support-form")  # loaded into the case page by HTMX
    form.locator("[name=item]").select_option("passport")
    form.locator("[name=amount_vnd]").fill("250000")
    form.locator("[name=invoice_number]").fill("HD-2026-015")
    form.get_by_role("button").click()
    playwright.expect(page.locator(".error[data-field=amount_vnd]")).to_contain_text("vượt mức tối đa 200.000 đ")
    form = page.get_by_test_id("support-form")
    playwright.expect(form.locator("[name=invoice_number]")).to_have_value("HD-2026-015")
    playwright.expect(page.get_by_test_id("timeline")).not_to_contain_text("support_payment")  # nothing written
    _shot(page, "finance-support-over-cap")
    form.locator("[name=amount_vnd]").fill("200000")
    form.get_by_role("button").click()
    playwright.expect(page.locator("tr[data-item=passport]")).to_contain_text("HD-2026-015")
    playwright.expect(page.get_by_test_id("timeline")).to_contain_text("support_payment")
    form = page.get_by_test_id("support-form")
    form.locator("[name=item]").select_option("passport")
    form.locator("[name=amount_vnd]").fill("100000")
    form.locator("[name=invoice_number]").fill("HD-2026-016")
    form.get_by_role("button").click()
    playwright.expect(page.locator(".error[data-field=item]")).to_contain_text("mỗi khoản chỉ chi một lần")
    _shot(page, "finance-support-paid-once")
    page.goto(f"{site}/cases/{outside}?lang=en")
    playwright.expect(page.get_by_test_id("not-priority")).to_be_visible()
    form = page.get_by_test_id("support-form")
    form.locator("[name=item]").select_option("health_check")
    form.locator("[name=amount_vnd]").fill("500000")
    form.locator("[name=invoice_number]").fill("HD-2026-017")
    form.get_by_role("button").click()
    playwright.expect(page.locator(".error[data-field=item]")).to_contain_text("belongs to no priority group")
    _shot(page, "finance-support-not-priority")
