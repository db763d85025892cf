"""A user whose password an admin set (a new user, a reset) must choose their own before they work.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


# Both in place (SQLite adds a column with a constant default, and drops one since 3.35): a batch operation would
# rebuild the users table, which SQLite cannot drop while tokens, events and work items point at its rows.


def upgrade() -> None:
    op.add_column("users", sa.Column("password_change_required", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("users", "password_change_required")
