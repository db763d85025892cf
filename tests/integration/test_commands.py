"""What an officer sees when a command is refused or accepted, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from services import audit, cases, queries
from services.models import AdminUnit, Case, CaseRecord, Event, OutboxMessage, Person
from tests import factories as f
from workflows import case as workflow
from workflows.errors import Conflict, DomainError, Forbidden, GuardFailed, RecordInvalid, TransitionNotAllowed

MAIN = f.MAIN_PATH
PATHS: dict[str, list[str]] = {
    "registered": [],
    "counselled": MAIN[:1],
    "trained": MAIN[:2],
    "health_checked": MAIN[:3],
    "loan_approved": MAIN[:4],
    "departed": MAIN[:5],
    "returned": MAIN,
    "reintegrated": [*MAIN, "reintegrate"],
    "closed": [*MAIN, "reintegrate", "close"],
    "withdrawn": ["withdraw"],
    "ineligible": ["declare_ineligible"],
    "visa_refused": [*MAIN[:4], "refuse_visa"],
    "overstayed": [*MAIN[:5], "report_overstay"],
    "deceased": [*MAIN[:5], "report_death"],
}


def counts(rt) -> dict[str, int]:
    """Count the rows a command writes."""
    with rt.unit_of_work() as conn:
        return {
            model.__tablename__: conn.scalar(select(func.count()).select_from(model))
            for model in (Person, Case, Event, OutboxMessage, CaseRecord)
        }


def case_in(rt, actors, clock, state: str, serial: int = 1) -> int:
    """Register a worker and walk the case to a state, a day between steps."""
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today(), serial=serial)).id
    for trigger in PATHS[state]:
        clock.advance(days=1)
        f.step(rt, actors, case_id, trigger)
    assert queries.case_detail(rt, case_id)["state"] == state
    return case_id


def refused(rt, error: type[DomainError], command, *args: Any, **kwargs: Any) -> DomainError:
    """Run a command that must be refused with `error` and must write nothing."""
    before = counts(rt)
    with pytest.raises(error) as caught:
        command(*args, **kwargs)
    assert counts(rt) == before
    return caught.value


def codes(error: DomainError) -> list[tuple[str, str | None]]:
    return [(p.code, p.field) for p in error.problems]


# --- registration -------------------------------------------------------------------------------------------------


def _bad_registrations(today: date) -> dict[str, tuple[dict[str, Any], str, str | None, str]]:
    born = date(today.year - 25, 3, 14)
    minor = date(today.year - 17, 1, 2)
    missing_phone = f.registration(today)
    del missing_phone["phone"]
    return {
        "id_century_sex_digit": (
            f.registration(today, personal_id=f.personal_id(born, "female", 7)),
            "personal_id.century_sex", "personal_id", f"The 4th digit is 3, but a male born in {born.year} has 2 there",
        ),
        "id_birth_year": (
            f.registration(today, personal_id=f"0382{(born.year + 1) % 100:02d}000007"),
            "personal_id.birth_year", "personal_id", f"must be the last two digits of the birth year {born.year}",
        ),
        "id_eleven_digits": (f.registration(today, personal_id="03820100000"), "personal_id.format", "personal_id", "exactly 12 digits"),
        "under_18": (
            f.registration(today, date_of_birth=minor.isoformat(), personal_id=f.personal_id(minor, "male", 7)),
            "age.minimum", "date_of_birth", "The worker is 17; the minimum age is 18",
        ),
        "consent_in_future": (
            f.registration(today, consent={"given": True, "given_on": (today + timedelta(days=1)).isoformat()}),
            "field.date_in_future", "consent.given_on", "is in the future",
        ),
        "missing_phone": (missing_phone, "field.missing", "phone", "This field is required"),
        "no_consent": (
            f.registration(today, consent={"given": False, "given_on": today.isoformat()}),
            "field.consent_required", "consent.given", "must consent to the processing of personal data",
        ),
        "unknown_commune": (f.registration(today, commune_code="TH-NOWHERE"), "unit.commune", "commune_code", "No commune with code TH-NOWHERE"),
        "unknown_village": (
            f.registration(today, village_code="TH-CAMTAN-99"), "unit.village", "village_code", "Village TH-CAMTAN-99 is not in commune TH-CAMTAN",
        ),
        "village_of_another_commune": (
            f.registration(today, village_code="TH-CAMTHACH-01"), "unit.village", "village_code", "is not in commune TH-CAMTAN",
        ),
    }  # fmt: skip


def test_invalid_registration_is_refused_with_a_clear_error_and_nothing_written(rt, actors, subtests):
    with rt.engine.begin() as conn:  # a second commune, so a village can belong to the wrong one
        province = conn.scalar(select(AdminUnit.id).where(AdminUnit.kind == "province"))
        other = conn.execute(
            insert(AdminUnit).returning(AdminUnit.id),
            {"code": "TH-CAMTHACH", "name": "Xã Cẩm Thạch", "kind": "commune", "parent_id": province},
        ).scalar_one()
        conn.execute(insert(AdminUnit), {"code": "TH-CAMTHACH-01", "name": "Thôn 1", "kind": "village", "parent_id": other})
    for variant, (data, code, field, message) in _bad_registrations(rt.today()).items():
        with subtests.test(msg=variant):
            error = refused(rt, RecordInvalid, cases.register, rt, actors["social_policy"], data)
            assert (code, field) in codes(error)
            assert message in str(error)
            assert error.http_status == 422
    assert counts(rt)["cases"] == 0


def test_registration_by_another_department_is_forbidden(rt, actors):
    error = refused(rt, Forbidden, cases.register, rt, actors["enterprise"], f.registration(rt.today()))
    assert "Department enterprise may not do 'register' (only: social_policy)" in str(error)


def test_second_case_for_a_person_with_an_open_case_is_refused(rt, actors, clock, subtests):
    for serial, state in enumerate(["registered", "departed", "overstayed"], start=1):
        with subtests.test(msg=state):
            case_id = case_in(rt, actors, clock, state, serial)
            version = queries.case_detail(rt, case_id)["version"]
            again = f.registration(rt.today(), serial=serial, full_name="Nguyễn Văn Bình")
            error = refused(rt, Conflict, cases.register, rt, actors["social_policy"], again)
            assert codes(error) == [("person.has_case", "personal_id")]
            assert f"already has a case (case {case_id}, state {state}); a person has one open case at a time" in str(error)
            assert "reopen" not in str(error)
            assert queries.case_detail(rt, case_id)["version"] == version


def test_second_case_for_a_person_whose_case_ended_says_to_reopen(rt, actors, clock, subtests):
    for serial, state in enumerate(["withdrawn", "ineligible", "visa_refused", "closed"], start=1):
        with subtests.test(msg=state):
            case_id = case_in(rt, actors, clock, state, serial)
            error = refused(rt, Conflict, cases.register, rt, actors["social_policy"], f.registration(rt.today(), serial=serial))
            assert f"(case {case_id}, state {state}); reopen that case instead" in str(error)
            assert cases.reopen(rt, actors["social_policy"], case_id, "Đăng ký đi lần hai").state == "registered"  # the advice works


def test_second_case_for_a_returned_worker_says_to_reopen(rt, actors, clock):
    case_id = case_in(rt, actors, clock, "returned")
    error = refused(rt, Conflict, cases.register, rt, actors["social_policy"], f.registration(rt.today(), serial=1))
    assert f"(case {case_id}, state returned); reopen that case instead" in str(error)


def case_along(rt, actors, clock, path: list[str], serial: int = 1) -> int:
    """Register a worker and fire each trigger of a path as its department, a day between steps."""
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today(), serial=serial)).id
    for trigger in path:
        clock.advance(days=1)
        f.step(rt, actors, case_id, trigger)
    return case_id


def triggers_of(rt, case_id: int) -> list[str]:
    return [event["trigger"] for event in queries.case_history(rt, case_id)]


def records_of(rt, case_id: int) -> dict[str, Any]:
    return queries.case_detail(rt, case_id)["records"]


# --- versions, departments, records meant for another case --------------------------------------------------------


def test_stale_version_is_a_conflict_that_says_to_reload(rt, actors, clock, subtests):
    commands = {
        "fire": lambda case_id, version: cases.fire(
            rt, actors["enterprise"], case_id, "counsel", f.counselling(rt.today()), expected_version=version
        ),
        "put_record": lambda case_id, version: cases.put_record(
            rt, actors["enterprise"], case_id, "counselling", f.counselling(rt.today()), expected_version=version
        ),
        "withdraw": lambda case_id, version: cases.withdraw(rt, actors["social_policy"], case_id, "Đổi ý", expected_version=version),
    }
    for serial, (name, command) in enumerate(commands.items(), start=1):
        with subtests.test(msg=name):
            case_id = case_in(rt, actors, clock, "registered", serial)
            withdrawal = f.RECORDS["withdraw"](rt.today())
            cases.put_record(rt, actors["social_policy"], case_id, "withdrawal", withdrawal)  # someone else: version 2
            error = refused(rt, Conflict, command, case_id, 1)
            assert codes(error) == [("case.stale", "version")]
            assert error.http_status == 409
            assert f"Case {case_id} was changed by someone else since version 1 (it is now 2); reload and try again" in str(error)
            assert f"Hồ sơ {case_id} đã được người khác thay đổi từ phiên bản 1 (hiện là 2); tải lại rồi thử lại" in str(error)
            assert command(case_id, 2).version == 3
            assert queries.case_detail(rt, case_id)["version"] == 3


def test_a_department_that_does_not_own_a_step_is_forbidden_and_a_supervisor_may_do_it(rt, actors, clock, subtests):
    attempts = [
        ("bank", "registered", "counsel", "enterprise, social_policy"),
        ("police", "loan_approved", "depart", "enterprise"),
        ("enterprise", "trained", "certify_health", "office"),
        ("training", "health_checked", "approve_loan", "bank, finance"),
        ("auditor", "departed", "return_home", "social_policy"),
    ]
    for serial, (who, state, trigger, allowed) in enumerate(attempts, start=1):
        with subtests.test(msg=f"{who} {trigger}"):
            case_id = case_in(rt, actors, clock, state, serial)
            clock.advance(days=1)
            record = f.RECORDS[trigger](rt.today())
            error = refused(rt, Forbidden, cases.fire, rt, actors[who], case_id, trigger, record)
            department = actors[who].department or "—"
            assert codes(error) == [("department.not_owner", "actor")]
            assert error.http_status == 403
            assert f"Department {department} may not do '{trigger}' (only: {allowed})" in str(error)
            assert f"Bộ phận {department} không được thực hiện '{trigger}' (chỉ: {allowed})" in str(error)
            ref = cases.fire(rt, actors["supervisor"], case_id, trigger, record)
            assert ref.state == workflow.TRANSITION_BY_TRIGGER[trigger].dest
            last = queries.case_history(rt, case_id)[-1]
            assert (last["trigger"], last["actor"]) == (trigger, "supervisor")


def test_a_record_is_refused_by_a_department_that_may_not_keep_it(rt, actors, clock):
    case_id = case_in(rt, actors, clock, "registered")
    error = refused(rt, Forbidden, cases.put_record, rt, actors["bank"], case_id, "counselling", f.counselling(rt.today()))
    assert "Department bank may not do 'record:counselling' (only: social_policy, enterprise)" in str(error)


def test_a_record_for_another_case_is_refused(rt, actors, clock, subtests):
    other = case_in(rt, actors, clock, "registered", serial=1)
    commands = {
        "fire": lambda case_id, data: cases.fire(rt, actors["enterprise"], case_id, "counsel", data),
        "put_record": lambda case_id, data: cases.put_record(rt, actors["enterprise"], case_id, "counselling", data),
    }
    for serial, (name, command) in enumerate(commands.items(), start=2):
        with subtests.test(msg=name):
            case_id = case_in(rt, actors, clock, "registered", serial)
            data = {"case_id": other, **f.counselling(rt.today())}
            error = refused(rt, RecordInvalid, command, case_id, data)
            assert codes(error) == [("record.wrong_case", "case_id")]
            assert f"This record is for case {other}, not case {case_id}" in str(error)
            assert f"Hồ sơ này dành cho hồ sơ số {other}, không phải số {case_id}" in str(error)
            command(case_id, {**data, "case_id": case_id})
            assert records_of(rt, case_id)["counselling"]["market_code"] == "JP-TTS"
            assert "case_id" not in records_of(rt, case_id)["counselling"]


# --- guards -------------------------------------------------------------------------------------------------------


def test_counselling_by_an_enterprise_whose_licence_expired_is_refused_with_the_date(rt, actors, clock):
    case_id = case_in(rt, actors, clock, "registered")
    clock.advance(days=1)
    record = f.counselling(rt.today(), enterprise_licence=f.EXPIRED_LICENCE)
    error = refused(rt, GuardFailed, cases.fire, rt, actors["enterprise"], case_id, "counsel", record)
    assert codes(error) == [("enterprise.licence_invalid", "counselling.enterprise_licence")]
    assert error.http_status == 422
    message = str(error)
    assert f"Licence {f.EXPIRED_LICENCE}" in message
    assert "expired on 2025-01-09" in message
    assert f"not valid on the counselling day {rt.today().isoformat()}" in message
    assert "hết hiệu lực ngày 09/01/2025" in message
    assert f"ngày tư vấn {rt.today():%d/%m/%Y}" in message
    assert queries.case_detail(rt, case_id)["state"] == "registered"
    assert cases.fire(rt, actors["enterprise"], case_id, "counsel", f.counselling(rt.today())).state == "counselled"


# --- adding and correcting records --------------------------------------------------------------------------------


def _market_of_case(rt, case_id: int) -> str | None:
    with rt.unit_of_work() as conn:
        return conn.scalar(select(Case.market_code).where(Case.id == case_id))


def test_a_correction_needs_a_reason(rt, actors, clock, subtests):
    case_id = case_in(rt, actors, clock, "counselled")
    corrected = f.counselling(rt.today(), market_code="JP-SSW")
    for reason in (None, "", "   "):
        with subtests.test(msg=repr(reason)):
            error = refused(rt, RecordInvalid, cases.put_record, rt, actors["enterprise"], case_id, "counselling", corrected, reason=reason)
            assert codes(error) == [("reason.required", "reason")]
            assert "A correction needs a reason" in str(error)
            assert "Sửa hồ sơ phải ghi lý do" in str(error)
    assert records_of(rt, case_id)["counselling"]["market_code"] == "JP-TTS"


def test_a_correction_keeps_the_old_value_in_the_history_and_updates_the_case(rt, actors, clock):
    case_id = case_in(rt, actors, clock, "trained")
    assert _market_of_case(rt, case_id) == "JP-TTS"
    clock.advance(days=1)
    corrected = f.counselling(rt.today() - timedelta(days=2), market_code="JP-SSW")
    reason = "Ghi nhầm chương trình: SSW, không phải TTS"
    ref = cases.put_record(rt, actors["enterprise"], case_id, "counselling", corrected, reason=reason)
    assert (ref.state, ref.version) == ("trained", 4)
    history = queries.case_history(rt, case_id)
    assert [e["trigger"] for e in history] == ["register", "counsel", "train", "correct_record"]
    correction = history[-1]
    assert (correction["record_kind"], correction["reason"], correction["actor"]) == ("counselling", reason, "enterprise")
    assert (correction["from_state"], correction["to_state"]) == ("trained", "trained")
    assert json.loads(correction["record_json"])["market_code"] == "JP-SSW"
    assert json.loads(history[1]["record_json"])["market_code"] == "JP-TTS"  # the old value stays in the history
    records = records_of(rt, case_id)
    assert records["counselling"]["market_code"] == "JP-SSW"
    assert set(records) == {"registration", "counselling", "training"}
    assert _market_of_case(rt, case_id) == "JP-SSW"
    with rt.unit_of_work() as conn:
        assert audit.verify(conn, case_id).ok


def test_a_record_added_ahead_of_its_step_is_used_by_the_step(rt, actors, clock):
    case_id = case_in(rt, actors, clock, "registered")
    clock.advance(days=1)
    ref = cases.put_record(rt, actors["enterprise"], case_id, "counselling", f.counselling(rt.today()))
    assert (ref.state, ref.version) == ("registered", 2)
    added = queries.case_history(rt, case_id)[-1]
    assert (added["trigger"], added["record_kind"], added["reason"]) == ("add_record", "counselling", None)
    assert (added["from_state"], added["to_state"]) == ("registered", "registered")
    assert _market_of_case(rt, case_id) == "JP-TTS"
    ref = cases.fire(rt, actors["enterprise"], case_id, "counsel")
    assert (ref.state, ref.version) == ("counselled", 3)
    counsel = queries.case_history(rt, case_id)[-1]
    assert (counsel["trigger"], counsel["record_kind"]) == ("counsel", "counselling")
    assert json.loads(counsel["record_json"]) == json.loads(added["record_json"])
    assert records_of(rt, case_id)["counselling"]["enterprise_licence"] == f.LICENCE


def test_a_record_that_is_not_for_the_next_step_is_refused(rt, actors, clock, subtests):
    tries = [
        ("registered", "departure", "counselling, ineligibility, withdrawal"),
        ("counselled", "health", "ineligibility, training, withdrawal"),
    ]
    for serial, (state, kind, takes) in enumerate(tries, start=1):
        with subtests.test(msg=f"{kind} on {state}"):
            case_id = case_in(rt, actors, clock, state, serial)
            trigger = next(t for t, spec in workflow.TRANSITION_BY_TRIGGER.items() if spec.record == kind)
            data = f.RECORDS[trigger](rt.today())
            error = refused(rt, RecordInvalid, cases.put_record, rt, actors["social_policy"], case_id, kind, data)
            assert codes(error) == [("record.not_for_step", "kind")]
            assert f"A case in state '{state}' takes no '{kind}' record (it takes: {takes})" in str(error)
            assert f"Hồ sơ ở trạng thái '{state}' không nhận loại '{kind}' (nhận: {takes})" in str(error)


def test_a_step_without_a_record_on_file_says_what_is_missing(rt, actors, clock):
    case_id = case_in(rt, actors, clock, "registered")
    error = refused(rt, GuardFailed, cases.fire, rt, actors["enterprise"], case_id, "counsel")
    assert codes(error) == [("record.missing", "counselling")]
    assert "Missing record: counselling record" in str(error)
    assert "Còn thiếu: biên bản tư vấn" in str(error)


# --- withdrawal and reopening -------------------------------------------------------------------------------------


def test_withdrawal_from_every_state_before_departure(rt, actors, clock, subtests):
    for serial, state in enumerate(workflow.BEFORE_DEPARTURE, start=1):
        with subtests.test(msg=state):
            case_id = case_in(rt, actors, clock, state, serial)
            reason = f"Gia đình không đồng ý ({state})"
            ref = cases.withdraw(rt, actors["social_policy"], case_id, reason)
            assert ref.state == "withdrawn"
            detail = queries.case_detail(rt, case_id)
            assert (detail["state"], detail["owner_department"]) == ("withdrawn", "social_policy")
            assert detail["records"]["withdrawal"]["reason"] == reason
            last = queries.case_history(rt, case_id)[-1]
            assert (last["trigger"], last["from_state"], last["to_state"], last["reason"]) == ("withdraw", state, "withdrawn", reason)
            assert json.loads(last["record_json"])["reason"] == reason


def test_withdrawal_after_departure_is_not_allowed(rt, actors, clock):
    case_id = case_in(rt, actors, clock, "departed")
    error = refused(rt, TransitionNotAllowed, cases.withdraw, rt, actors["social_policy"], case_id, "Muốn về")
    assert codes(error) == [("trigger.not_allowed", "trigger")]
    assert error.http_status == 409
    assert "Cannot 'withdraw' a case in state 'departed'. Possible steps: return_home, report_overstay, report_death" in str(error)
    assert "Không thể 'withdraw' khi hồ sơ đang ở trạng thái 'departed'. Có thể: return_home, report_overstay, report_death" in str(error)
    assert queries.case_detail(rt, case_id)["state"] == "departed"


def test_reopen_after_withdrawal_starts_a_new_application_and_keeps_the_history(rt, actors, clock):
    case_id = case_in(rt, actors, clock, "trained")
    clock.advance(days=1)
    cases.withdraw(rt, actors["social_policy"], case_id, "Bận việc gia đình")
    clock.advance(days=30)
    reason = "Đăng ký đi lần hai"
    ref = cases.reopen(rt, actors["social_policy"], case_id, reason)
    assert (ref.state, ref.version) == ("registered", 5)
    detail = queries.case_detail(rt, case_id)
    assert (detail["state"], detail["application_no"], detail["owner_department"]) == ("registered", 2, "social_policy")
    assert set(detail["records"]) == {"registration", "reopening"}  # the registration carries over, the rest starts afresh
    assert detail["records"]["reopening"]["reason"] == reason
    assert detail["records"]["registration"]["personal_id"] == f.registration(rt.today())["personal_id"]
    history = queries.case_history(rt, case_id)
    assert [(e["trigger"], e["application_no"]) for e in history] == [
        ("register", 1), ("counsel", 1), ("train", 1), ("withdraw", 1), ("reopen", 2),
    ]  # fmt: skip
    assert (history[-1]["from_state"], history[-1]["reason"]) == ("withdrawn", reason)
    with rt.unit_of_work() as conn:
        report = audit.verify(conn, case_id)
    assert report.ok, report.findings
    assert report.events == 5
    # The new application needs its own counselling record: the first one is history now.
    error = refused(rt, GuardFailed, cases.fire, rt, actors["enterprise"], case_id, "counsel")
    assert codes(error) == [("record.missing", "counselling")]
    assert f.step(rt, actors, case_id, "counsel").state == "counselled"


def test_a_deceased_case_cannot_be_reopened(rt, actors, clock):
    case_id = case_in(rt, actors, clock, "deceased")
    error = refused(rt, TransitionNotAllowed, cases.reopen, rt, actors["social_policy"], case_id, "Mở lại")
    assert codes(error) == [("trigger.not_allowed", "trigger")]
    assert "Cannot 'reopen' a case in state 'deceased'" in str(error)
    assert "Không thể 'reopen' khi hồ sơ đang ở trạng thái 'deceased'" in str(error)


# --- side roads ---------------------------------------------------------------------------------------------------

SIDE_ROADS: dict[str, tuple[str, list[str]]] = {
    "ineligible": ("ineligible", PATHS["ineligible"]),
    "visa_refused": ("visa_refused", PATHS["visa_refused"]),
    "absconded": ("overstayed", PATHS["overstayed"]),
    "deceased_from_departed": ("deceased", PATHS["deceased"]),
    "deceased_from_overstayed": ("deceased", [*PATHS["overstayed"], "report_death"]),
    "returned_from_overstayed": ("returned", [*PATHS["overstayed"], "return_home"]),
    "reintegrated": ("reintegrated", PATHS["reintegrated"]),
    "closed": ("closed", PATHS["closed"]),
    "closed_without_reintegration": ("closed", [*MAIN, "close"]),
}


def test_every_side_road_is_reachable_by_the_right_department(rt, actors, clock, subtests):
    for serial, (road, (state, path)) in enumerate(SIDE_ROADS.items(), start=1):
        with subtests.test(msg=road):
            case_id = case_along(rt, actors, clock, path, serial)
            detail = queries.case_detail(rt, case_id)
            owner = workflow.STATE_BY_NAME[state].owner
            assert (detail["state"], detail["owner_department"]) == (state, owner)
            with rt.unit_of_work() as conn:
                assert conn.scalar(select(Case.owner_department).where(Case.id == case_id)) == owner
            history = queries.case_history(rt, case_id)
            assert [e["trigger"] for e in history] == ["register", *path]
            assert [e["department"] for e in history[1:]] == [f.DEPARTMENT[t] for t in path]
            assert history[-1]["to_state"] == state


def test_second_case_for_a_person_whose_case_is_deceased_says_it_cannot_be_reopened(rt, actors, clock):
    case_id = case_in(rt, actors, clock, "deceased")
    error = refused(rt, Conflict, cases.register, rt, actors["social_policy"], f.registration(rt.today(), serial=1))
    assert codes(error) == [("person.has_case", "personal_id")]
    assert f"(case {case_id}, state deceased); that case has ended and cannot be reopened" in str(error)
    assert f"(hồ sơ số {case_id}, trạng thái deceased); hồ sơ đó đã kết thúc và không thể mở lại" in str(error)
    assert "reopen that case instead" not in str(error)


# --- the outbox ---------------------------------------------------------------------------------------------------


def test_a_transition_writes_one_pending_message_per_department_concerned_without_personal_data(rt, actors, clock):
    case_id = case_in(rt, actors, clock, "trained")
    clock.advance(days=1)
    f.step(rt, actors, case_id, "certify_health")
    with rt.unit_of_work() as conn:
        event_id = conn.scalar(select(func.max(Event.id)).where(Event.case_id == case_id))
        rows = conn.execute(select(OutboxMessage).where(OutboxMessage.event_id == event_id)).mappings().all()
        everything = conn.execute(select(OutboxMessage)).mappings().all()
    concerned = workflow.departments_concerned("trained", "health_checked")
    assert sorted(concerned) == ["bank", "office", "social_policy"]
    assert sorted(row["queue"] for row in rows) == sorted(concerned)
    assert {(row["status"], row["topic"], row["case_id"]) for row in rows} == {("pending", "case.transitioned", case_id)}
    for row in rows:
        assert row["payload"] == {
            "trigger": "certify_health",
            "from_state": "trained",
            "to_state": "health_checked",
            "record_kind": "health",
        }
        assert (row["event_id"], row["case_id"]) == (event_id, case_id)  # the ids travel as columns
    assert len({row["message_id"] for row in everything}) == len(everything) > len(rows)
    person = f.registration(rt.today(), serial=1)
    born = date.fromisoformat(person["date_of_birth"])
    secrets = [person["full_name"], person["personal_id"], person["phone"], person["date_of_birth"], f"{born:%d/%m/%Y}", "Nguyễn"]
    for row in everything:
        text = json.dumps(row["payload"], ensure_ascii=False)
        assert not [secret for secret in secrets if secret in text], text
        assert set(row["payload"]) <= {"trigger", "from_state", "to_state", "record_kind"}


def test_a_correction_is_held_to_the_checks_of_its_step(rt, actors, clock):
    case_id = case_in(rt, actors, clock, "trained")
    clock.advance(days=1)
    day = rt.today() - timedelta(days=2)
    reason = "Sửa biên bản tư vấn"
    error = refused(rt, GuardFailed, cases.put_record, rt, actors["enterprise"], case_id, "counselling",
                    f.counselling(day, enterprise_licence=f.EXPIRED_LICENCE), reason=reason)  # fmt: skip
    assert [p.code for p in error.problems] == ["enterprise.licence_invalid"]
    error = refused(rt, GuardFailed, cases.put_record, rt, actors["enterprise"], case_id, "counselling",
                    f.counselling(day, market_code="XX-NOPE"), reason=reason)  # fmt: skip
    assert [p.code for p in error.problems] == ["market.unknown"]
    assert _market_of_case(rt, case_id) == "JP-TTS"


def test_a_reopened_application_has_no_market_until_counselled_again(rt, actors, clock):
    case_id = case_in(rt, actors, clock, "visa_refused")
    assert _market_of_case(rt, case_id) == "JP-TTS"
    clock.advance(days=1)
    cases.reopen(rt, actors["social_policy"], case_id, "Đăng ký lại")
    assert _market_of_case(rt, case_id) is None
    clock.advance(days=1)
    f.step(rt, actors, case_id, "counsel", market_code="KR-EPS")
    assert _market_of_case(rt, case_id) == "KR-EPS"


def test_a_correction_may_not_break_a_step_already_taken(rt, actors, clock):
    case_id = case_in(rt, actors, clock, "returned")
    detail = queries.case_detail(rt, case_id)
    departed_on = date.fromisoformat(detail["records"]["departure"]["departed_on"])
    old_training = detail["records"]["training"]
    reason = "Sửa ngày cấp chứng chỉ"
    expired = {**old_training, "orientation": {**old_training["orientation"], "issued_on": (departed_on - timedelta(days=800)).isoformat()}}
    error = refused(rt, GuardFailed, cases.put_record, rt, actors["training"], case_id, "training", expired, reason=reason)
    assert [p.code for p in error.problems] == ["orientation.expired"]
    assert f"on the departure date {departed_on.isoformat()}" in error.problems[0].en
    counselling = {**detail["records"]["counselling"], "market_code": "KR-EPS"}
    error = refused(rt, GuardFailed, cases.put_record, rt, actors["enterprise"], case_id, "counselling", counselling, reason=reason)
    assert [p.code for p in error.problems] == ["contract.country"]
    fixed = {**old_training, "orientation": {**old_training["orientation"], "number": "GDĐH-2"}}
    assert cases.put_record(rt, actors["training"], case_id, "training", fixed, reason="Sửa số chứng chỉ").state == "returned"


def test_a_nul_character_is_refused_before_it_reaches_the_database(rt, actors):
    bad = f.registration(rt.today(), serial=5, full_name="Nguyễn\x00 An")
    error = refused(rt, RecordInvalid, cases.register, rt, actors["social_policy"], bad)
    assert [(p.code, p.field) for p in error.problems] == [("field.nul", "full_name")]
    case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today(), serial=6)).id
    error = refused(rt, RecordInvalid, cases.withdraw, rt, actors["social_policy"], case_id, "lý do\x00")
    assert [p.code for p in error.problems] == ["field.nul"]


def test_a_reopened_application_starts_its_own_timeline(rt, actors, clock):
    case_id = case_in(rt, actors, clock, "returned")
    clock.advance(days=1)
    cases.reopen(rt, actors["social_policy"], case_id, "Đăng ký đi lần hai")
    with rt.unit_of_work() as conn:
        row = conn.execute(
            select(Case.registered_at, Case.counselled_at, Case.departed_at, Case.returned_at).where(Case.id == case_id)
        ).one()
    assert row.registered_at == clock.now()
    assert (row.counselled_at, row.departed_at, row.returned_at) == (None, None, None)


def test_an_event_that_concerns_no_department_is_written_on_either_database(rt, actors):
    from services import store
    from services.users import SYSTEM

    ref = cases.register(rt, actors["social_policy"], f.registration(rt.today(), serial=77))
    with rt.unit_of_work() as conn:
        head = store.lock_case(conn, ref.id)
        entry = store.Entry(trigger="reassign_work", from_state=head.state, to_state=head.state, application_no=1,
                            record_kind=None, record=None, reason="ghi chú", queues=())  # fmt: skip
        _, seq, _ = store.append(conn, head, SYSTEM, rt.clock.now(), entry)
    assert seq == 2
    with rt.unit_of_work(writes=False) as conn:
        assert audit.verify(conn, ref.id).ok
