"""A page from another site cannot act through an officer's browser session; API clients are not affected."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services import demo, work_queries
from services.api.app import create_app
from services.models import WorkItem
from tests.api.conftest import register_in

pytestmark = pytest.mark.postgres


def logged_in(rt, username: str, base_url: str = "http://testserver") -> TestClient:
    browser = TestClient(create_app(rt), base_url=base_url, follow_redirects=False)
    answer = browser.post("/login", data={"username": username, "password": demo.DEMO_PASSWORD}, headers={"Origin": base_url})
    assert answer.status_code == 303, answer.text
    return browser


def status_of(rt, item_id: int) -> str:
    with rt.unit_of_work(writes=False) as conn:
        return conn.scalar(select(WorkItem.status).where(WorkItem.id == item_id))


def open_item(rt, actors, serial: int) -> int:
    case_id = register_in(rt, actors["social_policy"], serial)
    items = work_queries.inbox(rt, None, department="social_policy", now=rt.clock.now(), limit=500)
    return next(item["id"] for item in items if item["case_id"] == case_id)


@pytest.mark.parametrize(
    "marks",
    [
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Referer": "https://evil.example/page"},
        {},  # a session cookie with no mark at all
    ],
    ids=["origin", "fetch-site", "referer", "none"],
)
def test_a_cross_site_post_with_the_session_cookie_is_refused_and_changes_nothing(rt, actors, marks):
    item_id = open_item(rt, actors, 81)
    browser = logged_in(rt, "social_policy")
    refused = browser.post(f"/work/{item_id}/claim", headers=marks)
    assert refused.status_code == 403
    assert refused.json()["problems"][0]["code"] == "request.cross_site" and "trang web khác" in refused.json()["problems"][0]["vi"]
    assert status_of(rt, item_id) == "open"


def test_the_same_post_from_our_own_page_goes_through(rt, actors):
    item_id = open_item(rt, actors, 82)
    browser = logged_in(rt, "social_policy")
    assert browser.post(f"/work/{item_id}/claim", headers={"Origin": "http://testserver"}).status_code == 303
    assert status_of(rt, item_id) == "claimed"


def test_an_api_client_with_a_bearer_token_needs_no_origin(token, rt, actors):
    item_id = open_item(rt, actors, 83)
    system = TestClient(create_app(rt))  # another system: no browser, no Origin, no cookie
    answer = system.post(f"/api/work/{item_id}/claim", headers=token("social_policy"))
    assert answer.status_code == 200 and "origin" not in {name.lower() for name in answer.request.headers}


def test_a_login_form_posted_from_another_site_is_refused(rt):
    browser = TestClient(create_app(rt), follow_redirects=False)
    answer = browser.post("/login", data={"username": "bank", "password": demo.DEMO_PASSWORD}, headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403 and "gw_session" not in answer.cookies


def test_the_session_cookie_is_secure_over_https_and_never_readable_by_scripts(rt):
    plain = logged_in(rt, "bank").cookies.jar
    secure = logged_in(rt, "bank", base_url="https://testserver").cookies.jar
    [over_http] = [c for c in plain if c.name == "gw_session"]
    [over_https] = [c for c in secure if c.name == "gw_session"]
    assert not over_http.secure and over_https.secure
    assert over_https.has_nonstandard_attr("HttpOnly")


def test_the_access_log_never_shows_a_query_string(rt, caplog):
    import logging

    create_app(rt)
    logger = logging.getLogger("uvicorn.access")
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        logger.info('%s - "%s %s HTTP/%s" %d', "10.0.0.7", "GET", "/search?q=038095001234", "1.1", 200)
    assert "038095001234" not in caplog.text and "/search" in caplog.text


def test_no_answer_with_personal_data_is_kept_by_a_cache_and_a_spreadsheet_runs_no_formula(client, token, rt, actors):
    from services.exports import csv_document

    case_id = register_in(rt, actors["social_policy"], 84)
    assert client.get(f"/api/cases/{case_id}", headers=token("social_policy")).headers["cache-control"] == "no-store"
    assert "no-store" not in client.get("/static/style.css").headers.get("cache-control", "")
    document = csv_document(["full_name"], [['=HYPERLINK("http://x","a")'], ["+1"], ["Nguyễn Văn An"]]).decode("utf-8-sig")
    assert document.splitlines() == ["full_name", '"\'=HYPERLINK(""http://x"",""a"")"', "'+1", "Nguyễn Văn An"]
