"""The migrations: they build the schema the models describe, and every one of them downgrades, on both databases."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from services import migrate
from services.models import Base


def _described_by_the_models(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
    """Leave out what the indicators read of the records: migration 0015's columns derived from the record text (and their
    indexes) and 0012's expression indexes: the migrations write them per dialect, no model can."""
    name = name or ""
    if kind == "column" and getattr(obj, "table", None) is not None and obj.table.name == "case_records":
        return not name.startswith("report_")
    return not (kind == "index" and name.startswith("ix_case_records_") and (name.endswith("_day") or name.endswith("_figures")))


def _differences(engine: Engine) -> list[Any]:
    """Return what autogenerate would change to bring the database to the models (nothing, if they agree)."""
    options = {"compare_type": True, "include_object": _described_by_the_models}
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn, opts=options), Base.metadata))


def _migrate(engine: Engine, step: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        getattr(command, step)(config, revision)


def test_the_migrations_build_the_tables_and_indexes_the_models_describe(engine):
    assert _differences(engine) == []


def test_every_migration_downgrades_and_the_upgrade_then_builds_the_same_schema(engine):
    _migrate(engine, "downgrade", "base")
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() is None
        assert set(engine.dialect.get_table_names(conn)) <= {"alembic_version"}

    _migrate(engine, "upgrade", "head")

    assert _differences(engine) == []
