"""A reassignment of work is in a case's history but changes neither its state nor its records when replayed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.builders import TODAY, valid_data
from workflows.history import ADD_RECORD, REASSIGN, REGISTER, replay

RECORDS = valid_data(TODAY)


def registered() -> list[tuple[str, str | None, str, str | None, Any]]:
    return [(REGISTER, None, "registered", "registration", RECORDS["registration"])]


def test_a_reassignment_keeps_state_application_and_records():
    events = [
        *registered(),
        (REASSIGN, "registered", "registered", None, None),
        ("counsel", "registered", "counselled", "counselling", RECORDS["counselling"]),
        (REASSIGN, "counselled", "counselled", None, None),
        (REASSIGN, "counselled", "counselled", None, None),
    ]
    case = replay(events)
    assert (case.state, case.application_no) == ("counselled", 1)
    assert case.records == {"registration": RECORDS["registration"], "counselling": RECORDS["counselling"]}
    assert replay(events[:2]).records == replay(registered()).records


@pytest.mark.parametrize(
    "wrong",
    [
        (REASSIGN, "counselled", "counselled", None, None),  # claims a state the case is not in
        (REASSIGN, "registered", "counselled", None, None),  # moves the case
    ],
    ids=["other-state", "moves"],
)
def test_a_reassignment_must_leave_the_case_where_it_is(wrong):
    with pytest.raises(ValueError, match="does not follow"):
        replay([*registered(), wrong])


def test_a_reassignment_carries_no_record():
    with pytest.raises(ValueError, match="a reassignment has none"):
        replay([*registered(), (REASSIGN, "registered", "registered", "counselling", RECORDS["counselling"])])
    # An event that adds a record in place still applies it.
    assert replay([*registered(), (ADD_RECORD, "registered", "registered", "counselling", RECORDS["counselling"])]).state == "registered"


def test_a_reassignment_before_the_registration_is_refused():
    with pytest.raises(ValueError, match="does not follow"):
        replay([(REASSIGN, "registered", "registered", None, None)])
