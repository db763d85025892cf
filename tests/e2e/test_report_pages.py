"""The report charts in headless Chromium: a supervisor's dashboard draws them, and the printable page prints them.

Screenshots land in test-artifacts/e2e/ (or $E2E_ARTIFACTS) beside the other pages'.
"""

from __future__ import annotations

import pytest

from services import cases
from tests import factories as f
from tests.e2e.test_pages import _login, _shot, browser, playwright, site  # noqa: F401

MAIN_PATH = ["counsel", "train", "certify_health", "approve_loan", "depart"]


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_supervisor_sees_this_years_charts_and_opens_the_printable_page(site, browser, rt, actors):  # noqa: F811
    gone = cases.register(rt, actors["social_policy"], f.registration(rt.today(), 11)).id
    f.walk(rt, actors, gone, MAIN_PATH)
    cases.register(rt, actors["social_policy"], f.registration(rt.today(), 12))
    page = _login(browser, site, "supervisor")
    charts = page.get_by_test_id("charts")
    playwright.expect(charts.locator("svg[data-chart]")).to_have_count(3)
    month = rt.today().strftime("%Y-%m")
    playwright.expect(charts.locator(f'svg[data-chart=departures_per_month] g[data-key="{month}"]')).to_have_attribute("data-value", "1")
    playwright.expect(charts.locator('svg[data-chart=funnel_by_state] g[data-key="registered"]')).to_have_attribute("data-value", "1")
    playwright.expect(charts.locator("svg[data-chart=targets_against_actual]")).to_contain_text("1 / > 5")
    box = charts.locator("svg[data-chart=funnel_by_state]").bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 100, box  # drawn at a readable size, not collapsed
    _shot(page, "supervisor-dashboard-charts")
    page.get_by_test_id("printable").click()
    playwright.expect(page.get_by_test_id("report-charts").locator("svg[data-chart]")).to_have_count(3)
    playwright.expect(page.locator("table[data-table='Tổng hợp']")).to_contain_text("TH-CAMTAN")
    page.emulate_media(media="print")
    playwright.expect(page.locator("nav.screen-only")).to_be_hidden()
    _shot(page, "report-printable")
