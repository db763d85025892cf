"""Referrals: who closed a referral and, when declined, why.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("referrals") as batch_op:
        batch_op.add_column(sa.Column("closed_by", Id, nullable=True))
        batch_op.add_column(sa.Column("decline_reason", sa.Text(), nullable=True))
        batch_op.create_foreign_key("fk_referrals_closed_by_users", "users", ["closed_by"], ["id"])
        batch_op.create_index("ix_referrals_commune_id", ["commune_id", "id"])


def downgrade() -> None:
    with op.batch_alter_table("referrals") as batch_op:
        batch_op.drop_index("ix_referrals_commune_id")
        batch_op.drop_constraint("fk_referrals_closed_by_users", type_="foreignkey")
        batch_op.drop_column("decline_reason")
        batch_op.drop_column("closed_by")
