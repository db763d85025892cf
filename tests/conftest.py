"""Fixtures: a migrated database per test on SQLite and (when a server is given) PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from sqlalchemy import Engine, create_engine, text

from config.settings import Settings
from services import auth, demo, migrate
from services.clock import FixedClock
from services.crypto import new_key
from services.db import make_engine, normalise_url
from services.runtime import Runtime, build_runtime
from services.users import Actor, load_actor
from tests.smtp import Mailbox, smtp_server

# 09:00 in Vietnam on Monday 1 June 2026.
START = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
# Fresh keys for this run's sealed personal data (the worker processes the tests start inherit them).
os.environ.setdefault("GUESTWORK_DATA_KEY", new_key())
os.environ.setdefault("GUESTWORK_LOOKUP_KEY", new_key())
# The tests' passwords are hashed with argon2's cheapest parameters (a hash carries its own, so checking one is as
# cheap): at the real ones each login takes ~0.12 s of CPU, and the suite logs in some thousand times.
auth._hasher = PasswordHasher.from_parameters(CHEAPEST)


def service_url(variable: str, what: str, example: str) -> str:
    """Return a test server's URL from the environment, or skip (fail under REQUIRE_SERVICES=1) when it is not set."""
    url = os.environ.get(variable)
    if not url:
        message = f"{variable} is not set: {what} skipped (set it, e.g. {example})"
        if REQUIRE_SERVICES:
            pytest.fail(message + " — REQUIRE_SERVICES=1 forbids skipping")
        pytest.skip(message)
    return url


def postgres_admin_url() -> str:
    """Return TEST_DATABASE_URL, or skip (fail under REQUIRE_SERVICES=1) when it is not set."""
    return normalise_url(service_url("TEST_DATABASE_URL", "PostgreSQL tests", "postgresql://postgres@127.0.0.1:5432/test"))


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def _admin_engine(url: str) -> Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT")


def _prepare(engine: Engine) -> None:
    policy = build_runtime(Settings(), engine=engine).policy
    migrate.upgrade(engine, policy)
    with engine.begin() as conn:
        demo.seed_reference(conn)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    _prepare(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    admin_url = postgres_admin_url()
    name = f"gw_template_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine(admin_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(_with_database(admin_url, name))
    _prepare(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_engine(sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    path = tmp_path / "guestwork.db"
    with sqlite3.connect(sqlite_template) as source, sqlite3.connect(path) as target:
        source.backup(target)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine(postgres_template: str) -> Iterator[Engine]:
    admin_url = postgres_admin_url()
    name = f"gw_test_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine(admin_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    engine = make_engine(_with_database(admin_url, name), pool_size=25, max_overflow=5)
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    """A migrated database with the demo commune's reference data, on each backend."""
    return request.getfixturevalue(f"{request.param}_engine")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def rt(engine: Engine, clock: FixedClock) -> Runtime:
    """The runtime over the test database with a clock the test can move."""
    return build_runtime(Settings(), engine=engine, clock=clock)


@pytest.fixture
def actors(rt: Runtime) -> dict[str, Actor]:
    """One actor per demo user: the departments' officers, supervisor, auditor, admin."""
    with rt.unit_of_work() as conn:
        names = [dept for dept, _ in demo.USERS] + ["supervisor", "province_supervisor", "auditor", "admin"]
        return {name: load_actor(conn, name) for name in names}


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as served:
        yield served
