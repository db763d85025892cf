"""The shapes of the plans, support-payment and indicator routes."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class TargetsIn(BaseModel):
    """A unit's targets for a year as an admin sets them."""

    model_config = ConfigDict(extra="forbid")
    departures_more_than: int = Field(ge=0, le=1_000_000, description="Departures the year must exceed.")
    language_orientation_percent: int = Field(ge=0, le=100)
    vocational_percent: int = Field(ge=0, le=100)
    in_depth_percent: int = Field(ge=0, le=100)


class PlanOut(TargetsIn):
    """A unit's plan for a year: its own (source "unit", who set it when) or the defaults for its kind (source "default")."""

    model_config = ConfigDict(extra="ignore")
    unit_code: str
    unit_name: str
    unit_kind: str
    year: int
    source: str
    updated_at: datetime | None = None
    updated_by: str | None = None


class SupportPaymentIn(BaseModel):
    """One support payment as finance records it, against an invoice."""

    model_config = ConfigDict(extra="forbid")
    item: str = Field(max_length=30, description="orientation, language, vocational, health_check, passport, visa, criminal_record, travel")
    amount_vnd: int = Field(ge=1, le=10**12)
    paid_on: date
    invoice_number: str = Field(min_length=1, max_length=60)
    food_days: int = Field(default=0, ge=0, le=366, description="Orientation only: days of food paid.")
    lodging_months: int = Field(default=0, ge=0, le=24, description="Orientation only: months of lodging paid.")


class SupportPaidOut(BaseModel):
    """A recorded payment and the cap it was checked against."""

    id: int
    case_id: int
    version: int
    item: str
    amount_vnd: int
    paid_on: date
    cap_vnd: int


class TrainingShareOut(BaseModel):
    training: str  # language_orientation, vocational, in_depth
    departures: int
    trained: int
    percent: float | None
    target_percent: int
    met: bool | None


class StageOut(BaseModel):
    from_state: str
    to_state: str
    cases: int
    median_days: float | None


class DepartmentOut(BaseModel):
    department: str
    deadlines_due: int
    deadlines_met: int
    met_percent: float | None
    stages: list[StageOut]


class PlanFiguresOut(BaseModel):
    departures_more_than: int
    language_orientation_percent: int
    vocational_percent: int
    in_depth_percent: int
    departures_target_met: bool | None = Field(description="Departures > target; only for a period of one whole calendar year.")


class DeparturesOut(BaseModel):
    total: int
    by_market: dict[str, int]
    by_programme: dict[str, int]
    by_sex: dict[str, int]
    by_ethnicity: dict[str, int]
    by_poverty: dict[str, int]
    by_priority_group: dict[str, int]
    by_month: dict[str, int] = Field(description="Departures by month of the departure day (YYYY-MM); months without any are left out.")


class LoansOut(BaseModel):
    bank_loans: int
    amount_vnd: int
    self_financed: int


class SupportItemOut(BaseModel):
    payments: int
    amount_vnd: int


class SupportOut(BaseModel):
    items: dict[str, SupportItemOut]
    payments: int
    amount_vnd: int


class OutcomesOut(BaseModel):
    returns: int
    completed: int
    early_returns: int
    deported: int
    absconded: int
    overstayed: int
    deceased: int
    missing: int


class FiguresOut(BaseModel):
    """The indicators of one commune, or of the whole unit."""

    unit_code: str
    plan: PlanFiguresOut
    departures: DeparturesOut
    training: list[TrainingShareOut]
    loans: LoansOut
    support: SupportOut
    outcomes: OutcomesOut
    backlog: dict[str, int]
    departments: list[DepartmentOut]


class IndicatorsOut(BaseModel):
    """A unit's indicators over a period: in total (medians and shares over the unit itself) and per commune."""

    unit_code: str
    unit_name: str
    unit_kind: str
    start: date
    end: date
    total: FiguresOut
    communes: list[FiguresOut]
