"""The workflow as others read it: the Mermaid diagram and the plain-data definition."""

from __future__ import annotations

import json

import pytest

from tests.unit.test_transitions import ALLOWED
from workflows import case as wf

# State → (owner, kind) as the workflow assigns them: the department that must act next while a case is there
# (its inbox). DOMAIN.md's Owner column names who records the step that enters the state; README explains.
STATES = {
    "registered": ("social_policy", "main"),
    "counselled": ("training", "main"),
    "trained": ("office", "main"),
    "health_checked": ("bank", "main"),
    "loan_approved": ("enterprise", "main"),
    "departed": ("enterprise", "main"),
    "returned": ("social_policy", "main"),
    "reintegrated": ("social_policy", "main"),
    "closed": ("social_policy", "end"),
    "withdrawn": ("social_policy", "end"),
    "ineligible": ("social_policy", "end"),
    "visa_refused": ("social_policy", "end"),
    "overstayed": ("police", "side"),
    "deceased": ("social_policy", "end"),
}

# Trigger → (record, guards, departments who may fire it).
TRANSITIONS = {
    "counsel": (
        "counselling",
        ["requires_counselling", "enterprise_licensed", "market_known", "selection_free", "counselled_after_consent"],
        ["enterprise", "social_policy"],
    ),
    "train": (
        "training",
        ["requires_training", "orientation_complete", "orientation_valid_today", "orientation_issuer_licensed", "schools_known"],
        ["training", "enterprise"],
    ),
    "certify_health": ("health", ["requires_health", "health_fit", "facility_approved", "health_valid_today"], ["office"]),
    "approve_loan": ("loan", ["requires_loan", "loan_within_costs"], ["bank", "finance"]),
    "depart": (
        "departure",
        [
            "requires_departure",
            "orientation_valid_on_departure",
            "health_valid_on_departure",
            "contract_in_counselled_market",
            "visa_covers_departure",
            "deposit_allowed",
        ],
        ["enterprise"],
    ),
    "return_home": ("return", ["requires_return", "returned_after_departure"], ["social_policy"]),
    "reintegrate": ("reintegration", ["requires_reintegration", "referred_after_return"], ["social_policy"]),
    "close": ("closure", ["requires_closure"], ["social_policy"]),
    "withdraw": ("withdrawal", ["requires_withdrawal"], ["social_policy", "enterprise"]),
    "declare_ineligible": ("ineligibility", ["requires_ineligibility"], ["social_policy", "office", "police"]),
    "refuse_visa": ("visa_refusal", ["requires_visa_refusal"], ["enterprise"]),
    "report_overstay": ("overstay", ["requires_overstay", "overstay_after_contract_end"], ["police", "social_policy"]),
    "report_death": ("death", ["requires_death"], ["social_policy", "police"]),
    "reopen": ("reopening", ["requires_reopening", "of_age_today"], ["social_policy"]),
}


def transition_lines(diagram: str) -> list[str]:
    return [line.strip() for line in diagram.splitlines() if "-->" in line and "[*]" not in line]


def test_the_diagram_draws_every_transition_once_and_nothing_else():
    diagram = wf.mermaid()
    assert diagram.splitlines()[0] == "stateDiagram-v2"
    assert "[*] --> registered: register" in diagram
    assert sorted(transition_lines(diagram)) == sorted(f"{source} --> {dest}: {trigger}" for trigger, source, dest in ALLOWED)


@pytest.mark.parametrize(("trigger", "source", "dest"), ALLOWED, ids=[f"{t}:{s}" for t, s, _ in ALLOWED])
def test_the_diagram_has_the_transition_line(trigger, source, dest):
    assert f"    {source} --> {dest}: {trigger}" in wf.mermaid().splitlines()


def test_the_diagram_ends_exactly_the_end_states():
    ends = {line.strip().removesuffix(" --> [*]") for line in wf.mermaid().splitlines() if line.strip().endswith("--> [*]")}
    assert ends == {name for name, (_, kind) in STATES.items() if kind == "end"}


@pytest.mark.parametrize("current", ["registered", "departed", "overstayed", "closed"])
def test_the_diagram_highlights_the_current_state_only(current):
    diagram = wf.mermaid(current)
    class_lines = [line.strip() for line in diagram.splitlines() if line.strip().startswith("class ")]
    assert class_lines == [f"class {current} current"]
    assert "classDef current" in diagram
    assert transition_lines(diagram) == transition_lines(wf.mermaid())


def test_the_diagram_without_a_current_state_highlights_nothing():
    diagram = wf.mermaid()
    assert "classDef" not in diagram
    assert not [line for line in diagram.splitlines() if line.strip().startswith("class ")]


def test_the_definition_names_its_version_and_first_state():
    definition = wf.definition()
    assert (definition["version"], definition["initial"]) == ("case-v1", "registered")


def test_the_definition_lists_every_state_with_its_owner_and_labels():
    states = wf.definition()["states"]
    assert {state["name"]: (state["owner"], state["kind"]) for state in states} == STATES
    assert len(states) == len(STATES)
    for state in states:
        assert state["label_vi"] and state["label_en"]
    by_name = {state["name"]: state for state in states}
    assert (by_name["overstayed"]["label_vi"], by_name["overstayed"]["label_en"]) == (
        "Bỏ trốn / cư trú bất hợp pháp",
        "Absconded / overstayed",
    )


def test_the_definition_lists_every_transition_with_its_record_guards_and_departments():
    transitions = wf.definition()["transitions"]
    assert {t["trigger"]: (t["record"], t["guards"], t["departments"]) for t in transitions} == TRANSITIONS
    assert sorted((t["trigger"], source, t["dest"]) for t in transitions for source in t["sources"]) == sorted(ALLOWED)
    assert [t["trigger"] for t in transitions if t["new_application"]] == ["reopen"]
    for transition in transitions:
        assert transition["label_vi"] and transition["label_en"]


def test_the_definition_is_plain_json():
    definition = wf.definition()
    assert json.loads(json.dumps(definition, ensure_ascii=False)) == definition


def test_changing_a_returned_definition_does_not_change_the_workflow():
    definition = wf.definition()
    state = definition["states"][0]
    try:
        state["owner"] = "police"  # e.g. a page decorating the data it shows
        state["open_cases"] = 12
        assert (wf.STATES[0].owner, hasattr(wf.STATES[0], "open_cases")) == ("social_policy", False)
    finally:  # undo, so a failure here cannot leak into other tests
        state["owner"] = "social_policy"
        state.pop("open_cases", None)


def test_changing_a_returned_transition_does_not_change_the_workflow():
    wf.definition()["transitions"][0]["guards"].clear()
    assert wf.definition()["transitions"][0]["guards"][0] == "requires_counselling"
