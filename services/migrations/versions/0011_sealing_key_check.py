"""Which keys sealed this database: a check value of the lookup key and the id of the first data key.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sealing_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lookup_check", sa.String(length=64), nullable=False),
        sa.Column("data_key_id", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sealing_keys"),
    )


def downgrade() -> None:
    op.drop_table("sealing_keys")
