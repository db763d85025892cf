"""The commune's periodic reports to the province: their periods, when beat drafts them, and their small state machine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

from transitions import EventData, Machine

from workflows.clocks import Length, Rung, build_ladder
from workflows.errors import TransitionNotAllowed, problem

DRAFTED, SUBMITTED = "drafted", "submitted"
DRAFT, SUBMIT, RETURN = "report.draft", "report.submit", "report.return"  # the triggers, as the history names them
# The record kind of the figures a submission freezes (in the event's record slot, so the one hash function covers them).
FIGURES = "report_figures"


@dataclass(frozen=True)
class ReportKind:
    """A kind of report: its period within the year, its due day, when beat drafts it, and who owns it."""

    name: str  # half_year, yearly
    label_vi: str
    label_en: str
    period_end: tuple[int, int]  # (month, day): the period runs from 1 January to this day, which is also the due day
    draft_before: Length  # before the due day (negative), in working days: beat drafts on that day or after
    draft_until: Length  # after the due day: beat still drafts a missing report (it was down, the commune is new) until then
    return_within: Length  # a returned report is due again this long after its return
    department: str
    ladder: tuple[Rung, ...]

    @property
    def clock(self) -> str:
        """Return the name its deadline and work item carry."""
        return f"report.{self.name}"

    def period(self, year: int) -> tuple[date, date]:
        """Return the first and last day of the year's period (the last day is the due day)."""
        return date(year, 1, 1), date(year, *self.period_end)

    def draft_day(self, year: int) -> date:
        """Return the day beat drafts the year's report."""
        return self.draft_before.after(self.period(year)[1])


@dataclass(frozen=True)
class ReportPolicy:
    """Every kind of report, by name."""

    kinds: dict[str, ReportKind]

    def due_for_drafting(self, today: date) -> list[tuple[ReportKind, int]]:
        """Return the (kind, year) beat drafts today: from the drafting day to `draft_until` after the due day.

        A commune that had no report on the drafting day (beat was down, the commune is new) still gets its draft
        within that grace, late, and its clock reminds and escalates at once.
        """
        found = []
        for kind in self.kinds.values():
            for year in (today.year - 1, today.year):
                if kind.draft_day(year) <= today <= kind.draft_until.after(kind.period(year)[1]):
                    found.append((kind, year))
        return found

    def by_clock(self, clock: str) -> ReportKind | None:
        """Return the kind whose deadline carries a clock name, if any."""
        return self.kinds.get(clock.removeprefix("report."))


def build_report_policy(data: dict[str, Any], departments: set[str]) -> ReportPolicy:
    """Build the report kinds from policy data ([report.*], with the ladders of [ladder.*])."""
    ladders = data.get("ladder", {})
    kinds = {}
    for name, spec in data.get("report", {}).items():
        ladder = spec.get("ladder", "standard")
        if ladder not in ladders or spec["department"] not in departments:
            raise ValueError(f"report {name}: unknown ladder {ladder!r} or department {spec['department']!r}")
        month, day = (int(part) for part in spec["due"].split("-"))
        kinds[name] = ReportKind(
            name=name, label_vi=spec["label_vi"], label_en=spec["label_en"], period_end=(month, day),
            draft_before=Length.parse(spec["draft_before"]), draft_until=Length.parse(spec["draft_until"]), return_within=Length.parse(spec["return_within"]),
            department=spec["department"], ladder=build_ladder(ladder, ladders[ladder]["rungs"], departments),
        )  # fmt: skip
        date(2000, month, day)  # a due day that exists in every year (refuses 02-30, and 02-29 too)
        if kinds[name].draft_before.amount >= 0:
            raise ValueError(f"report {name}: draft_before must be before the due day (e.g. -10wd)")
    return ReportPolicy(kinds)


# --- the machine -----------------------------------------------------------------------------------------------------


@dataclass
class ReportSubject:
    """The model the shared machine fires on: a report's state, and the changes the machine collected."""

    state: str
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # (trigger, from, to)


_TRANSITIONS = [
    {"trigger": SUBMIT, "source": DRAFTED, "dest": SUBMITTED},
    {"trigger": RETURN, "source": SUBMITTED, "dest": DRAFTED},  # the province sends it back, with a reason
]


def _collect(event_data: EventData) -> None:
    subject = cast(ReportSubject, event_data.model)
    transition = event_data.transition
    assert transition is not None and transition.dest is not None
    subject.changes.append((event_data.event.name, transition.source, transition.dest))


MACHINE = Machine(
    model=None, states=[DRAFTED, SUBMITTED], initial=DRAFTED, transitions=_TRANSITIONS,
    auto_transitions=False, send_event=True, after_state_change=[_collect],
)  # fmt: skip
_NAMES = {SUBMIT: ("nộp", "submitted"), RETURN: ("trả lại", "returned")}
_STATE_NAMES = {DRAFTED: ("bản nháp", "a draft"), SUBMITTED: ("đã nộp", "submitted")}


def fire(state: str, trigger: str) -> tuple[str, str, str]:
    """Fire a trigger from a state through the shared machine; return (trigger, from, to) or refuse it."""
    subject = ReportSubject(state)
    if trigger not in MACHINE.get_triggers(state):
        verb_vi, verb_en = _NAMES.get(trigger, (trigger, trigger))
        state_vi, state_en = _STATE_NAMES.get(state, (state, state))
        vi, en = f"Không thể {verb_vi} một báo cáo {state_vi}.", f"A report that is {state_en} cannot be {verb_en}."
        raise TransitionNotAllowed([problem("report.not_allowed", vi, en, "state")])
    MACHINE.events[trigger].trigger(subject)
    return subject.changes[-1]
