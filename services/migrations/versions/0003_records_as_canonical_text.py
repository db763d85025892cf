"""Current records hold their canonical JSON text, the same bytes as their event's record_json.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE case_records ALTER COLUMN data TYPE text USING data::text")
    else:
        with op.batch_alter_table("case_records") as batch:
            batch.alter_column("data", type_=sa.Text(), existing_nullable=False)
    _rewrite(bind, lambda data: json.dumps(json.loads(data), sort_keys=True, ensure_ascii=False, separators=(",", ":")))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE case_records ALTER COLUMN data TYPE jsonb USING data::jsonb")
    else:
        with op.batch_alter_table("case_records") as batch:
            batch.alter_column("data", type_=sa.JSON(), existing_nullable=False)


def _rewrite(bind: sa.Connection, canonical: object) -> None:
    rows = bind.execute(sa.text("SELECT case_id, application_no, kind, data FROM case_records")).all()
    for case_id, application_no, kind, data in rows:
        bind.execute(
            sa.text("UPDATE case_records SET data = :data WHERE case_id = :c AND application_no = :a AND kind = :k"),
            {"data": canonical(data), "c": case_id, "a": application_no, "k": kind},  # type: ignore[operator]
        )
