"""The provable history: event hashes cover every field, canonical JSON is unique, and replay rebuilds a case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.unit.builders import TODAY, subject, valid_data
from workflows import case as wf
from workflows.history import (
    ADD_RECORD,
    CORRECT_RECORD,
    GENESIS,
    REGISTER,
    anchor_hash,
    canonical_json,
    canonical_time,
    event_hash,
    replay,
)

BASE_EVENT: dict[str, Any] = {
    "case_id": 42,
    "seq": 3,
    "at": "2026-06-01T02:00:00.000000",
    "actor_id": 7,
    "department": "enterprise",
    "trigger": "counsel",
    "from_state": "registered",
    "to_state": "counselled",
    "application_no": 1,
    "record_kind": "counselling",
    "record_json": canonical_json({"market_code": "JP-TTS", "job": "Hàn"}),
    "reason": None,
    "prev_hash": "a" * 64,
}

CHANGED = [
    ("case_id", 43),
    ("seq", 4),
    ("at", "2026-06-01T02:00:00.000001"),
    ("actor_id", 8),
    ("actor_id", None),
    ("department", "social_policy"),
    ("department", None),
    ("trigger", "withdraw"),
    ("from_state", "counselled"),
    ("from_state", None),
    ("to_state", "withdrawn"),
    ("application_no", 2),
    ("record_kind", "withdrawal"),
    ("record_kind", None),
    ("record_json", canonical_json({"market_code": "KR-EPS", "job": "Hàn"})),
    ("record_json", None),
    ("reason", "Sửa lỗi đánh máy"),
    ("reason", ""),
    ("prev_hash", "b" * 64),
    ("prev_hash", GENESIS),
]


def test_an_event_hash_is_a_stable_sha256():
    digest = event_hash(**BASE_EVENT)
    assert digest == event_hash(**dict(BASE_EVENT))
    assert len(digest) == 64
    assert set(digest) <= set("0123456789abcdef")


@pytest.mark.parametrize(("name", "value"), CHANGED, ids=[f"{n}={v!r}"[:40] for n, v in CHANGED])
def test_changing_any_field_of_an_event_changes_its_hash(name, value):
    assert event_hash(**{**BASE_EVENT, name: value}) != event_hash(**BASE_EVENT)


def test_fields_cannot_be_shifted_from_one_to_the_next_with_the_same_hash():
    # Moving text between neighbouring fields must not give the same canonical form.
    moved = {**BASE_EVENT, "department": "enterprise,counsel", "trigger": ""}
    assert event_hash(**moved) != event_hash(**BASE_EVENT)


def test_each_hash_chains_on_its_predecessor():
    first = event_hash(**{**BASE_EVENT, "seq": 1, "prev_hash": GENESIS})
    second = event_hash(**{**BASE_EVENT, "seq": 2, "prev_hash": first})
    forged_first = event_hash(**{**BASE_EVENT, "seq": 1, "prev_hash": GENESIS, "reason": "edited"})
    assert event_hash(**{**BASE_EVENT, "seq": 2, "prev_hash": forged_first}) != second


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ({"b": 1, "a": 2}, {"a": 2, "b": 1}),
        ({"outer": {"z": [1, {"y": 2, "x": 3}], "a": None}}, {"outer": {"a": None, "z": [1, {"x": 3, "y": 2}]}}),
        (valid_data(TODAY)["registration"], dict(reversed(list(valid_data(TODAY)["registration"].items())))),
    ],
    ids=["flat", "nested", "registration"],
)
def test_canonical_json_does_not_depend_on_key_order(left, right):
    assert canonical_json(left) == canonical_json(right)


def test_canonical_json_is_compact_and_keeps_vietnamese_letters():
    assert canonical_json({"name": "Nguyễn Văn An", "n": [1, 2]}) == '{"n":[1,2],"name":"Nguyễn Văn An"}'


def test_canonical_json_tells_different_values_apart():
    assert canonical_json({"a": [1, 2]}) != canonical_json({"a": [2, 1]})
    assert canonical_json({"a": 1}) != canonical_json({"a": "1"})


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 6, 1, 2, 0, tzinfo=UTC), "2026-06-01T02:00:00.000000"),
        (datetime(2026, 6, 1, 2, 0), "2026-06-01T02:00:00.000000"),  # naive: taken as UTC
        (datetime(2026, 6, 1, 2, 0, 0, 123, tzinfo=UTC), "2026-06-01T02:00:00.000123"),
    ],
)
def test_canonical_time_is_utc_with_microseconds(moment, text):
    assert canonical_time(moment) == text


@pytest.mark.parametrize("hours", [7, 9, -5])
def test_canonical_time_of_the_same_instant_in_another_zone_is_the_same(hours):
    elsewhere = datetime(2026, 6, 1, 2, 0, tzinfo=UTC).astimezone(timezone(timedelta(hours=hours)))
    assert canonical_time(elsewhere) == "2026-06-01T02:00:00.000000"


def test_an_anchor_covers_every_chain_head_whatever_their_order():
    heads = [(1, 5, "a" * 64), (2, 3, "b" * 64), (3, 9, "c" * 64)]
    anchor = anchor_hash(GENESIS, heads)
    assert anchor == anchor_hash(GENESIS, list(reversed(heads)))
    assert anchor != anchor_hash(GENESIS, heads[:2])
    assert anchor != anchor_hash(GENESIS, [*heads[:2], (3, 9, "d" * 64)])
    assert anchor != anchor_hash(GENESIS, [*heads[:2], (3, 10, "c" * 64)])
    assert anchor != anchor_hash("f" * 64, heads)


def test_an_anchor_without_report_heads_hashes_as_before_and_a_report_head_is_never_a_case_head():
    heads = [(1, 7, "a" * 64), (2, 1, "b" * 64), (3, 10, "d" * 64)]
    # The hash of these heads by the code before anchors sealed report heads: the anchors sealed then still verify.
    assert anchor_hash(GENESIS, heads) == "84efd42c9dcdaf0e68100cd095a023d539ea32b98371985f1480faa29058942d"
    with_report = anchor_hash(GENESIS, heads, [(3, 10, "d" * 64)])
    assert with_report not in (anchor_hash(GENESIS, heads), anchor_hash(GENESIS, [*heads, (4, 10, "d" * 64)]))
    assert anchor_hash(GENESIS, heads[:2], [(3, 10, "d" * 64)]) != anchor_hash(GENESIS, heads)
    assert with_report != anchor_hash(GENESIS, heads, [(3, 10, "e" * 64)])


# ---- replay -------------------------------------------------------------------------------------------------------

RECORDS = valid_data(TODAY)
MAIN_PATH = [
    ("counsel", "registered", "counselled", "counselling"),
    ("train", "counselled", "trained", "training"),
    ("certify_health", "trained", "health_checked", "health"),
    ("approve_loan", "health_checked", "loan_approved", "loan"),
    ("depart", "loan_approved", "departed", "departure"),
    ("return_home", "departed", "returned", "return"),
]


def registered(**registration: Any) -> list[tuple]:
    return [(REGISTER, None, "registered", "registration", {**RECORDS["registration"], **registration})]


def steps(*rows: tuple[str, str, str, str]) -> list[tuple]:
    return [(trigger, source, dest, kind, RECORDS[kind]) for trigger, source, dest, kind in rows]


def test_replay_of_the_main_path_rebuilds_state_application_and_records():
    case = replay(registered() + steps(*MAIN_PATH))
    assert (case.state, case.application_no) == ("returned", 1)
    assert case.records == {
        kind: RECORDS[kind] for kind in ["registration", "counselling", "training", "health", "loan", "departure", "return"]
    }


def test_replay_of_a_registration_alone():
    case = replay(registered())
    assert (case.state, case.application_no, list(case.records)) == ("registered", 1, ["registration"])


def test_replay_applies_added_and_corrected_records_in_place():
    corrected = {**RECORDS["counselling"], "market_code": "KR-EPS"}
    events = [
        *registered(),
        (ADD_RECORD, "registered", "registered", "counselling", RECORDS["counselling"]),
        (CORRECT_RECORD, "registered", "registered", "counselling", corrected),
        ("counsel", "registered", "counselled", "counselling", corrected),
        (CORRECT_RECORD, "counselled", "counselled", "registration", {**RECORDS["registration"], "phone": "0987654321"}),
    ]
    case = replay(events)
    assert (case.state, case.application_no) == ("counselled", 1)
    assert case.records["counselling"]["market_code"] == "KR-EPS"
    assert case.records["registration"]["phone"] == "0987654321"


@pytest.mark.parametrize(
    ("before", "ended"),
    [
        ([("counsel", "registered", "counselled", "counselling"), ("withdraw", "counselled", "withdrawn", "withdrawal")], "withdrawn"),
        ([*MAIN_PATH[:4], ("refuse_visa", "loan_approved", "visa_refused", "visa_refusal")], "visa_refused"),
        (MAIN_PATH, "returned"),
        (
            [*MAIN_PATH, ("reintegrate", "returned", "reintegrated", "reintegration"), ("close", "reintegrated", "closed", "closure")],
            "closed",
        ),
    ],
    ids=["after-withdrawal", "after-visa-refusal", "after-return", "after-closure"],
)
def test_replay_of_a_reopening_starts_a_new_application_keeping_only_the_registration(before, ended):
    corrected_registration = {**RECORDS["registration"], "phone": "0987654321"}
    events = [
        *registered(),
        *steps(*before),
        (CORRECT_RECORD, ended, ended, "registration", corrected_registration),
        ("reopen", ended, "registered", "reopening", RECORDS["reopening"]),
    ]
    case = replay(events)
    assert (case.state, case.application_no) == ("registered", 2)
    assert case.records == {"registration": corrected_registration, "reopening": RECORDS["reopening"]}

    again = replay([*events, *steps(("counsel", "registered", "counselled", "counselling"))])
    assert (again.state, again.application_no, set(again.records)) == ("counselled", 2, {"registration", "reopening", "counselling"})


def test_each_reopening_counts_one_more_application():
    events = [
        *registered(),
        *steps(("withdraw", "registered", "withdrawn", "withdrawal"), ("reopen", "withdrawn", "registered", "reopening")),
        *steps(("declare_ineligible", "registered", "ineligible", "ineligibility"), ("reopen", "ineligible", "registered", "reopening")),
    ]
    assert replay(events).application_no == 3


@pytest.mark.parametrize(
    "events",
    [
        steps(("counsel", "registered", "counselled", "counselling")),  # a step before the registration
        registered() + steps(("train", "registered", "trained", "training")),  # skips counselling
        registered() + steps(("train", "counselled", "trained", "training")),  # claims a state the case was not in
        registered() + steps(("withdraw", "counselled", "withdrawn", "withdrawal")),  # allowed from here, but claims another source
        registered() + steps(("counsel", "registered", "trained", "counselling")),  # lands in the wrong state
        registered()
        + steps(("counsel", "registered", "counselled", "counselling"), ("counsel", "counselled", "counselled", "counselling")),
        registered() + steps(*MAIN_PATH[:5], ("withdraw", "departed", "withdrawn", "withdrawal")),  # no withdrawal after departure
        registered()
        + steps(*MAIN_PATH[:5], ("report_death", "departed", "deceased", "death"), ("reopen", "deceased", "registered", "reopening")),
    ],
    ids=[
        "before-registration",
        "skipped-step",
        "wrong-source",
        "misreported-source",
        "wrong-dest",
        "repeated-step",
        "withdraw-after-departure",
        "reopen-deceased",
    ],
)
def test_replay_refuses_an_impossible_sequence(events):
    with pytest.raises(ValueError, match="does not follow"):
        replay(events)


def test_replay_of_what_the_machine_did_ends_where_the_machine_ended():
    case = subject("registered")
    for trigger in ["counsel", "train", "certify_health", "approve_loan", "depart", "report_overstay", "return_home", "reopen", "counsel"]:
        wf.fire(case, trigger)
    events = registered() + [
        (c.trigger, c.source, c.dest, wf.TRANSITION_BY_TRIGGER[c.trigger].record, RECORDS[wf.TRANSITION_BY_TRIGGER[c.trigger].record])
        for c in case.changes
    ]
    rebuilt = replay(events)
    assert (rebuilt.state, rebuilt.application_no) == (case.state, 1 + sum(c.new_application for c in case.changes)) == ("counselled", 2)
