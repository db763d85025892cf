"""The case workflow: states, transitions with their records and guards, and the shared machine."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, cast

from transitions import EventData, Machine

from workflows import guards as g
from workflows.errors import GuardFailed, Problem, TransitionNotAllowed, problem
from workflows.subject import CaseSubject, StateChange

WORKFLOW_VERSION = "case-v1"


@dataclass(frozen=True)
class StateSpec:
    """A state, the department that must act next while a case is in it, and its labels."""

    name: str
    owner: str
    label_vi: str
    label_en: str
    kind: str  # "main", "side" or "end"


@dataclass(frozen=True)
class TransitionSpec:
    """A trigger, where it may fire from and to, the record it needs, who fires it, its guards."""

    trigger: str
    sources: tuple[str, ...]
    dest: str
    record: str
    departments: tuple[str, ...]
    guards: tuple[g.Guard, ...]
    label_vi: str
    label_en: str
    new_application: bool = False


BEFORE_DEPARTURE = ("registered", "counselled", "trained", "health_checked", "loan_approved")

STATES = (
    StateSpec("registered", "social_policy", "Đã đăng ký", "Registered", "main"),
    StateSpec("counselled", "training", "Đã tư vấn", "Counselled", "main"),
    StateSpec("trained", "office", "Đã đào tạo", "Trained", "main"),
    StateSpec("health_checked", "bank", "Đã khám sức khỏe", "Health-checked", "main"),
    StateSpec("loan_approved", "enterprise", "Đã duyệt vay / tự túc", "Loan approved", "main"),
    StateSpec("departed", "enterprise", "Đã xuất cảnh", "Departed", "main"),
    StateSpec("returned", "social_policy", "Đã về nước", "Returned", "main"),
    StateSpec("reintegrated", "social_policy", "Đã giới thiệu việc làm", "Reintegrated", "main"),
    StateSpec("closed", "social_policy", "Đã kết thúc", "Closed", "end"),
    StateSpec("withdrawn", "social_policy", "Đã rút hồ sơ", "Withdrawn", "end"),
    StateSpec("ineligible", "social_policy", "Không đủ điều kiện", "Ineligible", "end"),
    StateSpec("visa_refused", "social_policy", "Bị từ chối thị thực", "Visa refused", "end"),
    StateSpec("overstayed", "police", "Bỏ trốn / cư trú bất hợp pháp", "Absconded / overstayed", "side"),
    StateSpec("deceased", "social_policy", "Tử vong / mất tích", "Deceased / missing", "end"),
)

TRANSITIONS = (
    TransitionSpec(
        "counsel",
        ("registered",),
        "counselled",
        "counselling",
        ("enterprise", "social_policy"),
        (g.requires("counselling"), g.enterprise_licensed, g.market_known, g.selection_free, g.counselled_after_consent),
        "Ghi nhận tư vấn",
        "Record counselling",
    ),
    TransitionSpec(
        "train",
        ("counselled",),
        "trained",
        "training",
        ("training", "enterprise"),
        (g.requires("training"), g.orientation_complete, g.orientation_valid_today, g.orientation_issuer_licensed, g.schools_known),
        "Ghi nhận chứng chỉ đào tạo",
        "Record training",
    ),
    TransitionSpec(
        "certify_health",
        ("trained",),
        "health_checked",
        "health",
        ("office",),
        (g.requires("health"), g.health_fit, g.facility_approved, g.health_valid_today),
        "Ghi nhận khám sức khỏe",
        "Record the health check",
    ),
    TransitionSpec(
        "approve_loan",
        ("health_checked",),
        "loan_approved",
        "loan",
        ("bank", "finance"),
        (g.requires("loan"), g.loan_within_costs),
        "Ghi nhận vay vốn / tự túc",
        "Record the loan or self-financing",
    ),
    TransitionSpec(
        "depart",
        ("loan_approved",),
        "departed",
        "departure",
        ("enterprise",),
        (
            g.requires("departure"),
            g.orientation_valid_on_departure,
            g.health_valid_on_departure,
            g.contract_in_counselled_market,
            g.visa_covers_departure,
            g.deposit_allowed,
        ),
        "Ghi nhận xuất cảnh",
        "Record the departure",
    ),
    TransitionSpec(
        "return_home",
        ("departed", "overstayed"),
        "returned",
        "return",
        ("social_policy",),
        (g.requires("return"), g.returned_after_departure),
        "Ghi nhận về nước",
        "Record the return",
    ),
    TransitionSpec(
        "reintegrate",
        ("returned",),
        "reintegrated",
        "reintegration",
        ("social_policy",),
        (g.requires("reintegration"), g.referred_after_return),
        "Giới thiệu việc làm",
        "Refer to a job",
    ),
    TransitionSpec(
        "close",
        ("returned", "reintegrated"),
        "closed",
        "closure",
        ("social_policy",),
        (g.requires("closure"),),
        "Kết thúc hồ sơ",
        "Close the case",
    ),
    TransitionSpec(
        "withdraw",
        BEFORE_DEPARTURE,
        "withdrawn",
        "withdrawal",
        ("social_policy", "enterprise"),
        (g.requires("withdrawal"),),
        "Rút hồ sơ",
        "Withdraw",
    ),
    TransitionSpec(
        "declare_ineligible",
        BEFORE_DEPARTURE,
        "ineligible",
        "ineligibility",
        ("social_policy", "office", "police"),
        (g.requires("ineligibility"),),
        "Kết luận không đủ điều kiện",
        "Declare ineligible",
    ),
    TransitionSpec(
        "refuse_visa",
        ("loan_approved",),
        "visa_refused",
        "visa_refusal",
        ("enterprise",),
        (g.requires("visa_refusal"),),
        "Ghi nhận bị từ chối thị thực",
        "Record a visa refusal",
    ),
    TransitionSpec(
        "report_overstay",
        ("departed",),
        "overstayed",
        "overstay",
        ("police", "social_policy"),
        (g.requires("overstay"), g.overstay_after_contract_end),
        "Báo bỏ trốn / cư trú quá hạn",
        "Report absconding or overstay",
    ),
    TransitionSpec(
        "report_death",
        ("departed", "overstayed"),
        "deceased",
        "death",
        ("social_policy", "police"),
        (g.requires("death"),),
        "Báo tử vong / mất tích",
        "Report death or disappearance",
    ),
    TransitionSpec(
        "reopen",
        ("withdrawn", "ineligible", "visa_refused", "returned", "reintegrated", "closed"),
        "registered",
        "reopening",
        ("social_policy",),
        (g.requires("reopening"), g.of_age_today),
        "Mở lại hồ sơ (đăng ký lại)",
        "Reopen (apply again)",
        new_application=True,
    ),
)

# Records that a reopened application keeps; all others start afresh.
CARRIED_OVER_RECORDS = ("registration",)

STATE_BY_NAME = {state.name: state for state in STATES}
TRANSITION_BY_TRIGGER = {spec.trigger: spec for spec in TRANSITIONS}


class _GuardSet:
    """One machine condition that runs every guard of a transition and keeps all their problems."""

    def __init__(self, checks: tuple[g.Guard, ...]) -> None:
        self.checks = checks

    def __call__(self, event_data: EventData) -> bool:
        subject = cast(CaseSubject, event_data.model)
        found = [p for check in self.checks for p in check(subject)]
        event_data.kwargs["problems"].extend(found)
        return not found


def _collect_change(event_data: EventData) -> None:
    spec = TRANSITION_BY_TRIGGER[event_data.event.name]
    subject = cast(CaseSubject, event_data.model)
    assert event_data.transition is not None
    subject.changes.append(StateChange(spec.trigger, event_data.transition.source, spec.dest, spec.new_application))


def _build_machine() -> Machine:
    return Machine(
        model=None,
        states=[state.name for state in STATES],
        initial=STATES[0].name,
        transitions=[
            {"trigger": spec.trigger, "source": list(spec.sources), "dest": spec.dest, "conditions": [_GuardSet(spec.guards)]}
            for spec in TRANSITIONS
        ],
        auto_transitions=False,
        send_event=True,
        after_state_change=[_collect_change],
    )


MACHINE = _build_machine()
# Registering a worker opens a case in the machine's initial state; every later state comes from a transition.
INITIAL_STATE: str = STATES[0].name


def allowed_triggers(state: str) -> list[str]:
    """Return the triggers that may fire from a state, in definition order."""
    return [spec.trigger for spec in TRANSITIONS if state in spec.sources]


def fire(subject: CaseSubject, trigger: str) -> StateChange:
    """Fire a trigger on a case subject through the shared machine, or raise why it cannot."""
    spec = TRANSITION_BY_TRIGGER.get(trigger)
    if spec is None or subject.state not in spec.sources:
        raise TransitionNotAllowed([not_allowed(subject.state, trigger)])
    problems: list[Problem] = []
    if not MACHINE.events[trigger].trigger(subject, problems=problems):
        raise GuardFailed(problems)
    return subject.changes[-1]


def check(subject: CaseSubject, trigger: str) -> list[Problem]:
    """Return what a trigger's guards would refuse now, without changing the subject."""
    return [p for guard in TRANSITION_BY_TRIGGER[trigger].guards for p in guard(subject)]


