"""The shapes of the periodic reports' routes: a report in a list, a report with its figures and history, the commands."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SubmitIn(BaseModel):
    """Submit a drafted report: the version read (a newer one refuses it with 409)."""

    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1, le=2**31)


class ReturnIn(SubmitIn):
    """Return a submitted report to its commune (the province), saying why."""

    reason: str = Field(min_length=1, max_length=2000)


class ReportOut(BaseModel):
    """A report as a list shows it: its commune, period, state, submission and whether it is late."""

    id: int
    unit_code: str
    unit_name: str
    kind: str
    year: int
    label_vi: str
    label_en: str
    period_start: date
    period_end: date
    due_on: date
    state: str
    version: int
    drafted_at: datetime
    submitted_at: datetime | None
    submitted_by: str | None
    late: bool
    figures_hash: str | None


class ReportEventOut(BaseModel):
    """One event of a report's history, with its hash and its predecessor's."""

    seq: int
    at: datetime
    trigger: str
    from_state: str | None
    to_state: str
    reason: str | None
    actor: str | None
    hash: str
    prev_hash: str


class ReportDetailOut(ReportOut):
    """A report with the figures its submission froze (None while a draft) and its history."""

    figures: dict[str, Any] | None
    history: list[ReportEventOut]


class ReportListOut(BaseModel):
    """A commune's reports, or a province's communes' reports, newest period first."""

    unit_code: str
    unit_name: str
    unit_kind: str
    reports: list[ReportOut]
