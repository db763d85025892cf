"""The plan page and the case page's support panel, through a browser session: who sees what, and refusals that write nothing."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from services import admin, demo, plans
from services.api.app import create_app
from services.models import Event, OutboxMessage, SupportPayment
from tests import factories as f
from tests.api.conftest import USERS, register_in
from workflows.plans import Targets

MONEY_READERS = {"finance", "bank", "social_policy", "supervisor", "province_supervisor", "auditor"}  # the loan figures' readers
PLAN = {"departures_more_than": "7", "language_orientation_percent": "100", "vocational_percent": "64", "in_depth_percent": "15"}


@pytest.fixture
def browser_of(rt):
    """Return a client logged in through the login page as a user (the session cookie; English with lang='en')."""

    def login(username: str, lang: str = "vi") -> TestClient:
        client = TestClient(create_app(rt), headers={"Origin": "http://testserver", "Accept": "text/html"})
        answer = client.post("/login", data={"username": username, "password": demo.DEMO_PASSWORD}, follow_redirects=False)
        assert answer.status_code == 303
        client.cookies.set("gw_lang", lang)
        return client

    return login


def _errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'<span class="error" data-field="([^"]+)">([^<]+)</span>', html))


def _count(rt, model) -> int:
    with rt.unit_of_work(writes=False) as conn:
        return int(conn.scalar(select(func.count()).select_from(model)) or 0)


# --- plans ------------------------------------------------------------------------------------------------------------


def test_an_admin_sees_the_defaults_marked_and_saves_a_plan_into_the_admin_log(rt, actors, browser_of):
    page = browser_of("admin")
    shown = page.get(f"/plans?unit={f.COMMUNE}&year=2027")
    assert shown.status_code == 200 and "Mặc định" in shown.text and shown.text.count('class="default"') == 4
    assert 'name="vocational_percent" type="number" step="1" value="66"' in shown.text  # the linear default for 2027
    saved = page.post(f"/plans/{f.COMMUNE}/2027", data=PLAN, follow_redirects=True)
    assert saved.status_code == 200 and 'data-testid="done"' in saved.text and 'class="default"' not in saved.text
    assert plans.get_plan(rt, actors["admin"], f.COMMUNE, 2027)["vocational_percent"] == 64
    [logged] = [a for a in admin.actions(rt, actors["admin"]) if a["action"] == "plan.set"]
    assert logged["details"]["before"]["vocational_percent"] == 66 and logged["details"]["after"]["departures_more_than"] == 7
    assert "plan.set" in page.get("/admin/log").text


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_bad_figures_come_back_next_to_their_fields_and_nothing_is_saved(rt, actors, browser_of, lang):
    page = browser_of("admin", lang)
    typed = {**PLAN, "departures_more_than": "-3", "vocational_percent": "120", "in_depth_percent": "mười"}
    refused = page.post(f"/plans/{f.COMMUNE}/2026", data=typed)
    assert refused.status_code == 422
    errors = _errors(refused.text)
    assert set(errors) == {"in_depth_percent"}  # a word is no number: named first, before the figures are checked
    typed["in_depth_percent"] = "15"
    refused = page.post(f"/plans/{f.COMMUNE}/2026", data=typed)
    errors = _errors(refused.text)
    if lang == "vi":
        assert errors == {"departures_more_than": "Chỉ tiêu xuất cảnh phải từ 0 đến 1.000.000.",
                          "vocational_percent": "Tỷ lệ phải từ 0 đến 100 (%)."}  # fmt: skip
    else:
        assert errors["vocational_percent"] == "A share must be between 0 and 100 (%)."
    assert 'name="vocational_percent" type="number" step="1" value="120"' in refused.text  # as typed
    assert plans.get_plan(rt, actors["admin"], f.COMMUNE, 2026)["source"] == "default"
    assert not [a for a in admin.actions(rt, actors["admin"]) if a["action"] == "plan.set"]


def test_a_supervisor_reads_the_plans_of_their_scope_without_a_form(rt, actors, browser_of, other_commune):
    plans.set_plan(rt, actors["admin"], f.COMMUNE, 2026, Targets(9, 100, 70, 20))
    page = browser_of("province_supervisor")
    shown = page.get("/plans?year=2026")  # their own unit first: the province, on its defaults
    assert shown.status_code == 200 and "Tỉnh Thanh Hóa" in shown.text and "Mặc định" in shown.text
    assert f'<option value="{f.COMMUNE}"' in shown.text and "CB-NAMTUAN" not in shown.text
    commune = page.get(f"/plans?unit={f.COMMUNE}&year=2026")
    assert '<strong data-testid="departures_more_than">9</strong>' in commune.text and 'name="departures_more_than"' not in commune.text
    assert page.post(f"/plans/{f.COMMUNE}/2026", data=PLAN).status_code == 403
    assert page.post(f"/plans/{f.COMMUNE}/2026", data={**PLAN, "vocational_percent": "x"}).status_code == 403  # the role first
    assert page.get("/plans?unit=CB-NAMTUAN&year=2026").status_code == 404


# --- support ----------------------------------------------------------------------------------------------------------


def test_the_support_panel_shows_the_money_to_its_readers_and_the_form_to_finance(rt, actors, browser_of):
    case_id = register_in(rt, actors["social_policy"], 60)
    browser_of("finance").post(
        f"/cases/{case_id}/support-payments", data={"item": "passport", "amount_vnd": "200000", "paid_on": "2026-05-30", "invoice_number": "HD-77"}
    )  # fmt: skip
    for user in USERS:
        if user == "admin":
            continue
        page = browser_of(user)
        panel = page.get(f"/cases/{case_id}/support")
        assert panel.status_code == 200, user
        assert ("HD-77" in panel.text) == (user in MONEY_READERS), user
        assert ('data-testid="support-form"' in panel.text) == (user == "finance"), user
        history = page.get(f"/cases/{case_id}").text
        assert ("HD-77" in history) == (user in MONEY_READERS), user  # the timeline's note says the amount and invoice too
    panel = browser_of("finance").get(f"/cases/{case_id}/support").text
    assert re.search(r'data-item="passport" class="paid">\s*<td>Lệ phí cấp hộ chiếu</td>\s*<td>200.000</td>\s*<td>200.000</td>', panel)


def test_a_refused_payment_shows_the_reason_next_to_the_field_and_writes_nothing(rt, actors, browser_of):
    case_id = register_in(rt, actors["social_policy"], 61)
    poor = register_in(rt, actors["social_policy"], 62, priority={})
    page = browser_of("finance")
    events, messages = _count(rt, Event), _count(rt, OutboxMessage)
    over = {"item": "health_check", "amount_vnd": "800000", "paid_on": "2026-05-30", "invoice_number": "HD-1"}
    refused = page.post(f"/cases/{case_id}/support-payments", data=over)
    assert refused.status_code == 422 and "vượt mức tối đa 750.000 đ" in _errors(refused.text)["amount_vnd"]
    assert 'name="amount_vnd" type="number" step="1" value="800000"' in refused.text and 'data-testid="timeline"' in refused.text
    outside = page.post(f"/cases/{poor}/support-payments", data={**over, "amount_vnd": "700000"})
    assert outside.status_code == 422 and "không thuộc nhóm đối tượng ưu tiên" in _errors(outside.text)["item"]
    assert _count(rt, SupportPayment) == 0 and (_count(rt, Event), _count(rt, OutboxMessage)) == (events, messages)
    assert page.post(f"/cases/{case_id}/support-payments", data={**over, "amount_vnd": "700000"}, follow_redirects=False).status_code == 303
    twice = browser_of("finance", "en").post(f"/cases/{case_id}/support-payments", data={**over, "amount_vnd": "100000"})
    assert twice.status_code == 409 and "was paid to this person on 2026-05-30" in _errors(twice.text)["item"]
    assert _count(rt, SupportPayment) == 1
    assert browser_of("police").post(f"/cases/{case_id}/support-payments", data={**over, "amount_vnd": "x"}).status_code == 403
    typo = page.post(f"/cases/{case_id}/support-payments", data={**over, "item": "passport", "amount_vnd": "2 trăm", "paid_on": "30/5"})
    assert typo.status_code == 422 and set(_errors(typo.text)) == {"amount_vnd", "paid_on"}


def test_the_panel_of_a_case_outside_the_commune_does_not_exist(rt, actors, browser_of, other_commune):
    theirs = register_in(rt, other_commune["b_social_policy"], 63, "CB-NAMTUAN", "CB-NAMTUAN-01")
    page = browser_of("finance")
    assert page.get(f"/cases/{theirs}/support").status_code == 404
    paid = {"item": "passport", "amount_vnd": "200000", "paid_on": "2026-05-30", "invoice_number": "HD-2"}
    assert page.post(f"/cases/{theirs}/support-payments", data=paid).status_code == 404
    assert _count(rt, SupportPayment) == 0
