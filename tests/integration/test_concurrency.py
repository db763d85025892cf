"""Twenty officers press the button at once: one wins, the others are told, nothing is lost (PostgreSQL)."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from config.settings import Settings
from services import audit, auth, cases, demo, queries
from services.clock import FixedClock
from services.models import Case, CaseRecord, Event, OutboxMessage, Person
from services.runtime import Runtime, build_runtime
from services.users import Actor, load_actor
from tests import factories as f
from tests.conftest import START
from workflows.errors import Conflict, DomainError, TransitionNotAllowed

pytestmark = pytest.mark.postgres
THREADS = 20


@pytest.fixture
def pg(postgres_engine) -> Runtime:
    return build_runtime(Settings(), engine=postgres_engine, clock=FixedClock(START))


@pytest.fixture
def people(pg) -> dict[str, Actor]:
    with pg.unit_of_work() as conn:
        return {dept: load_actor(conn, dept) for dept, _ in demo.USERS}


def race(commands: list[Callable[[], Any]]) -> list[Any]:
    """Run the commands in threads released together; return each one's result or exception."""
    barrier = threading.Barrier(len(commands))
    results: list[Any] = [None] * len(commands)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = commands[index]()
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,), name=f"racer-{i}") for i in range(len(commands))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a command hung (deadlock?)"
    return results


READS_CASE = re.compile(r"^\s*SELECT\b.*\bFROM\s+cases\b", re.IGNORECASE | re.DOTALL)
WRITES_CASE = re.compile(r"^\s*(INSERT\s+INTO\s+events|UPDATE\s+cases)\b", re.IGNORECASE)


@contextmanager
def all_read_before_the_first_write(engine: Engine) -> Iterator[None]:
    """Hold the first racer that writes the case until every racer has read it, so all of them truly overlap.

    Without this a loaded machine may run the threads one after another, and a racer that reads the new version
    is refused by the ordinary version check: the race is then never exercised. The hold watches the SQL, not
    the code, so it survives a refactoring of the commands.
    """
    changed, first = threading.Condition(), threading.Lock()
    entered: set[int] = set()
    done: set[int] = set()

    def racing() -> bool:
        return threading.current_thread().name.startswith("racer")

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if racing() and READS_CASE.match(statement):
            with changed:
                entered.add(threading.get_ident())
                changed.notify_all()

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not racing():
            return
        if READS_CASE.match(statement):
            with changed:
                done.add(threading.get_ident())
                changed.notify_all()
        elif WRITES_CASE.match(statement) and first.acquire(blocking=False):
            with changed:
                changed.wait_for(lambda: len(entered) >= THREADS, timeout=10)
                # A command that locks the row when reading keeps the others waiting in their read: go on after a moment.
                changed.wait_for(lambda: len(done) >= THREADS, timeout=0.5)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def split(results: list[Any]) -> tuple[list[cases.CaseRef], list[BaseException]]:
    return [r for r in results if isinstance(r, cases.CaseRef)], [r for r in results if isinstance(r, BaseException)]


MIX = [("counsel", "enterprise", "counselled"), ("withdraw", "social_policy", "withdrawn"), ("declare_ineligible", "office", "ineligible")]


def conflicting(pg: Runtime, people: dict[str, Actor], case_id: int, version: int | None, mode: str) -> list[Callable[[], Any]]:
    """Build twenty commands at one case: a mix of steps, the same step, or the same record added."""
    commands: list[Callable[[], Any]] = []
    for i in range(THREADS):
        if mode == "mix":
            trigger, dept, _ = MIX[i % len(MIX)]
            record = f.RECORDS[trigger](pg.today())
            commands.append(lambda t=trigger, d=dept, r=record: cases.fire(pg, people[d], case_id, t, r, expected_version=version))
        elif mode == "counsel":
            record = f.counselling(pg.today(), job=f"Nghề {i}")
            commands.append(lambda r=record: cases.fire(pg, people["enterprise"], case_id, "counsel", r, expected_version=version))
        else:
            record = f.counselling(pg.today(), job=f"Nghề {i}")
            commands.append(
                lambda r=record: cases.put_record(
                    pg, people["enterprise"], case_id, "counselling", r, expected_version=version, reason="Sửa"
                )
            )
    return commands


