"""The admin API's request and response shapes: users, units, the clock policy, the admin log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field


class NewUserIn(BaseModel):
    """A user to create; the fields are checked by the service, each wrong one named in both languages."""

    username: str = Field(max_length=80)
    full_name: str = Field(max_length=200)
    role: str = Field(max_length=20, description="officer, supervisor, auditor or admin.")
    unit_code: str = Field(max_length=40, description="A commune (officers), or a commune or province (the others).")
    password: str = Field(max_length=200, description="The first password, at least 10 characters; never logged.")
    department: str | None = Field(default=None, max_length=40, description="Officers only: their department.")
    email: str | None = Field(default=None, max_length=200)


class PasswordIn(BaseModel):
    password: str = Field(max_length=200)


class UserOut(BaseModel):
    id: int
    username: str
    full_name: str
    role: str
    department: str | None
    email: str | None
    active: bool
    unit_code: str
    unit_name: str


class CreatedOut(BaseModel):
    """The id of what was created."""

    id: int


class VillageIn(BaseModel):
    code: str = Field(max_length=40, description="Unique code, e.g. TH-CAMTAN-05.")
    name: str = Field(max_length=200)


class RenameIn(BaseModel):
    name: str = Field(max_length=200)


class UnitOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    parent_id: int | None
    valid_from: date | None
    valid_until: date | None
    children: list[UnitOut]


class RungRuleOut(BaseModel):
    rung: int
    at: str
    action: str
    to: str


class ExampleOut(BaseModel):
    """The days the clock would give if it started on `from`."""

    from_: date = Field(alias="from")
    due_on: date
    rungs_on: list[datetime]


class ClockOut(BaseModel):
    name: str
    label_vi: str
    label_en: str
    starts_on: list[str]
    counts_from: str
    length: str
    resolved_length: str
    department: str
    while_in: list[str]
    until_done: bool
    ladder: list[RungRuleOut]
    example: ExampleOut


class ActionOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target_kind: str
    target_id: int
    details: dict[str, Any]
