"""The API's request and response shapes (records stay free-form JSON: the domain validates them, in two languages)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field
from pydantic_core import to_json


class ProblemOut(BaseModel):
    """One thing wrong with a request, in Vietnamese and English, tied to a field when it can be."""

    code: str
    field: str | None = None
    vi: str
    en: str


class ProblemsOut(BaseModel):
    """Why a request was refused; nothing was written."""

    problems: list[ProblemOut]


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class MeOut(BaseModel):
    username: str
    role: str
    department: str | None
    unit_id: int | None
    unread_notifications: int
    password_change_required: bool = False  # an admin chose the password: POST /api/me/password before anything else


class PasswordChangeIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=1, max_length=200)


class CaseRefOut(BaseModel):
    """Where a command left a case."""

    id: int
    version: int
    state: str


class Label(BaseModel):
    vi: str
    en: str


class PersonOut(BaseModel):
    """The worker's identity line; the personal ID is masked (`•••` and its last three digits) for a reader without need."""

    full_name: str
    personal_id: str
    date_of_birth: date
    sex: str


class FieldOut(BaseModel):
    name: str
    required: bool


class NextStepOut(BaseModel):
    """A step the case may take next: who fires it, the record it needs, and what blocks it now."""

    trigger: str
    label: Label
    to_state: str
    departments: list[str]
    record: str
    record_label: Label
    record_on_file: bool
    record_fields: list[FieldOut]
    problems: list[ProblemOut]


class CaseOut(BaseModel):
    """A case as its reader may see it: state, identity, the current records (free-form, masked by policy), next steps."""

    id: int
    state: str
    state_label: Label
    owner_department: str
    version: int
    application_no: int
    workflow_version: str
    source: str
    commune: str | None
    village: str | None
    person: PersonOut
    records: dict[str, dict[str, Any]]
    next_steps: list[NextStepOut]


class FireIn(BaseModel):
    """Fire a transition: the version you read, the step's record if not yet on file, a reason if any."""

    version: int = Field(ge=1)
    record: dict[str, Any] | None = None
    reason: str | None = Field(default=None, max_length=2000)


class RecordIn(BaseModel):
    """Add the next step's record, or correct one on file (a correction needs a reason)."""

    version: int = Field(ge=1)
    record: dict[str, Any]
    reason: str | None = Field(default=None, max_length=2000)


class ReasonIn(BaseModel):
    version: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=2000)


class CaseRow(BaseModel):
    id: int
    state: str
    version: int
    owner_department: str
    source: str
    full_name: str
    village: str


class CasePage(BaseModel):
    """A page of cases; pass `next_after` as `after` for the next page (null: this was the last)."""

    items: list[CaseRow]
    next_after: int | None


class EventOut(BaseModel):
    seq: int
    at: str
    actor: str
    department: str | None
    trigger: str
    from_state: str | None
    to_state: str
    application_no: int
    record_kind: str | None
    record_json: str | None
    reason: str | None
    hash: str


class FindingOut(BaseModel):
    seq: int | None
    code: str
    en: str
    vi: str


class VerifyOut(BaseModel):
    case_id: int
    ok: bool
    events: int
    anchors: int
    findings: list[FindingOut]


class RungOut(BaseModel):
    rung: int
    fires_at: datetime
    action: str
    to: str
    status: str


class DeadlineOut(BaseModel):
    id: int
    clock: str
    label_vi: str
    label_en: str
    department: str
    application_no: int
    counted_from: date
    due_at: datetime
    status: str
    closed_at: datetime | None
    met: bool | None
    rungs: list[RungOut]


class WorkItemOut(BaseModel):
    id: int
    case_id: int | None  # None for a periodic report's item: then report_id names it
    report_id: int | None = None
    kind: str
    state: str
    version: int | None
    priority: int
    due_at: datetime | None
    status: str
    assignee: str | None
    full_name: str | None  # None for a report's item
    village: str  # a report's item: its commune
    overdue: bool


def dump_json(content: Any) -> bytes:
    """Write rows a query already shaped as its response model (checked against it by the tests), without validating
    them again; moments as pydantic writes them (ISO 8601, UTC as Z), by pydantic's own serialiser (5× faster than json's)."""
    return to_json(content)


class ItemRefOut(BaseModel):
    id: int
    status: str
    assignee: str | None


class ReassignIn(BaseModel):
    to: str = Field(min_length=1, max_length=80)
    reason: str = Field(min_length=1, max_length=2000)


class BulkReassignIn(ReassignIn):
    items: list[int] = Field(min_length=1, max_length=500)


class ReassignOutcome(BaseModel):
    item_id: int
    http_status: int  # 200 when reassigned, else the refusal's status (404 outside your scope, 409 changed meanwhile, …)
    item: ItemRefOut | None
    problems: list[ProblemOut]


class CountsOut(BaseModel):
    open: int
    claimed: int
    overdue: int


class ReadOut(BaseModel):
    id: int
    case_id: int
    username: str
    at: datetime
    view: str
    unmasked: str


class ExtendIn(BaseModel):
    """Extend a deadline: the case version you read, a new due date or a number of calendar days, and the reason."""

    version: int = Field(ge=1)
    due_on: date | None = Field(default=None, description="The new due day (Vietnam); later than the current one.")
    days: int | None = Field(default=None, description="Or: calendar days added to the current due day.")
    reason: str = Field(default="", max_length=2000, description="Why; required (kept in the case's history).")


class ExtendedOut(BaseModel):
    """Where an extension left the case, and the clock with its re-planned rungs."""

    id: int
    version: int
    state: str
    deadline: DeadlineOut
