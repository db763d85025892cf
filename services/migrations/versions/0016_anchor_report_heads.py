"""Anchors seal the reports' chain heads too, beside the cases' (a sibling of anchor_heads, append-only like it).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLE = "anchor_report_heads"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("anchor_id", Id, sa.ForeignKey("anchors.id", name="fk_anchor_report_heads_anchor_id_anchors"), nullable=False),
        sa.Column("report_id", Id, sa.ForeignKey("reports.id", name="fk_anchor_report_heads_report_id_reports"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("anchor_id", "report_id", name="pk_anchor_report_heads"),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":  # the refusing function comes from revision 0002
        op.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} FOR EACH ROW EXECUTE FUNCTION guestwork_refuse_event_change()"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} FOR EACH STATEMENT EXECUTE FUNCTION guestwork_refuse_event_change()"
        )
    elif dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {TABLE}_no_{verb.lower()} BEFORE {verb} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, '{TABLE} are append-only: {verb} refused on {TABLE}'); END"
            )


def downgrade() -> None:
    # Dropping sealed report heads would leave every anchor that sealed one with a hash no one can recompute,
    # so verify would report the whole anchor chain as changed: refuse, and change nothing.
    if op.get_bind().execute(sa.text(f"SELECT 1 FROM {TABLE} LIMIT 1")).first() is not None:
        raise RuntimeError(
            "Không thể hạ cấp: các mốc neo đã niêm phong đầu chuỗi báo cáo; bỏ chúng thì không còn chứng minh được lịch sử. / "
            "Cannot downgrade: anchors have sealed report chain heads; dropping them would leave the history unprovable."
        )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}")
    elif dialect == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_delete")
    op.drop_table(TABLE)
