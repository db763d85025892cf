"""Logins (session and API tokens, attempts), the log of personal-data reads, referrals, accent-free name search.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Moment = sa.DateTime(timezone=True)


def _fold(name: str) -> str:
    # The same folding as workflows.identity.fold_name at the time of this migration (migrations import nothing of ours).
    decomposed = unicodedata.normalize("NFD", name.replace("Đ", "D").replace("đ", "d"))
    return " ".join("".join(c for c in decomposed if unicodedata.category(c) != "Mn").lower().split())


def upgrade() -> None:
    with op.batch_alter_table("persons") as batch_op:
        batch_op.add_column(sa.Column("search_name", sa.String(length=120), nullable=False, server_default=""))
        batch_op.create_index("ix_persons_search_name", ["search_name"])
    conn = op.get_bind()
    for person_id, full_name in conn.execute(sa.text("SELECT id, full_name FROM persons")).all():
        conn.execute(sa.text("UPDATE persons SET search_name = :name WHERE id = :id"), {"name": _fold(full_name), "id": person_id})

    op.create_table(
        "auth_tokens",
        sa.Column("id", Id, primary_key=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", Id, sa.ForeignKey("users.id", name="fk_auth_tokens_user_id_users"), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("expires_at", Moment, nullable=False),
        sa.Column("revoked_at", Moment, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_auth_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_auth_tokens_token_hash"),
    )
    op.create_index("ix_auth_tokens_user_id", "auth_tokens", ["user_id"])
    op.create_table(
        "login_attempts",
        sa.Column("id", Id, nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("remote", sa.String(length=64), nullable=False),
        sa.Column("at", Moment, nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_attempts"),
    )
    op.create_index("ix_login_attempts_username_at", "login_attempts", ["username", "at"])
    op.create_index("ix_login_attempts_remote_at", "login_attempts", ["remote", "at"])
    op.create_table(
        "personal_data_reads",
        sa.Column("id", Id, nullable=False),
        sa.Column("case_id", Id, sa.ForeignKey("cases.id", name="fk_personal_data_reads_case_id_cases"), nullable=False),
        sa.Column("user_id", Id, sa.ForeignKey("users.id", name="fk_personal_data_reads_user_id_users"), nullable=True),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("at", Moment, nullable=False),
        sa.Column("view", sa.String(length=20), nullable=False),
        sa.Column("unmasked", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_personal_data_reads"),
    )
    op.create_index("ix_personal_data_reads_case", "personal_data_reads", ["case_id", "at"])
    op.create_table(
        "referrals",
        sa.Column("id", Id, nullable=False),
        sa.Column("commune_id", Id, sa.ForeignKey("admin_units.id", name="fk_referrals_commune_id_admin_units"), nullable=False),
        sa.Column("village_id", Id, sa.ForeignKey("admin_units.id", name="fk_referrals_village_id_admin_units"), nullable=False),
        sa.Column("department", sa.String(length=40), sa.ForeignKey("departments.code", name="fk_referrals_department_departments"), nullable=False),
        sa.Column("referred_by", Id, sa.ForeignKey("users.id", name="fk_referrals_referred_by_users"), nullable=False),
        sa.Column("full_name", sa.String(length=120), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("service_ended_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("case_id", Id, sa.ForeignKey("cases.id", name="fk_referrals_case_id_cases"), nullable=True),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("closed_at", Moment, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_referrals"),
    )
    open_only = {"postgresql_where": sa.text("status = 'open'"), "sqlite_where": sa.text("status = 'open'")}
    op.create_index("ix_referrals_open", "referrals", ["commune_id"], **open_only)


def downgrade() -> None:
    op.drop_table("referrals")
    op.drop_table("personal_data_reads")
    op.drop_table("login_attempts")
    op.drop_table("auth_tokens")
    with op.batch_alter_table("persons") as batch_op:
        batch_op.drop_index("ix_persons_search_name")
        batch_op.drop_column("search_name")
