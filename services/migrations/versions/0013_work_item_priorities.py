"""A work item's priority is one the inbox reads (1 = a priority group, 2 = others): any other would never be shown.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("work_items") as batch_op:
        batch_op.create_check_constraint("ck_work_items_priority", "priority IN (1, 2)")


def downgrade() -> None:
    with op.batch_alter_table("work_items") as batch_op:
        batch_op.drop_constraint("ck_work_items_priority", type_="check")
