"""Every allowed transition reaches its state; every other (state, trigger) pair is refused with the possible steps."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.builders import TODAY, subject
from workflows import case as wf
from workflows.errors import GuardFailed, Problem, TransitionNotAllowed
from workflows.subject import StateChange

BEFORE_DEPARTURE = ["registered", "counselled", "trained", "health_checked", "loan_approved"]
ENDED = ["withdrawn", "ineligible", "visa_refused", "returned", "reintegrated", "closed"]

# The workflow as DOMAIN.md describes it, written out by hand: (trigger, source, dest), in definition order.
ALLOWED = [
    ("counsel", "registered", "counselled"),
    ("train", "counselled", "trained"),
    ("certify_health", "trained", "health_checked"),
    ("approve_loan", "health_checked", "loan_approved"),
    ("depart", "loan_approved", "departed"),
    ("return_home", "departed", "returned"),
    ("return_home", "overstayed", "returned"),
    ("reintegrate", "returned", "reintegrated"),
    ("close", "returned", "closed"),
    ("close", "reintegrated", "closed"),
    *[("withdraw", state, "withdrawn") for state in BEFORE_DEPARTURE],
    *[("declare_ineligible", state, "ineligible") for state in BEFORE_DEPARTURE],
    ("refuse_visa", "loan_approved", "visa_refused"),
    ("report_overstay", "departed", "overstayed"),
    ("report_death", "departed", "deceased"),
    ("report_death", "overstayed", "deceased"),
    *[("reopen", state, "registered") for state in ENDED],
]

# The record each trigger needs: (kind, English label, Vietnamese label) as the user reads them.
RECORD_OF = {
    "counsel": ("counselling", "counselling record", "biên bản tư vấn"),
    "train": ("training", "training certificates", "chứng chỉ đào tạo"),
    "certify_health": ("health", "health certificate", "giấy chứng nhận sức khỏe"),
    "approve_loan": ("loan", "loan decision or self-financing declaration", "quyết định cho vay / cam kết tự túc"),
    "depart": ("departure", "contract, visa and departure", "hợp đồng, thị thực, ngày xuất cảnh"),
    "return_home": ("return", "return", "thông tin về nước"),
    "reintegrate": ("reintegration", "reintegration referral", "giới thiệu việc làm sau về nước"),
    "close": ("closure", "case closure", "kết thúc hồ sơ"),
    "withdraw": ("withdrawal", "withdrawal", "đơn rút hồ sơ"),
    "declare_ineligible": ("ineligibility", "ineligibility decision", "kết luận không đủ điều kiện"),
    "refuse_visa": ("visa_refusal", "visa refusal", "thông báo từ chối thị thực"),
    "report_overstay": ("overstay", "absconding or overstay report", "báo cáo bỏ trốn / cư trú bất hợp pháp"),
    "report_death": ("death", "death or disappearance report", "báo tử / mất tích"),
    "reopen": ("reopening", "reopening", "mở lại hồ sơ"),
}

STATE_NAMES = [state.name for state in wf.STATES]
TRIGGERS = [spec.trigger for spec in wf.TRANSITIONS]
FORBIDDEN = [(state, trigger) for state in STATE_NAMES for trigger in TRIGGERS if (state, trigger) not in {(s, t) for t, s, _ in ALLOWED}]


def steps_from(state: str) -> list[str]:
    """Return the triggers the hand-written table allows from a state, in definition order."""
    return list(dict.fromkeys(trigger for trigger, source, _ in ALLOWED if source == state))


def test_the_hand_written_table_is_the_definition():
    defined = [(spec.trigger, source, spec.dest) for spec in wf.TRANSITIONS for source in spec.sources]
    assert sorted(defined) == sorted(ALLOWED)
    assert set(RECORD_OF) == set(TRIGGERS)
    assert len(ALLOWED) + len(FORBIDDEN) == len(STATE_NAMES) * len(TRIGGERS)


@pytest.mark.parametrize(("trigger", "source", "dest"), ALLOWED, ids=[f"{t}:{s}->{d}" for t, s, d in ALLOWED])
def test_allowed_transition_reaches_its_state_and_collects_the_change(trigger, source, dest):
    case = subject(source)

    change = wf.fire(case, trigger)

    assert change == StateChange(trigger=trigger, source=source, dest=dest, new_application=trigger == "reopen")
    assert case.state == dest
    assert case.changes == [change]


@pytest.mark.parametrize(("trigger", "source", "dest"), ALLOWED, ids=[f"{t}:{s}->{d}" for t, s, d in ALLOWED])
def test_allowed_transition_without_its_record_is_refused_and_changes_nothing(trigger, source, dest):
    kind, label_en, label_vi = RECORD_OF[trigger]
    case = subject(source, overrides={kind: None})

    with pytest.raises(GuardFailed) as refused:
        wf.fire(case, trigger)

    [missing] = refused.value.problems
    assert (missing.code, missing.field) == ("record.missing", kind)
    assert missing.en == f"Missing record: {label_en}."
    assert missing.vi == f"Còn thiếu: {label_vi}."
    assert refused.value.http_status == 422
    assert (case.state, case.changes) == (source, [])


@pytest.mark.parametrize(("state", "trigger"), FORBIDDEN, ids=[f"{s}:{t}" for s, t in FORBIDDEN])
def test_forbidden_transition_is_refused_naming_the_possible_steps(state, trigger):
    case = subject(state)  # every record is on file: only the state forbids the step
    options = ", ".join(steps_from(state)) or "—"

    with pytest.raises(TransitionNotAllowed) as refused:
        wf.fire(case, trigger)

    assert refused.value.problems == [
        Problem(
            code="trigger.not_allowed",
            vi=f"Không thể '{trigger}' khi hồ sơ đang ở trạng thái '{state}'. Có thể: {options}.",
            en=f"Cannot '{trigger}' a case in state '{state}'. Possible steps: {options}.",
            field="trigger",
        )
    ]
    assert refused.value.http_status == 409
    assert (case.state, case.changes) == (state, [])


@pytest.mark.parametrize(
    ("state", "steps"),
    [
        ("registered", "counsel, withdraw, declare_ineligible"),
        ("loan_approved", "depart, withdraw, declare_ineligible, refuse_visa"),
        ("departed", "return_home, report_overstay, report_death"),
        ("overstayed", "return_home, report_death"),
        ("returned", "reintegrate, close, reopen"),
        ("closed", "reopen"),
        ("deceased", "—"),
    ],
)
def test_refusal_message_lists_the_steps_a_user_can_take(state, steps):
    with pytest.raises(TransitionNotAllowed) as refused:
        wf.fire(subject(state), "train")  # never allowed from these states
    assert refused.value.problems[0].en.endswith(f"Possible steps: {steps}.")
    assert refused.value.problems[0].vi.endswith(f"Có thể: {steps}.")


@pytest.mark.parametrize("state", STATE_NAMES)
def test_allowed_triggers_match_the_table(state):
    assert wf.allowed_triggers(state) == steps_from(state)


def test_unknown_trigger_is_refused_naming_the_possible_steps():
    case = subject("counselled")
    with pytest.raises(TransitionNotAllowed) as refused:
        wf.fire(case, "fly_abroad")
    assert refused.value.problems == [
        Problem(
            code="trigger.unknown",
            vi="Không có bước 'fly_abroad'. Từ trạng thái 'counselled' có thể: train, withdraw, declare_ineligible.",
            en="There is no step 'fly_abroad'. From 'counselled' the steps are: train, withdraw, declare_ineligible.",
            field="trigger",
        )
    ]
    assert case.state == "counselled"


def test_check_reports_what_blocks_a_step_without_moving_the_case():
    case = subject("registered", overrides={"counselling": {"selection_fee_vnd": 1_000_000}})

    problems = wf.check(case, "counsel")

    assert [(p.code, p.field) for p in problems] == [("counselling.selection_fee", "counselling.selection_fee_vnd")]
    assert (case.state, case.changes) == ("registered", [])
    assert wf.check(subject("registered"), "counsel") == []


def test_a_refused_guard_leaves_the_case_where_it_was_and_it_can_fire_once_fixed():
    case = subject("registered", overrides={"counselling": {"market_code": "XX-NONE"}})
    with pytest.raises(GuardFailed):
        wf.fire(case, "counsel")
    assert (case.state, case.changes) == ("registered", [])

    case.records["counselling"] = subject("registered").records["counselling"]  # the officer corrects the record
    assert wf.fire(case, "counsel").dest == "counselled"


def test_a_whole_life_walks_through_the_shared_machine_collecting_each_change():
    """Register, go abroad, come back, get a job, close, and apply again: one change per step, in order."""
    path = ["counsel", "train", "certify_health", "approve_loan", "depart", "return_home", "reintegrate", "close", "reopen", "counsel"]
    case = subject("registered")
    for number, trigger in enumerate(path):
        case.today = TODAY + timedelta(days=number)  # the clock moves; records stay valid
        wf.fire(case, trigger)

    assert [(c.trigger, c.source, c.dest, c.new_application) for c in case.changes] == [
        ("counsel", "registered", "counselled", False),
        ("train", "counselled", "trained", False),
        ("certify_health", "trained", "health_checked", False),
        ("approve_loan", "health_checked", "loan_approved", False),
        ("depart", "loan_approved", "departed", False),
        ("return_home", "departed", "returned", False),
        ("reintegrate", "returned", "reintegrated", False),
        ("close", "reintegrated", "closed", False),
        ("reopen", "closed", "registered", True),
        ("counsel", "registered", "counselled", False),
    ]
    assert case.state == "counselled"


def test_two_cases_share_one_machine_without_touching_each_other():
    first, second = subject("registered"), subject("departed")
    wf.fire(first, "counsel")
    wf.fire(second, "report_overstay")
    assert (first.state, second.state) == ("counselled", "overstayed")
    assert [c.trigger for c in first.changes] == ["counsel"]
    assert [c.trigger for c in second.changes] == ["report_overstay"]


@pytest.mark.parametrize(
    ("source", "dest", "departments"),
    [
        (None, "registered", ["social_policy"]),
        ("registered", "counselled", ["social_policy", "training"]),
        ("trained", "health_checked", ["social_policy", "bank", "office"]),
        ("departed", "overstayed", ["social_policy", "police", "enterprise"]),
        ("health_checked", "loan_approved", ["social_policy", "enterprise", "bank"]),
    ],
)
def test_an_event_concerns_the_lead_the_new_owner_and_the_previous_owner(source, dest, departments):
    assert wf.departments_concerned(source, dest) == departments


@pytest.mark.parametrize(
    ("kind", "departments"),
    [
        ("registration", ("social_policy",)),
        ("counselling", ("social_policy", "enterprise")),
        ("health", ("social_policy", "office")),
        ("loan", ("social_policy", "bank", "finance")),
        ("ineligibility", ("social_policy", "office", "police")),
        ("death", ("social_policy", "police")),
    ],
)
def test_who_may_add_or_correct_a_record(kind, departments):
    assert wf.record_departments(kind) == departments
