"""The order the backlog reads a case's state from its timestamps agrees with every transition of the workflow."""

from __future__ import annotations

from services.indicator_queries import STATES_LATEST_FIRST
from workflows.case import STATES, TRANSITIONS


def test_every_state_is_ordered_once():
    assert sorted(STATES_LATEST_FIRST) == sorted(state.name for state in STATES)


def test_a_transition_always_leads_to_a_later_state():
    later = {state: rank for rank, state in enumerate(STATES_LATEST_FIRST)}  # smaller = later
    wrong = [(spec.trigger, source, spec.dest) for spec in TRANSITIONS if not spec.new_application
             for source in spec.sources if later[spec.dest] >= later[source]]  # fmt: skip
    assert not wrong