SCENARIOS = {
    "fire-mix-same-version": ("mix", 1),
    "fire-counsel-no-version": ("counsel", None),
    "put-record-same-version": ("put", 1),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_racing_commands_write_exactly_one_event_and_lose_no_update(pg, people, scenario):
    mode, version = SCENARIOS[scenario]
    case_id = cases.register(pg, people["social_policy"], f.registration(pg.today())).id
    with pg.unit_of_work() as conn:
        outbox_before = conn.scalar(select(func.count()).select_from(OutboxMessage))

    with all_read_before_the_first_write(pg.engine):
        winners, losers = split(race(conflicting(pg, people, case_id, version, mode)))

    assert len(winners) == 1 and len(losers) == THREADS - 1
    winner = winners[0]
    history = queries.case_history(pg, case_id)
    assert len(history) == 2
    detail = queries.case_detail(pg, case_id)
    assert (detail["state"], detail["version"]) == (winner.state, winner.version) == (history[1]["to_state"], 2)
    # The record on file is the winner's, the one the history shows: no loser overwrote it.
    kind = history[1]["record_kind"]
    assert json.loads(history[1]["record_json"]) == detail["records"][kind]
    with pg.unit_of_work() as conn:
        assert audit.verify(conn).ok
        written = conn.scalar(select(func.count()).select_from(OutboxMessage)) - outbox_before
        assert written == conn.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.event_id == _event_id(conn, case_id, 2))
        )
        assert conn.scalar(select(func.count()).select_from(CaseRecord).where(CaseRecord.case_id == case_id)) == 2


def _event_id(conn, case_id: int, seq: int) -> int:
    return conn.scalar(select(Event.id).where(Event.case_id == case_id, Event.seq == seq))


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_racing_losers_are_told_precisely(pg, people, scenario):
    mode, version = SCENARIOS[scenario]
    case_id = cases.register(pg, people["social_policy"], f.registration(pg.today())).id

    with all_read_before_the_first_write(pg.engine):
        winners, losers = split(race(conflicting(pg, people, case_id, version, mode)))

    assert len(winners) == 1
    kinds = Counter(type(error).__name__ for error in losers)
    if version is not None:
        # Everyone read version 1: each loser gets the 409 that says to reload.
        assert kinds == {"Conflict": THREADS - 1}, kinds
        assert all(e.problems[0].code == "case.stale" and "reload" in str(e) for e in losers)
    else:
        # Without a version a loser either lost the race (conflict) or saw the case already counselled.
        assert all(isinstance(e, Conflict | TransitionNotAllowed) for e in losers), kinds
        assert all(isinstance(e, DomainError) and "person" not in str(e) for e in losers)


def test_racing_registrations_of_one_person_open_one_case(pg, people):
    data = f.registration(pg.today(), serial=42)

    winners, losers = split(race([lambda: cases.register(pg, people["social_policy"], data) for _ in range(THREADS)]))

    assert len(winners) == 1
    assert len(losers) == THREADS - 1 and all(isinstance(e, Conflict) for e in losers), Counter(type(e).__name__ for e in losers)
    named = f"case {winners[0].id}"  # the case is named, the ID is not repeated
    assert all(e.problems[0].code == "person.has_case" and named in str(e) and data["personal_id"] not in str(e) for e in losers)
    with pg.unit_of_work() as conn:
        assert conn.scalar(select(func.count()).select_from(Person)) == 1
        assert conn.scalar(select(func.count()).select_from(Case)) == 1
        assert conn.scalar(select(func.count()).select_from(Event)) == 1
        assert audit.verify(conn).ok
    assert queries.case_detail(pg, winners[0].id)["person"]["personal_id"] == data["personal_id"]


def test_racing_commands_on_different_cases_all_succeed(pg, people):
    ids = [cases.register(pg, people["social_policy"], f.registration(pg.today(), serial=i)).id for i in range(THREADS)]

    results = race(
        [lambda c=c: cases.fire(pg, people["enterprise"], c, "counsel", f.counselling(pg.today()), expected_version=1) for c in ids]
    )

    assert [(r.state, r.version) for r in results] == [("counselled", 2)] * THREADS
    with pg.unit_of_work() as conn:
        assert conn.scalar(select(func.count()).select_from(Event)) == 2 * THREADS
        assert audit.verify(conn).ok


def test_twenty_parallel_wrong_passwords_get_five_tries_not_twenty(pg):
    results = race([lambda: auth.login(pg, "bank", "wrong", "10.0.0.7") for _ in range(THREADS)])
    kinds = Counter(type(result).__name__ for result in results)
    assert kinds == {"LoginFailed": auth.MAX_FAILURES_PER_USER, "TooManyAttempts": THREADS - auth.MAX_FAILURES_PER_USER}