# Guards that judge the case as of today; a record added ahead or corrected later is not held to them.
_AS_OF_TODAY = (g.orientation_valid_today, g.health_valid_today)


def check_record(subject: CaseSubject, kind: str, previous: Any = None) -> list[Problem]:
    """Return the problems a new or corrected record of `kind` brings into the application.

    The record is held to the guards of its own step and of every step whose record is on file
    (a corrected certificate must still be valid on the departure day already recorded), except
    the as-of-today ones; problems that were there before the correction are not its doing.
    """
    checks = [
        guard
        for spec in TRANSITIONS
        if spec.record == kind or spec.record in subject.records
        for guard in spec.guards
        if guard not in _AS_OF_TODAY and not guard.__name__.startswith("requires_")
    ]
    found = [p for guard in dict.fromkeys(checks) for p in guard(subject)]
    if previous is None:
        return found
    before = CaseSubject(subject.state, subject.today, subject.policy, {**subject.records, kind: previous}, subject.references)
    existing = {p for guard in dict.fromkeys(checks) for p in guard(before)}
    return [p for p in found if p not in existing]


def not_allowed(state: str, trigger: str) -> Problem:
    """Describe a trigger that cannot fire from a state, naming those that can."""
    options = ", ".join(allowed_triggers(state)) or "—"
    if trigger not in TRANSITION_BY_TRIGGER:
        return problem(
            "trigger.unknown",
            f"Không có bước '{trigger}'. Từ trạng thái '{state}' có thể: {options}.",
            f"There is no step '{trigger}'. From '{state}' the steps are: {options}.",
            "trigger",
        )
    return problem(
        "trigger.not_allowed",
        f"Không thể '{trigger}' khi hồ sơ đang ở trạng thái '{state}'. Có thể: {options}.",
        f"Cannot '{trigger}' a case in state '{state}'. Possible steps: {options}.",
        "trigger",
    )


