"""The API's shapes for the registration import and for referrals (the referral and registration bodies stay free-form JSON)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from services.api.schemas import CaseRefOut


class RowProblemOut(BaseModel):
    """One thing wrong with a row: the record field, the file's column, the message in both languages."""

    code: str
    field: str | None
    column: str | None
    vi: str
    en: str


class RowReportOut(BaseModel):
    """One row of the file by its number in the sheet: registered, valid (a dry run) or refused, with its case or problems."""

    row: int
    status: str
    full_name: str | None
    case_id: int | None
    problems: list[RowProblemOut]


class ImportCountsOut(BaseModel):
    rows: int
    registered: int
    valid: int
    refused: int


class ImportReportOut(BaseModel):
    """What became of every row of a file; with dry_run nothing was written."""

    file_name: str
    file_kind: str
    dry_run: bool
    counts: ImportCountsOut
    rows: list[RowReportOut]


class ReferralOut(BaseModel):
    id: int
    status: str
    department: str
    commune_code: str
    commune: str
    village_code: str
    village: str
    full_name: str
    date_of_birth: str
    phone: str
    service_ended_on: str
    note: str | None
    referred_by: str
    created_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    case_id: int | None
    decline_reason: str | None


class ConvertedOut(BaseModel):
    """The referral, now closed with its case, and the case registered from it."""

    referral: ReferralOut
    case: CaseRefOut


class DeclineIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
