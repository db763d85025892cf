"""Plans (targets per unit and year), support payments to priority groups, and the indexes the indicators read.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Moment = sa.DateTime(timezone=True)

# The day each report counts a record by (services/indicators.py), one partial index per record kind. The
# expressions must be written exactly as services/report_sql.py writes them, or the planner will not use them.
DATED_RECORDS = {
    "departure": ("departed_on",),
    "loan": ("decided_on", "declared_on"),
    "return": ("returned_on",),
    "overstay": ("reported_on",),
    "death": ("reported_on",),
}


def record_day(dialect: str, fields: tuple[str, ...]) -> str:
    """Return the SQL of a record's day (the first of its date fields that is present)."""
    if dialect == "postgresql":
        parts = [f"(CAST(data AS jsonb) ->> '{name}')" for name in fields]
    else:
        parts = [f"json_extract(data, '$.{name}')" for name in fields]
    return parts[0] if len(parts) == 1 else f"COALESCE({', '.join(parts)})"


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", Id, nullable=False),
        sa.Column("unit_id", Id, sa.ForeignKey("admin_units.id", name="fk_plans_unit_id_admin_units"), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("departures_more_than", sa.Integer(), nullable=False),
        sa.Column("language_orientation_percent", sa.Integer(), nullable=False),
        sa.Column("vocational_percent", sa.Integer(), nullable=False),
        sa.Column("in_depth_percent", sa.Integer(), nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
        sa.Column("updated_by", Id, sa.ForeignKey("users.id", name="fk_plans_updated_by_users"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plans"),
        sa.UniqueConstraint("unit_id", "year", name="uq_plans_unit_year"),
    )
    op.create_table(
        "support_payments",
        sa.Column("id", Id, nullable=False),
        sa.Column("case_id", Id, sa.ForeignKey("cases.id", name="fk_support_payments_case_id_cases"), nullable=False),
        sa.Column("person_id", Id, sa.ForeignKey("persons.id", name="fk_support_payments_person_id_persons"), nullable=False),
        sa.Column("commune_id", Id, sa.ForeignKey("admin_units.id", name="fk_support_payments_commune_id_admin_units"), nullable=False),
        sa.Column("item", sa.String(length=30), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("invoice_number", sa.String(length=60), nullable=False),
        sa.Column("food_days", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lodging_months", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("event_id", Id, sa.ForeignKey("events.id", name="fk_support_payments_event_id_events"), nullable=False),
        sa.Column("recorded_by", Id, sa.ForeignKey("users.id", name="fk_support_payments_recorded_by_users"), nullable=False),
        sa.Column("recorded_at", Moment, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_support_payments"),
        sa.UniqueConstraint("person_id", "item", name="uq_support_payments_person_item"),  # each item once per person, ever
    )
    op.create_index("ix_support_payments_commune_paid_on", "support_payments", ["commune_id", "paid_on"])
    # Deadlines of a unit's cases that fell due in a period; median stage times read the cases' state timestamps.
    dialect = op.get_bind().dialect.name
    for kind, fields in DATED_RECORDS.items():
        op.create_index(
            f"ix_case_records_{kind}_day",
            "case_records",
            [sa.text(record_day(dialect, fields))],
            postgresql_where=sa.text(f"kind = '{kind}'"),
            sqlite_where=sa.text(f"kind = '{kind}'"),
        )
    # The registration, counselling and training records of the departures are looked up by (case, application, kind):
    # the primary key serves them.


def downgrade() -> None:
    for kind in DATED_RECORDS:
        op.drop_index(f"ix_case_records_{kind}_day", "case_records")
    op.drop_index("ix_support_payments_commune_paid_on", "support_payments")
    op.drop_table("support_payments")
    op.drop_table("plans")
