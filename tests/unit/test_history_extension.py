"""A deadline extension is in a case's history but changes neither its state nor its records when replayed."""

from __future__ import annotations

import pytest

from tests.unit.builders import TODAY, valid_data
from workflows.history import EXTEND_DEADLINE, REGISTER, replay

RECORDS = valid_data(TODAY)
REGISTERED = [(REGISTER, None, "registered", "registration", RECORDS["registration"])]


def test_an_extension_keeps_state_application_and_records():
    events = [
        *REGISTERED,
        (EXTEND_DEADLINE, "registered", "registered", None, None),
        (EXTEND_DEADLINE, "registered", "registered", None, None),
    ]
    case = replay(events)
    assert (case.state, case.application_no, case.records) == ("registered", 1, {"registration": RECORDS["registration"]})


@pytest.mark.parametrize(
    "wrong",
    [(EXTEND_DEADLINE, "counselled", "counselled", None, None), (EXTEND_DEADLINE, "registered", "counselled", None, None)],
    ids=["other-state", "moves"],
)
def test_an_extension_must_leave_the_case_where_it_is(wrong):
    with pytest.raises(ValueError, match="does not follow"):
        replay([*REGISTERED, wrong])


def test_an_extension_carries_no_record():
    with pytest.raises(ValueError, match="a deadline extension has none"):
        replay([*REGISTERED, (EXTEND_DEADLINE, "registered", "registered", "counselling", RECORDS["counselling"])])
