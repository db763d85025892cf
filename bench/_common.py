"""Shared pieces of the benchmarks: the repo on sys.path, a scratch PostgreSQL database, actors, figures.

Not a benchmark itself; `bench/transitions.py` and `bench/verify.py` import it.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tomllib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# `python bench/transitions.py` puts bench/ first on sys.path, where this script would shadow the `transitions`
# library that workflows.case imports; take bench/ off again (this module is already loaded) and put the repo
# root on instead, since `tests.factories` is not an installed package.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from config.settings import Settings  # noqa: E402
from services.crypto import new_key  # noqa: E402

# Benchmark data lives in scratch databases: fresh keys for its sealed personal data, unless given.
os.environ.setdefault("GUESTWORK_DATA_KEY", new_key())
os.environ.setdefault("GUESTWORK_LOOKUP_KEY", new_key())
from services import demo, migrate  # noqa: E402
from services.db import make_engine, normalise_url  # noqa: E402
from services.runtime import build_runtime  # noqa: E402
from services.users import Actor, load_actor  # noqa: E402

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
# 09:00 in Vietnam on Monday 1 June 2026, the moment the tests start from too.
START = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def add_database_option(parser: argparse.ArgumentParser) -> None:
    """Add --database-url: the admin connection used to create (and drop) the scratch database."""
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL") or DEFAULT_ADMIN_URL,
        help="admin PostgreSQL URL; a scratch database gw_bench_<random> is created beside it and dropped at the end "
        "(default: $TEST_DATABASE_URL, else %(default)s)",
    )


def libpq_url(url: str) -> str:
    """Return a URL psycopg.connect accepts (no SQLAlchemy driver suffix)."""
    return make_url(normalise_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def scratch_database(admin_url: str, prefix: str = "gw_bench") -> Iterator[str]:
    """Create an empty database on the admin URL's server, yield its URL, and drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(normalise_url(admin_url)).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        print(f"dropped scratch database {name}")


def prepared_engine(url: str) -> Engine:
    """Return the production-configured engine on a migrated database holding the demo reference data."""
    engine = make_engine(url)
    migrate.upgrade(engine, build_runtime(Settings(), engine=engine).policy)
    with engine.begin() as conn:
        demo.seed_reference(conn)
    return engine


def load_actors(engine: Engine) -> dict[str, Actor]:
    """Return the demo departments' officers as actors, by department."""
    with engine.connect() as conn:
        return {dept: load_actor(conn, dept) for dept, _ in demo.USERS}


def server_summary(engine: Engine) -> str:
    """Describe the server settings that decide commit speed."""
    with engine.connect() as conn:
        version = conn.scalar(text("SHOW server_version"))
        fsync = conn.scalar(text("SHOW fsync"))
        sync = conn.scalar(text("SHOW synchronous_commit"))
    return f"PostgreSQL {version}, fsync={fsync}, synchronous_commit={sync}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"


def median(values: list[float]) -> float:
    """Return the median of some figures."""
    return statistics.median(values)


def on_scratch_database(admin_url: str, run: Callable[[Engine, str], None]) -> None:
    """Run a benchmark on a migrated, seeded scratch database that is dropped afterwards."""
    with scratch_database(admin_url) as url:
        engine = prepared_engine(url)
        try:
            run(engine, url)
        finally:
            engine.dispose()


def on_kept_database(admin_url: str, name: str, count_sql: str, wanted: tuple[int, ...], run: Callable[[Engine, str, bool], None]) -> None:
    """Run a benchmark on the database `name` beside the admin URL, and keep it for the next run.

    An existing one is migrated to head and reused when `count_sql` (one row) reads `wanted` from it and the keys it
    was sealed with are still in var/bench/NAME.keys.toml (`run` is told it is loaded); otherwise it is made anew,
    migrated and seeded, for `run` to load, and this run's keys are written there. The name must start with
    gw_bench_, so that no database of another use is dropped.
    """
    if not re.fullmatch(r"gw_bench_\w+", name):  # it may be dropped and made anew: never a database of another use
        raise SystemExit(f"--keep {name}: the name of a kept bench database starts with gw_bench_")
    url = make_url(normalise_url(admin_url)).set(database=name).render_as_string(hide_password=False)
    keys = ROOT / "var" / "bench" / f"{name}.keys.toml"
    admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": name}) == 1
        held: tuple[int, ...] = ()
        if exists and keys.exists():
            sealed_with = tomllib.loads(keys.read_text(encoding="utf-8"))
            os.environ["GUESTWORK_DATA_KEY"], os.environ["GUESTWORK_LOOKUP_KEY"] = sealed_with["data_key"], sealed_with["lookup_key"]
            engine = make_engine(url)
            migrate.upgrade(engine, build_runtime(Settings(), engine=engine).policy)
            with engine.connect() as db:
                held = tuple(db.execute(text(count_sql)).one())
            engine.dispose()
        loaded = held == wanted
        if not loaded:
            if exists:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            keys.parent.mkdir(parents=True, exist_ok=True)
            keys.unlink(missing_ok=True)
            with os.fdopen(os.open(keys, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as written:
                written.write(f'data_key = "{os.environ["GUESTWORK_DATA_KEY"]}"\nlookup_key = "{os.environ["GUESTWORK_LOOKUP_KEY"]}"\n')
    admin.dispose()
    engine = make_engine(url) if loaded else prepared_engine(url)
    try:
        run(engine, url, loaded)
    finally:
        engine.dispose()
    print(f"kept database {name} (its keys: {keys.relative_to(ROOT)})")


TICKS = os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """Return a process's children, their children and so on (from /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found + [grandchild for child in found for grandchild in descendants(child)]


def cpu_seconds(pids: list[int]) -> float:
    """Return the CPU seconds (user + system) the processes have used so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / TICKS
