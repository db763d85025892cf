"""Bring a database to the current schema and keep config-owned reference data in step."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, select

from config.policy import load_departments
from config.settings import Settings, get_settings
from services.crypto import Sealer, load_keys
from services.models import Department, MarketRow
from workflows.policy import Policy

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """Return the Alembic configuration of our migrations, with what they need from the settings."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["personal_id_lookup"] = _lookup_on_demand(get_settings())
    return config


def upgrade(engine: Engine, policy: Policy) -> None:
    """Run the migrations to head, then write the departments and markets from config/."""
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    with engine.begin() as conn:
        sync_config_data(conn, policy)


def _lookup_on_demand(settings: Settings) -> Callable[[str], str]:
    """Return the keyed hash of personal IDs, reading the keys only if a migration needs it (an empty database does not)."""
    sealers: list[Sealer] = []

    def lookup(personal_id: str) -> str:
        if not sealers:
            sealers.append(Sealer(load_keys(settings), ()))
        return sealers[0].lookup(personal_id)

    return lookup


def sync_config_data(conn: Connection, policy: Policy) -> None:
    """Insert or update the departments and markets that config/ defines."""
    departments = load_departments(get_settings().departments_file)
    known = set(conn.scalars(select(Department.code)))
    for dept in departments:
        dept_values: dict[str, object] = {"code": dept.code, "name_vi": dept.name_vi, "name_en": dept.name_en}
        _upsert(conn, Department, Department.code, dept.code in known, dept_values)
    known = set(conn.scalars(select(MarketRow.code)))
    for market in policy.markets.values():
        values: dict[str, object] = {
            "code": market.code,
            "country": market.country,
            "programme": market.programme,
            "deposit_cap_vnd": market.deposit_cap_vnd,
        }
        _upsert(conn, MarketRow, MarketRow.code, market.code in known, values)


def _upsert(conn: Connection, model: type, key: Any, exists: bool, values: Mapping[str, object]) -> None:
    table = model.__table__  # type: ignore[attr-defined]
    if exists:
        conn.execute(table.update().where(key == values["code"]).values(**values))
    else:
        conn.execute(table.insert().values(**values))
