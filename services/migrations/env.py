"""Alembic environment: migrate the database named by the caller or by the settings."""

from __future__ import annotations

from alembic import context

from config.settings import get_settings
from services.db import make_engine
from services.models import Base

config = context.config


def run_migrations() -> None:
    """Run the migrations online against one connection."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
