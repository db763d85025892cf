"""The JSON API as a client system (the bank, an enterprise) uses it: walk a case, refusals, pages, masking, logins."""

from __future__ import annotations

from services import demo
from tests import factories as f
from tests.api.conftest import register_in


def test_a_case_walks_the_main_path_through_the_api_and_its_history_verifies(client, token, rt):
    today = rt.today()
    made = client.post("/api/cases", json=f.registration(today, 1), headers=token("social_policy"))
    assert made.status_code == 201, made.text
    case = made.json()
    assert case["state"] == "registered" and case["version"] == 1
    version = 1
    for trigger in f.MAIN_PATH:
        answer = client.post(
            f"/api/cases/{case['id']}/transitions/{trigger}",
            json={"version": version, "record": f.RECORDS[trigger](today)},
            headers=token(f.DEPARTMENT[trigger]),
        )
        assert answer.status_code == 200, (trigger, answer.text)
        version = answer.json()["version"]
    detail = client.get(f"/api/cases/{case['id']}", headers=token("social_policy")).json()
    assert detail["state"] == "returned" and detail["version"] == version
    history = client.get(f"/api/cases/{case['id']}/history", headers=token("auditor")).json()
    assert [e["trigger"] for e in history] == ["register", *f.MAIN_PATH]
    proof = client.get(f"/api/cases/{case['id']}/verify", headers=token("auditor")).json()
    assert proof == {"case_id": case["id"], "ok": True, "events": 7, "anchors": 0, "findings": []}
    clocks = client.get(f"/api/cases/{case['id']}/deadlines", headers=token("social_policy")).json()
    assert {"return_notice", "liquidation"} <= {c["clock"] for c in clocks if c["status"] == "open"}


def test_a_stale_version_is_a_409_and_writes_nothing(client, token, rt, actors):
    case_id = register_in(rt, actors["social_policy"], 2)
    f.step(rt, actors, case_id, "counsel")  # someone else moved the case to version 2
    answer = client.post(
        f"/api/cases/{case_id}/transitions/train", json={"version": 1, "record": f.training(rt.today())}, headers=token("training")
    )
    assert answer.status_code == 409
    [problem] = answer.json()["problems"]
    assert problem["code"] == "case.stale" and "reload" in problem["en"] and "tải lại" in problem["vi"]
    assert client.get(f"/api/cases/{case_id}", headers=token("training")).json()["state"] == "counselled"


def test_invalid_input_is_a_422_with_a_message_per_field_in_both_languages(client, token, rt):
    bad = f.registration(rt.today(), 3, phone="12")
    del bad["full_name"]
    answer = client.post("/api/cases", json=bad, headers=token("social_policy"))
    assert answer.status_code == 422
    by_field = {p["field"]: p for p in answer.json()["problems"]}
    assert {"full_name", "phone"} <= set(by_field)
    assert all(p["vi"] and p["en"] and p["vi"] != p["en"] for p in by_field.values())
    shape = client.post("/api/cases/1/transitions/counsel", json={"version": "x"}, headers=token("enterprise"))
    assert shape.status_code == 422 and shape.json()["problems"][0]["field"] == "version"
    assert client.get("/api/cases", headers=token("social_policy")).json()["items"] == []  # nothing was written


def test_a_failed_guard_is_a_422_naming_the_rule(client, token, rt, actors):
    case_id = register_in(rt, actors["social_policy"], 4)
    record = f.counselling(rt.today(), enterprise_licence=f.EXPIRED_LICENCE)
    answer = client.post(f"/api/cases/{case_id}/transitions/counsel", json={"version": 1, "record": record}, headers=token("enterprise"))
    assert answer.status_code == 422
    assert any("licence" in p["field"] and "expired" in p["en"] for p in answer.json()["problems"])


