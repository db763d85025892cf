"""The personal ID at rest: sealed in the person row, found by a keyed hash (services/crypto.py).

Rows written before this revision keep their ID as it was (their registration events are immutable and
hold it in clear, and verify compares the person row with them); they get their lookup hash here. From
now on a registration or its correction stores only the sealed token.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("persons") as batch_op:
        batch_op.add_column(sa.Column("personal_id_lookup", sa.String(length=64), nullable=True))
        batch_op.alter_column("personal_id", new_column_name="personal_id_sealed", type_=sa.Text(), existing_nullable=False)
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, personal_id_sealed FROM persons")).all()
    if rows:
        # The keyed hash needs the lookup key, which migrations do not read themselves: `guestwork db upgrade`
        # (services/migrate.py) hands over the function.
        lookup = op.get_context().config.attributes.get("personal_id_lookup")
        if lookup is None:
            raise RuntimeError("persons exist: run this migration through `guestwork db upgrade`, which knows the lookup key")
        for person_id, personal_id in rows:
            conn.execute(sa.text("UPDATE persons SET personal_id_lookup = :lookup WHERE id = :id"), {"lookup": lookup(personal_id), "id": person_id})
    with op.batch_alter_table("persons") as batch_op:
        batch_op.alter_column("personal_id_lookup", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_constraint("uq_persons_personal_id", type_="unique")
        batch_op.create_unique_constraint("uq_persons_personal_id_lookup", ["personal_id_lookup"])


def downgrade() -> None:
    # Going back needs the IDs in clear: only possible while no person row holds a sealed token.
    conn = op.get_bind()
    if conn.execute(sa.text("SELECT count(*) FROM persons WHERE personal_id_sealed LIKE 'enc1.%'")).scalar():
        raise RuntimeError("persons hold sealed IDs: the schema before 0007 cannot hold them")
    with op.batch_alter_table("persons") as batch_op:
        batch_op.drop_constraint("uq_persons_personal_id_lookup", type_="unique")
        batch_op.drop_column("personal_id_lookup")
        batch_op.alter_column("personal_id_sealed", new_column_name="personal_id", type_=sa.String(length=12), existing_nullable=False)
        batch_op.create_unique_constraint("uq_persons_personal_id", ["personal_id"])
