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


def test_0014_down_drops_the_reports_with_their_items_and_clocks_and_up_brings_the_tables_back(engine):
    from datetime import UTC, datetime

    from sqlalchemy import inspect, text

    from config.settings import Settings
    from services import reports
    from services.clock import FixedClock
    from services.runtime import build_runtime

    rt = build_runtime(Settings(), engine=engine, clock=FixedClock(datetime(2026, 6, 16, 2, tzinfo=UTC)))
    assert reports.draft_due(rt)
    _migrate(engine, "downgrade", "0013")
    with engine.connect() as conn:
        assert not {"reports", "report_events"} & set(inspect(conn).get_table_names())
        assert conn.scalar(text("SELECT count(*) FROM deadlines")) == conn.scalar(text("SELECT count(*) FROM work_items")) == 0
        for table in ("work_items", "deadlines"):  # a case is required again, and there is no report column
            columns = {column["name"]: column for column in inspect(conn).get_columns(table)}
            assert not columns["case_id"]["nullable"] and "report_id" not in columns
    _migrate(engine, "upgrade", "head")
    assert _differences(engine) == []


def test_0016_down_drops_unused_report_seals_and_refuses_once_an_anchor_sealed_a_report(engine):
    from datetime import UTC, datetime

    import pytest
    from sqlalchemy import inspect, text

    from config.settings import Settings
    from services import audit, reports
    from services.clock import FixedClock
    from services.runtime import build_runtime

    rt = build_runtime(Settings(), engine=engine, clock=FixedClock(datetime(2026, 6, 16, 2, tzinfo=UTC)))
    assert reports.draft_due(rt)
    _migrate(engine, "downgrade", "0016-1")  # relative: still one step after the lead re-chains 0016
    with engine.connect() as conn:
        assert "anchor_report_heads" not in inspect(conn).get_table_names() and "reports" in inspect(conn).get_table_names()
    _migrate(engine, "upgrade", "head")
    assert _differences(engine) == []

    with rt.unit_of_work() as conn:
        assert audit.seal(conn, rt.clock.now()) is not None
    # Dropping the sealed report heads would leave the anchor's hash unrecomputable: refused, nothing changed.
    with engine.connect() as conn:
        head = MigrationContext.configure(conn).get_current_revision()
    with pytest.raises(RuntimeError, match="Cannot downgrade: anchors have sealed report chain heads"):
        _migrate(engine, "downgrade", "0016-1")
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head  # the whole downgrade rolled back
        assert conn.scalar(text("SELECT count(*) FROM anchor_report_heads")) == 1
        assert audit.verify(conn).ok


def test_0018_down_keeps_the_users_their_tokens_point_at(engine, actors):
    from sqlalchemy import inspect, text

    from config.settings import Settings
    from services import auth, demo
    from services.runtime import build_runtime

    with engine.connect() as conn:
        users = conn.scalar(text("SELECT count(*) FROM users"))
    auth.login(build_runtime(Settings(), engine=engine), "social_policy", demo.DEMO_PASSWORD, "127.0.0.1", kind="api")
    _migrate(engine, "downgrade", "0017")
    with engine.connect() as conn:
        assert "password_change_required" not in {column["name"] for column in inspect(conn).get_columns("users")}
        assert conn.scalar(text("SELECT count(*) FROM users")) == users and conn.scalar(text("SELECT count(*) FROM auth_tokens")) == 1
    _migrate(engine, "upgrade", "head")
    assert _differences(engine) == []
