"""Who sees which personal data, and separation of duties: the access policy as data, and masking."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from workflows.record_forms import record_fields
from workflows.records import RECORD_TYPES

MASK = "•••"

# The record fields the database derives the report figures from (generated columns of case_records, migration
# 0015): sealed, they would be ciphertext to it, failing each write on PostgreSQL and counting 0 on SQLite.
REPORTED_FIELDS: tuple[tuple[str, str], ...] = (
    ("registration", "priority"), ("counselling", "market_code"), ("training", "vocational"),
    ("departure", "departed_on"), ("loan", "decided_on"), ("loan", "declared_on"), ("loan", "financing"),
    ("loan", "amount_vnd"), ("return", "returned_on"), ("return", "reason"), ("overstay", "reported_on"),
    ("overstay", "kind"), ("death", "reported_on"), ("death", "kind"),
)  # fmt: skip


@dataclass(frozen=True)
class Sensitive:
    """A category of personal data: the record fields it covers and who sees them unmasked."""

    name: str
    fields: tuple[tuple[str, str], ...]  # (record kind, field)
    roles: frozenset[str]
    departments: frozenset[str]
    encrypted: bool = False  # sealed at rest, not only masked on screen

    def visible_to(self, role: str, department: str | None) -> bool:
        """Tell whether a user of this role and department sees the category unmasked."""
        return role in self.roles or (role == "officer" and department in self.departments)


@dataclass(frozen=True)
class Separation:
    """Separation of duties: who recorded `first` on an application may not record `then` on it."""

    code: str
    first: str
    then: str
    vi: str
    en: str


@dataclass(frozen=True)
class AccessPolicy:
    """The sensitive categories and the separation-of-duties rules."""

    sensitive: tuple[Sensitive, ...] = ()
    separations: tuple[Separation, ...] = field(default_factory=tuple)

    def hidden(self, role: str, department: str | None) -> dict[str, set[str]]:
        """Return, per record kind, the fields this user must see masked."""
        hidden: dict[str, set[str]] = {}
        for category in self.sensitive:
            if not category.visible_to(role, department):
                for kind, name in category.fields:
                    hidden.setdefault(kind, set()).add(name)
        return hidden

    def encrypted_fields(self) -> tuple[tuple[str, str], ...]:
        """Return the (record kind, field) pairs sealed at rest."""
        return tuple(pair for category in self.sensitive if category.encrypted for pair in category.fields)

    def separations_for(self, record_kind: str) -> tuple[Separation, ...]:
        """Return the rules that forbid recording this kind after another."""
        return tuple(rule for rule in self.separations if rule.then == record_kind)


def _check_fields(name: str, spec: dict[str, Any]) -> None:
    """Refuse a field no record has (a typo would leak it) and a sealed field the reports count from."""
    for path in spec["fields"]:
        kind, _, field_name = path.partition(".")
        if kind not in RECORD_TYPES or field_name not in {known for known, _ in record_fields(kind)}:
            raise ValueError(f"access policy: sensitive.{name} names {path!r}, which is no field of any record")
        if spec.get("encrypt", False) and (kind, field_name) in REPORTED_FIELDS:
            raise ValueError(
                f"access policy: sensitive.{name} encrypts {path!r}, which the reports count from; mask it instead"
                f" (leave out encrypt = true) / chính sách truy cập: sensitive.{name} mã hóa {path!r}, trường mà"
                " báo cáo dùng để thống kê; chỉ che trường này (bỏ encrypt = true)"
            )


def build_access_policy(data: dict[str, Any]) -> AccessPolicy:
    """Build the policy from parsed TOML data (config/access.toml), refusing a field it may not name or seal."""
    for name, spec in data.get("sensitive", {}).items():
        _check_fields(name, spec)
    sensitive = tuple(
        Sensitive(
            name=name,
            fields=tuple(tuple(path.split(".", 1)) for path in spec["fields"]),
            roles=frozenset(spec.get("roles", ())),
            departments=frozenset(spec.get("departments", ())),
            encrypted=bool(spec.get("encrypt", False)),
        )
        for name, spec in data.get("sensitive", {}).items()
    )
    separations = tuple(Separation(**rule) for rule in data.get("separation_of_duties", ()))
    return AccessPolicy(sensitive=sensitive, separations=separations)


def mask_value(value: Any) -> Any:
    """Mask one value: an ID keeps its last three characters, anything else is hidden whole."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) > 6 and value.isdigit():
        return MASK + value[-3:]
    return MASK


def mask_record(kind: str, data: dict[str, Any], hidden: dict[str, set[str]]) -> dict[str, Any]:
    """Return a record's data with the fields hidden from this user masked."""
    names = hidden.get(kind)
    if not names:
        return data
    return {key: mask_value(value) if key in names else value for key, value in data.items()}


def mask_record_json(kind: str | None, record_json: str | None, hidden: dict[str, set[str]]) -> str | None:
    """Return an event's record text with the hidden fields masked (the stored text stays as it is)."""
    if kind is None or record_json is None or kind not in hidden:
        return record_json
    return json.dumps(mask_record(kind, json.loads(record_json), hidden), ensure_ascii=False, sort_keys=True)
