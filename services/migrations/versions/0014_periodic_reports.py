"""The commune's periodic reports and their chained history; a work item or a clock is about a case or a report.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Moment = sa.DateTime(timezone=True)
ONE_SUBJECT = "(case_id IS NULL) <> (report_id IS NULL)"
EVENTS = "report_events"


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", Id, nullable=False),
        sa.Column("unit_id", Id, sa.ForeignKey("admin_units.id", name="fk_reports_unit_id_admin_units"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("drafted_at", Moment, nullable=False),
        sa.Column("submitted_at", Moment, nullable=True),
        sa.Column("submitted_by", Id, sa.ForeignKey("users.id", name="fk_reports_submitted_by_users"), nullable=True),
        sa.Column("figures", sa.Text(), nullable=True),
        sa.Column("figures_hash", sa.String(64), nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reports"),
        sa.UniqueConstraint("unit_id", "kind", "year", name="uq_reports_unit_kind_year"),
    )
    op.create_table(
        EVENTS,
        sa.Column("id", Id, nullable=False),
        sa.Column("report_id", Id, sa.ForeignKey("reports.id", name="fk_report_events_report_id_reports"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", Moment, nullable=False),
        sa.Column("actor_id", Id, sa.ForeignKey("users.id", name="fk_report_events_actor_id_users"), nullable=True),
        sa.Column("department", sa.String(40), nullable=True),
        sa.Column("trigger", sa.String(40), nullable=False),
        sa.Column("from_state", sa.String(12), nullable=True),
        sa.Column("to_state", sa.String(12), nullable=False),
        sa.Column("record_kind", sa.String(30), nullable=True),
        sa.Column("record_json", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_report_events"),
        sa.UniqueConstraint("report_id", "seq", name="uq_report_events_report_seq"),
    )
    _protect_events()
    with op.batch_alter_table("work_items") as batch_op:
        batch_op.add_column(sa.Column("report_id", Id, nullable=True))
        batch_op.create_foreign_key("fk_work_items_report_id_reports", "reports", ["report_id"], ["id"])
        batch_op.alter_column("case_id", existing_type=Id, nullable=True)
        batch_op.create_check_constraint("ck_work_items_one_subject", ONE_SUBJECT)
        batch_op.create_index(
            "ix_work_items_open_report", ["report_id"], **_where("status IN ('open', 'claimed') AND report_id IS NOT NULL")
        )
    with op.batch_alter_table("deadlines") as batch_op:
        batch_op.add_column(sa.Column("report_id", Id, nullable=True))
        batch_op.create_foreign_key("fk_deadlines_report_id_reports", "reports", ["report_id"], ["id"])
        batch_op.alter_column("case_id", existing_type=Id, nullable=True)
        batch_op.create_check_constraint("ck_deadlines_one_subject", ONE_SUBJECT)
        batch_op.create_index("uq_deadlines_open_report", ["report_id"], unique=True, **_where("status = 'open' AND report_id IS NOT NULL"))


def _where(condition: str) -> dict[str, sa.TextClause]:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def _protect_events() -> None:
    """Make the report history append-only like the case history (the refusing function comes from revision 0001)."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            f"CREATE TRIGGER {EVENTS}_append_only BEFORE UPDATE OR DELETE ON {EVENTS} FOR EACH ROW EXECUTE FUNCTION guestwork_refuse_event_change()"
        )
        op.execute(
            f"CREATE TRIGGER {EVENTS}_no_truncate BEFORE TRUNCATE ON {EVENTS} FOR EACH STATEMENT EXECUTE FUNCTION guestwork_refuse_event_change()"
        )
    elif dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {EVENTS}_no_{verb.lower()} BEFORE {verb} ON {EVENTS} "
                f"BEGIN SELECT RAISE(ABORT, '{EVENTS} are append-only: {verb} refused on {EVENTS}'); END"
            )


def downgrade() -> None:
    # The reports' rungs, clocks and items go with the reports: the older schema has no place for them.
    op.execute("DELETE FROM deadline_rungs WHERE deadline_id IN (SELECT id FROM deadlines WHERE report_id IS NOT NULL)")
    op.execute("DELETE FROM deadlines WHERE report_id IS NOT NULL")
    op.execute("DELETE FROM work_items WHERE report_id IS NOT NULL")
    with op.batch_alter_table("deadlines") as batch_op:
        batch_op.drop_index("uq_deadlines_open_report")
        batch_op.drop_constraint("ck_deadlines_one_subject", type_="check")
        batch_op.drop_constraint("fk_deadlines_report_id_reports", type_="foreignkey")
        batch_op.drop_column("report_id")
        batch_op.alter_column("case_id", existing_type=Id, nullable=False)
    with op.batch_alter_table("work_items") as batch_op:
        batch_op.drop_index("ix_work_items_open_report")
        batch_op.drop_constraint("ck_work_items_one_subject", type_="check")
        batch_op.drop_constraint("fk_work_items_report_id_reports", type_="foreignkey")
        batch_op.drop_column("report_id")
        batch_op.alter_column("case_id", existing_type=Id, nullable=False)
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {EVENTS}_append_only ON {EVENTS}")
        op.execute(f"DROP TRIGGER IF EXISTS {EVENTS}_no_truncate ON {EVENTS}")
    elif dialect == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {EVENTS}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {EVENTS}_no_delete")
    op.drop_table(EVENTS)
    op.drop_table("reports")
