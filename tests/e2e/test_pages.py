"""The web pages in headless Chromium (Debian's chromium, driven by Playwright): an officer, a supervisor, an auditor at work.

Screenshots of each page land in test-artifacts/e2e/ (or $E2E_ARTIFACTS) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from services import cases, demo
from services.api.app import create_app
from tests import factories as f
from tests.conftest import REQUIRE_SERVICES

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"))
playwright = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def site(rt) -> Iterator[str]:
    """Serve the whole application over the test database (SQLite) on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(rt), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


@pytest.fixture
def browser() -> Iterator[object]:
    if not shutil.which(CHROMIUM):
        message = f"{CHROMIUM} not found: browser tests skipped (apt-get install chromium)"
        if REQUIRE_SERVICES:
            pytest.fail(message + " — REQUIRE_SERVICES=1 forbids skipping")
        pytest.skip(message)
    args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"]  # fmt: skip
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield launched
        launched.close()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _login(browser, site: str, username: str):
    page = browser.new_page()
    page.goto(f"{site}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", demo.DEMO_PASSWORD)
    page.click("button[type=submit]")
    return page


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_an_officer_claims_and_advances_a_case_and_sees_the_timeline(site, browser, rt, actors):
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today(), 1)).id
    page = _login(browser, site, "social_policy")
    row = page.locator(f"tr:has(a[href='/cases/{case_id}'])")
    row.get_by_role("button", name="Nhận việc").click()
    playwright.expect(row.locator(".holder")).to_have_text("social_policy")  # the row came back from the server claimed
    _shot(page, "officer-inbox")
    page.click(f"a[href='/cases/{case_id}'] >> nth=0")
    step = page.locator("details[data-trigger=counsel]")
    step.locator("summary").click()
    today = rt.today().isoformat()
    for name, value in f.counselling(rt.today(), enterprise_licence=f.EXPIRED_LICENCE).items():
        step.locator(f"[name='{name}']").fill(str(value))
    step.get_by_role("button").click()
    error = page.locator("details[data-trigger=counsel] .error[data-field=enterprise_licence]")
    playwright.expect(error).to_contain_text("hết hiệu lực")  # the failed guard, next to its field
    _shot(page, "officer-guard-failed")
    step = page.locator("details[data-trigger=counsel]")
    step.locator("[name=enterprise_licence]").fill(f.LICENCE)
    step.locator("[name=counselled_on]").fill(today)
    step.get_by_role("button").click()
    playwright.expect(page.get_by_test_id("state")).to_have_text("Đã tư vấn")
    playwright.expect(page.get_by_test_id("timeline")).to_contain_text("counsel")
    playwright.expect(page.locator("svg .current[data-state=counselled]")).to_have_count(1)
    _shot(page, "officer-case-counselled")


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_supervisor_sees_the_dashboard_and_reassigns(site, browser, rt, actors):
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today(), 2)).id
    page = _login(browser, site, "supervisor")
    playwright.expect(page.locator(".funnel[data-village]")).to_have_count(1)
    playwright.expect(page.get_by_test_id("counts")).to_contain_text("social_policy")
    page.locator(f"tr:has(a[href='/cases/{case_id}']) input[type=checkbox]").check()
    page.fill("input[name=to]", "social_policy")
    page.fill("input[name=reason]", "Cán bộ phụ trách thôn")
    page.get_by_role("button", name="Chuyển việc đã chọn").click()
    playwright.expect(page.get_by_test_id("reassigned")).to_be_visible()
    _shot(page, "supervisor-dashboard")
    page.goto(f"{site}/cases/{case_id}?lang=en")
    playwright.expect(page.get_by_test_id("timeline")).to_contain_text("reassign_work")
    playwright.expect(page.get_by_test_id("timeline")).to_contain_text("Cán bộ phụ trách thôn")


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_an_auditor_verifies_a_case_and_exports_it(site, browser, rt, actors):
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today(), 3)).id
    f.walk(rt, actors, case_id, ["counsel", "train"])
    page = _login(browser, site, "auditor")
    page.fill("input[name=case]", str(case_id))
    page.get_by_role("button", name="Kiểm tra").click()
    playwright.expect(page.get_by_test_id("verdict")).to_contain_text("Lịch sử toàn vẹn")
    _shot(page, "auditor-verify")
    with page.expect_download() as download:
        page.get_by_test_id("export").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("seq,at,actor") and len(lines) == 4
