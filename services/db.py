"""Engines and the unit of work: one transaction per command, on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


# A statement run with this execution option is planned for its parameters and the tables' current size each time,
# never prepared on the server: a generic plan cached while a table was empty (and analysed) is a sequential scan,
# and a connection keeps it as the table grows — on a server without autovacuum, for ever (bench/reminders.py
# measured it on the deliveries). For statements on tables that grow from empty; the others keep their plans.
PLAN_EACH_TIME = {"plan_each_time": True}


def serialization_failure(error: DBAPIError) -> bool:
    """Tell whether PostgreSQL refused a REPEATABLE READ transaction for a row another one changed since its snapshot."""
    return getattr(error.orig, "sqlstate", None) == "40001"


def make_engine(url: str, **options: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and write-locking transactions, PostgreSQL UTC."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **options)
        _configure_sqlite(engine)
        return engine
    # No pre-ping: it costs a round trip per command; a connection broken by a server restart is
    # dropped by the pool on its first error, and the command (or the task's retry) runs again.
    engine = create_engine(url, connect_args={"options": "-c timezone=UTC"}, **options)
    event.listen(engine, "do_execute", _execute)
    return engine


def _execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    """Run a PLAN_EACH_TIME statement unprepared (psycopg's unnamed statement: planned anew); leave the others be."""
    if not context.execution_options.get("plan_each_time"):
        return False
    cursor.execute(statement, parameters, prepare=False)
    return True


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" below decide when a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A writer takes the lock at the start (IMMEDIATE), so two writers queue instead of deadlocking;
        # readers begin deferred and never block a writer (WAL).
        connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get("writes", True) else "BEGIN")


# The outbox messages (queue, message id) a transaction wrote, kept on its connection until it ends.
WRITTEN = "outbox_written"


class UnitOfWork:
    """One transaction: everything written inside commits together, or nothing does.

    After a commit, `after_commit` (if given) receives the outbox messages the transaction wrote.
    """

    def __init__(self, engine: Engine, *, writes: bool = True, after_commit: Callable[[list[tuple[str, str]]], None] | None = None) -> None:
        self.engine, self.writes, self.after_commit = engine, writes, after_commit

    def __enter__(self) -> Connection:
        self.connection = self.engine.connect().execution_options(writes=self.writes)
        self.transaction = self.connection.begin()
        return self.connection

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        written: list[tuple[str, str]] = self.connection.info.pop(WRITTEN, [])
        try:
            if kind is None:
                self.transaction.commit()
            else:
                self.transaction.rollback()
        finally:
            self.connection.close()
        if kind is None and written and self.after_commit is not None:
            self.after_commit(written)
