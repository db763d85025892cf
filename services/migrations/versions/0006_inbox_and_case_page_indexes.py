"""The inbox index in the inbox's order (department, priority, due time, id), and the deadlines of a case by case.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OPEN_WORK = sa.text("status IN ('open', 'claimed')")


def upgrade() -> None:
    # The inbox reads each of its three ranges (overdue, due later, undated) in this order and stops at its limit;
    # the old index on (department, due_at) made it sort every open item of the department.
    op.drop_index("ix_work_items_inbox", table_name="work_items", postgresql_where=OPEN_WORK, sqlite_where=OPEN_WORK)
    op.create_index(
        "ix_work_items_inbox",
        "work_items",
        ["department", "priority", "due_at", "id"],
        postgresql_where=OPEN_WORK,
        sqlite_where=OPEN_WORK,
    )
    # The case page lists all of a case's clocks, closed ones too, which the partial unique index does not hold.
    op.create_index("ix_deadlines_case_id", "deadlines", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_deadlines_case_id", table_name="deadlines")
    op.drop_index("ix_work_items_inbox", table_name="work_items", postgresql_where=OPEN_WORK, sqlite_where=OPEN_WORK)
    op.create_index("ix_work_items_inbox", "work_items", ["department", "due_at"], postgresql_where=OPEN_WORK, sqlite_where=OPEN_WORK)