def test_cases_come_in_keyset_pages_and_search_ignores_accents(client, token, rt, actors):
    names = ["Nguyễn Văn An", "Trần Thị Bích", "Đặng Văn Đức", "Nguyễn Thị Ánh", "Lê Văn Hùng"]
    ids = [register_in(rt, actors["social_policy"], 10 + i, full_name=name) for i, name in enumerate(names)]
    seen, after = [], 0
    while True:
        page = client.get("/api/cases", params={"limit": 2, "after": after}, headers=token("social_policy")).json()
        seen += [row["id"] for row in page["items"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert seen == ids
    found = client.get("/api/cases", params={"q": "nguyen van an"}, headers=token("social_policy")).json()["items"]
    assert [row["full_name"] for row in found] == ["Nguyễn Văn An"]
    assert [
        r["full_name"] for r in client.get("/api/cases", params={"q": "dang van duc"}, headers=token("social_policy")).json()["items"]
    ] == ["Đặng Văn Đức"]
    by_id = f.registration(rt.today(), 12)["personal_id"]
    assert [r["id"] for r in client.get("/api/cases", params={"q": by_id}, headers=token("social_policy")).json()["items"]] == [ids[2]]


def test_personal_data_is_masked_for_roles_without_need_and_every_read_is_logged(client, token, rt, actors):
    case_id = register_in(rt, actors["social_policy"], 20)
    f.walk(rt, actors, case_id, ["counsel", "train", "certify_health"])
    personal_id = f.registration(rt.today(), 20)["personal_id"]
    for_culture = client.get(f"/api/cases/{case_id}", headers=token("culture_info")).json()
    assert for_culture["person"]["personal_id"] == "•••" + personal_id[-3:]
    assert for_culture["records"]["registration"]["personal_id"] == "•••" + personal_id[-3:]
    assert for_culture["records"]["health"]["result"] == "•••"
    culture_history = client.get(f"/api/cases/{case_id}/history", headers=token("culture_info")).json()
    assert personal_id not in str(culture_history)
    for_police = client.get(f"/api/cases/{case_id}", headers=token("police")).json()
    assert for_police["person"]["personal_id"] == personal_id  # police check brokers and overstays by ID...
    assert for_police["records"]["health"]["result"] == "•••"  # ...but do not see health results
    assert '"result":"fit"' not in str(client.get(f"/api/cases/{case_id}/history", headers=token("police")).json()).replace(" ", "")
    for_office = client.get(f"/api/cases/{case_id}", headers=token("office")).json()
    assert for_office["records"]["health"]["result"] == "fit" and for_office["person"]["personal_id"] == "•••" + personal_id[-3:]
    for_social = client.get(f"/api/cases/{case_id}", headers=token("social_policy")).json()
    assert for_social["person"]["personal_id"] == personal_id
    reads = client.get("/api/audit/personal-data-reads", params={"case_id": case_id}, headers=token("auditor")).json()
    assert [(r["username"], r["view"]) for r in reads] == [
        ("culture_info", "case"), ("culture_info", "history"), ("police", "case"), ("police", "history"), ("office", "case"),
        ("social_policy", "case"),
    ]  # fmt: skip
    assert reads[0]["unmasked"] == "" and reads[2]["unmasked"] == "personal_id" and reads[4]["unmasked"] == "health"


def test_the_user_who_recorded_the_health_result_may_not_record_the_loan(client, token, rt, actors):
    case_id = register_in(rt, actors["social_policy"], 30)
    f.walk(rt, actors, case_id, ["counsel", "train"])
    me = token("supervisor")  # a supervisor may do every step, but not both of these on one case
    health = client.post(
        f"/api/cases/{case_id}/transitions/certify_health", json={"version": 3, "record": f.health(rt.today())}, headers=me
    )
    assert health.status_code == 200, health.text
    loan = client.post(f"/api/cases/{case_id}/transitions/approve_loan", json={"version": 4, "record": f.loan(rt.today())}, headers=me)
    assert loan.status_code == 403
    assert loan.json()["problems"][0]["code"] == "separation.health_then_loan"
    by_bank = client.post(
        f"/api/cases/{case_id}/transitions/approve_loan", json={"version": 4, "record": f.loan(rt.today())}, headers=token("bank")
    )
    assert by_bank.status_code == 200, by_bank.text


def test_logins_are_rate_limited_and_tokens_can_be_revoked(client, token):
    for _ in range(5):
        assert client.post("/api/auth/token", json={"username": "bank", "password": "wrong"}).status_code == 401
    locked = client.post("/api/auth/token", json={"username": "bank", "password": demo.DEMO_PASSWORD})
    assert locked.status_code == 429 and locked.headers["retry-after"] == "900"
    assert "thử lại" in locked.json()["problems"][0]["vi"]
    me = token("office")
    assert client.get("/api/me", headers=me).json()["department"] == "office"
    assert client.post("/api/auth/logout", headers=me).status_code == 204
    assert client.get("/api/me", headers=me).status_code == 401


def test_of_two_claims_through_the_api_one_wins(client, token, rt, actors):
    case_id = register_in(rt, actors["social_policy"], 40)
    [item] = [i for i in client.get("/api/inbox/social_policy", headers=token("social_policy")).json() if i["case_id"] == case_id]
    assert client.post(f"/api/work/{item['id']}/claim", headers=token("social_policy")).json()["assignee"] == "social_policy"
    second = client.post(f"/api/work/{item['id']}/claim", headers=token("supervisor"))
    assert second.status_code == 409 and "social_policy" in second.json()["problems"][0]["en"]


def test_a_health_ineligibility_and_its_reason_are_masked_for_the_police(client, token, rt, actors):
    case_id = register_in(rt, actors["social_policy"], 50)
    f.walk(rt, actors, case_id, ["counsel", "train"])
    record = {"decided_on": rt.today().isoformat(), "reason": "health_unfit", "details": "Lao phổi"}
    from services import cases

    cases.fire(rt, actors["office"], case_id, "declare_ineligible", record, reason="Khám sức khỏe không đạt: lao phổi")
    seen = str(client.get(f"/api/cases/{case_id}/history", headers=token("police")).json())
    assert "lao phổi" not in seen.lower() and "health_unfit" not in seen
    assert "health_unfit" in str(client.get(f"/api/cases/{case_id}/history", headers=token("office")).json())


def test_a_bulk_reassignment_answers_for_each_item_and_does_what_it_can(client, token, rt, actors, other_commune):
    from services import work_queries

    mine = register_in(rt, actors["social_policy"], 160)
    theirs = register_in(rt, other_commune["b_social_policy"], 161, "CB-NAMTUAN", "CB-NAMTUAN-01")
    open_items = {i["case_id"]: i["id"] for i in work_queries.inbox(rt, None, department="social_policy", now=rt.clock.now(), limit=500)}
    body = {"items": [open_items[theirs], open_items[mine]], "to": "social_policy", "reason": "Cán bộ nghỉ phép"}
    answer = client.post("/api/work/reassign", json=body, headers=token("supervisor"))
    assert answer.status_code == 200, answer.text
    outcome = {row["item_id"]: row for row in answer.json()}
    assert outcome[open_items[theirs]]["http_status"] == 404 and outcome[open_items[theirs]]["item"] is None
    assert outcome[open_items[theirs]]["problems"][0]["vi"]
    assert outcome[open_items[mine]]["http_status"] == 200 and outcome[open_items[mine]]["item"]["assignee"] == "social_policy"
    refused = client.post("/api/work/reassign", json=body, headers=token("social_policy"))
    assert refused.status_code == 403  # an officer is refused before any item is looked at


def test_an_unknown_address_is_refused_like_any_other_refusal(client, token):
    answer = client.get("/api/no-such-thing", headers=token("bank"))
    assert answer.status_code == 404 and answer.json()["problems"][0]["code"] == "http.404"
    page = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "Không có trang" in page.text
    wrong_method = client.delete("/api/me", headers=token("bank"))
    assert wrong_method.status_code == 405 and wrong_method.json()["problems"][0]["en"].startswith("This method")
    assert wrong_method.headers["allow"] == "GET"


def test_the_dashboard_reassigns_what_it_can_and_names_each_item_it_could_not(client, rt, actors, other_commune):
    from services import work_queries

    mine = register_in(rt, actors["social_policy"], 170)
    theirs = register_in(rt, other_commune["b_social_policy"], 171, "CB-NAMTUAN", "CB-NAMTUAN-01")
    open_items = {i["case_id"]: i["id"] for i in work_queries.inbox(rt, None, department="social_policy", now=rt.clock.now(), limit=500)}
    client.post("/login", data={"username": "supervisor", "password": demo.DEMO_PASSWORD})
    form = {"item": [str(open_items[theirs]), str(open_items[mine])], "to": "social_policy", "reason": "Cán bộ nghỉ phép"}
    page = client.post("/dashboard/reassign", data=form, headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 404 and f"Việc #{open_items[theirs]}" in page.text
    [item] = [i for i in work_queries.inbox(rt, None, department="social_policy", now=rt.clock.now(), limit=500) if i["case_id"] == mine]
    assert item["assignee"] == "social_policy"


def test_the_inbox_answers_exactly_what_its_response_model_would_write(client, token, rt, actors):
    from pydantic import TypeAdapter

    from services.api.schemas import WorkItemOut

    for serial in (60, 61):
        register_in(rt, actors["social_policy"], serial)
    [first, *_] = client.get("/api/inbox/social_policy", headers=token("social_policy")).json()
    client.post(f"/api/work/{first['id']}/claim", headers=token("social_policy"))
    answer = client.get("/api/inbox/social_policy", headers=token("social_policy"))
    items = TypeAdapter(list[WorkItemOut])
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.content == items.dump_json(items.validate_json(answer.content))  # same fields, types and moment format
    assert {i["assignee"] for i in answer.json()} == {None, "social_policy"} and all(i["due_at"] for i in answer.json())