def definition() -> dict[str, Any]:
    """Return the workflow as plain data: states with owners, transitions with records and guards."""
    return {
        "version": WORKFLOW_VERSION,
        "initial": INITIAL_STATE,
        "states": [asdict(state) for state in STATES],
        "transitions": [
            {
                "trigger": spec.trigger,
                "sources": list(spec.sources),
                "dest": spec.dest,
                "record": spec.record,
                "departments": list(spec.departments),
                "guards": [guard.__name__ for guard in spec.guards],
                "label_vi": spec.label_vi,
                "label_en": spec.label_en,
                "new_application": spec.new_application,
            }
            for spec in TRANSITIONS
        ],
    }


def mermaid(current: str | None = None) -> str:
    """Return the workflow as a Mermaid state diagram, the current state highlighted."""
    lines = ["stateDiagram-v2", "    [*] --> registered: register"]
    for spec in TRANSITIONS:
        lines.extend(f"    {source} --> {spec.dest}: {spec.trigger}" for source in spec.sources)
    lines.extend(f"    {state.name} --> [*]" for state in STATES if state.kind == "end")
    if current is not None:
        lines += ["    classDef current fill:#f96,stroke:#c30,stroke-width:3px", f"    class {current} current"]
    return "\n".join(lines)


def departments_concerned(source: str | None, dest: str) -> list[str]:
    """Return the departments an event concerns: the lead, the new owner and the previous owner."""
    owners = ["social_policy", STATE_BY_NAME[dest].owner]
    if source is not None:
        owners.append(STATE_BY_NAME[source].owner)
    return list(dict.fromkeys(owners))


def record_departments(kind: str) -> tuple[str, ...]:
    """Return the departments that may add or correct a record of a kind."""
    owners = [dept for spec in TRANSITIONS if spec.record == kind for dept in spec.departments]
    return tuple(dict.fromkeys(["social_policy", *owners]))
