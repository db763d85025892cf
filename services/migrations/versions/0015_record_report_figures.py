"""The figures the reports count, kept beside each current record by the database (generated columns), and covering indexes.

A province's roll-up read each record's 600-byte text to find five fields in it: 80,000 departures, their three
records each, 85,000 loans. The database now derives those fields from `data` whenever a record is written (in the
same statement, so they cannot disagree with it) and two indexes hold them with the keys the reports look up by, so
the reports read index entries only (bench/reports.py):
- report_day: the day a dated record counts by (as migration 0012's indexes had it);
- report_code: a counselling's market, a return's reason, an overstay's or a death's kind;
- report_flags: a registration's priority groups (bit i for PRIORITY_BITS[i]); a training's 1 (language and
  orientation), 2 (vocational), 4 (in depth); a loan's 1 when it is a bank loan;
- report_amount: a bank loan's amount.
They replace migration 0012's five expression indexes. PostgreSQL stores the columns; SQLite computes them (VIRTUAL,
the only kind it can add) and stores them in the indexes.
The fields these columns read are named in workflows.access.REPORTED_FIELDS: config/access.toml may mask them but not
seal them (`encrypt = true`), since the database cannot read ciphertext (tests/unit/test_crypto.py checks the list).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Bit i of a registration's report_flags; services/indicator_queries.py reads them in this order.
PRIORITY_BITS = ("poor_household", "near_poor_household", "ethnic_minority", "land_revoked", "military_service_done",
                 "police_service_done", "family_of_merit", "youth_volunteer")  # fmt: skip
DATED_RECORDS = {"departure": ("departed_on",), "loan": ("decided_on", "declared_on"), "return": ("returned_on",),
                 "overstay": ("reported_on",), "death": ("reported_on",)}  # fmt: skip
FIGURE_KINDS = ("registration", "counselling", "training")  # the records a departure's figures come from
COLUMNS = ("report_day", "report_code", "report_flags", "report_amount")


def _field(dialect: str, *path: str) -> str:
    if dialect == "postgresql":
        return "(CAST(data AS jsonb) #>> '{" + ",".join(path) + "}')"
    return f"json_extract(data, '$.{'.'.join(path)}')"


def _true(dialect: str, *path: str) -> str:
    true = "'true'" if dialect == "postgresql" else "1"  # SQLite's json_extract reads true as 1
    return f"({_field(dialect, *path)} = {true})"


def _object(dialect: str, *path: str) -> str:
    if dialect == "postgresql":
        return f"(jsonb_typeof(CAST(data AS jsonb) #> '{{{','.join(path)}}}') = 'object')"
    return f"(json_type(data, '$.{'.'.join(path)}') = 'object')"


def _bits(parts: list[tuple[str, int]]) -> str:
    return " + ".join(f"(CASE WHEN {condition} THEN {bit} ELSE 0 END)" for condition, bit in parts)


def expressions(dialect: str) -> dict[str, tuple[str, str]]:
    """Return each column's type and the SQL that derives it from the record's kind and text."""
    days = " ".join(
        f"WHEN '{kind}' THEN " + (_field(dialect, fields[0]) if len(fields) == 1 else f"COALESCE({', '.join(_field(dialect, f) for f in fields)})")
        for kind, fields in DATED_RECORDS.items()
    )
    bank = f"({_field(dialect, 'financing')} = 'bank_loan')"
    priority = _bits([(_true(dialect, "priority", name), 1 << i) for i, name in enumerate(PRIORITY_BITS)])
    training = "1 + " + _bits([(_object(dialect, "vocational"), 2), (_true(dialect, "vocational", "in_depth"), 4)])
    return {
        "report_day": ("TEXT", f"CASE kind {days} END"),
        "report_code": ("TEXT", f"CASE kind WHEN 'counselling' THEN {_field(dialect, 'market_code')} WHEN 'return' THEN"
                                f" {_field(dialect, 'reason')} WHEN 'overstay' THEN {_field(dialect, 'kind')} WHEN 'death' THEN"
                                f" {_field(dialect, 'kind')} END"),
        "report_flags": ("INTEGER", f"CASE kind WHEN 'registration' THEN {priority} WHEN 'training' THEN {training}"
                                    f" WHEN 'loan' THEN (CASE WHEN {bank} THEN 1 ELSE 0 END) END"),
        "report_amount": ("BIGINT", f"CASE WHEN kind = 'loan' AND {bank} THEN CAST({_field(dialect, 'amount_vnd')} AS BIGINT) END"),
    }  # fmt: skip


def _index(name: str, keys: list[str], covered: list[str], where: str) -> None:
    """Create an index that covers some columns: INCLUDE on PostgreSQL, trailing keys on SQLite (which has no INCLUDE)."""
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_index(name, "case_records", keys if postgres else keys + covered, postgresql_include=covered,
                    postgresql_where=sa.text(where), sqlite_where=sa.text(where))  # fmt: skip


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    stored = "STORED" if dialect == "postgresql" else "VIRTUAL"
    added = [f"ADD COLUMN {name} {kind} GENERATED ALWAYS AS ({sql}) {stored}" for name, (kind, sql) in expressions(dialect).items()]
    if dialect == "postgresql":
        op.execute(f"ALTER TABLE case_records {', '.join(added)}")  # one rewrite of the table, not four
    else:
        for clause in added:
            op.execute(f"ALTER TABLE case_records {clause}")
    for kind in DATED_RECORDS:
        op.drop_index(f"ix_case_records_{kind}_day", "case_records")
    # The dated records of a kind in a period, with their figures; the figure records of an application.
    _index("ix_case_records_report_day", ["kind", "report_day"], ["case_id", "application_no", "report_code", "report_flags",
           "report_amount"], "report_day IS NOT NULL")  # fmt: skip
    kinds = ", ".join(f"'{kind}'" for kind in FIGURE_KINDS)
    _index("ix_case_records_report_figures", ["case_id", "application_no", "kind"], ["report_code", "report_flags"], f"kind IN ({kinds})")


def _record_day(dialect: str, fields: tuple[str, ...]) -> str:
    """Return migration 0012's expression of a record's day."""
    if dialect == "postgresql":
        parts = [f"(CAST(data AS jsonb) ->> '{name}')" for name in fields]
    else:
        parts = [f"json_extract(data, '$.{name}')" for name in fields]
    return parts[0] if len(parts) == 1 else f"COALESCE({', '.join(parts)})"


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.drop_index("ix_case_records_report_figures", "case_records")
    op.drop_index("ix_case_records_report_day", "case_records")
    for name in COLUMNS:
        op.execute(f"ALTER TABLE case_records DROP COLUMN {name}")
    for kind, fields in DATED_RECORDS.items():
        op.create_index(f"ix_case_records_{kind}_day", "case_records", [sa.text(_record_day(dialect, fields))],
                        postgresql_where=sa.text(f"kind = '{kind}'"), sqlite_where=sa.text(f"kind = '{kind}'"))  # fmt: skip
