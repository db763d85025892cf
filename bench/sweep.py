"""How long one deadline-sweep tick takes over 1,000,000 open cases of which 1 % have a rung due, and what it reads.

The script makes two scratch databases and fills each by COPY (not through the commands, so that it is quick):
persons, cases, and for every case one open legal clock (`deadlines`) with the four rungs of the standard ladder of
config/clocks.toml (-3wd and 0d remind the owner, +1wd and +7wd escalate), their moments computed by
`workflows.clocks` at 08:00 in Vietnam. Four in ten cases are `registered` with their `counselling` clock open (due
within the next 30 days, or overdue by up to 20); six in ten are `counselled`, with the `departure` clock open (due
over the coming six months, or overdue) and the counselling clock closed: the rungs of that closed clock that had
passed when it closed are `fired`, the others `cancelled`. Every rung of an open clock whose moment has passed is
`fired` too, so most rows of `deadline_rungs` are not pending and stay out of the partial index
`ix_deadline_rungs_due` (fires_at WHERE status = 'pending'). A sample of the cases (1 %: 10,000) have their clock due
today: rung 1 fired three working days ago, rung 2 fell due at 08:00 this morning and is the one rung due at the
sweep's moment (08:01); nothing else is due.

The large database holds --cases cases (default 1,000,000), the small one ten times fewer (100,000) with the same
number of due rungs (10,000). For each it prints `EXPLAIN (ANALYZE, BUFFERS)` of the sweep's batch statement (the SQL
text of `services.deadlines`, run in a transaction that is rolled back), then times whole ticks of
`services.deadlines.sweep(rt, now)`: every due rung fired and given its outbox message, in batches of 500 rows, one
transaction each. Each tick must fire exactly the due rungs, and a second sweep at the same moment must find
nothing. The rows a tick examines are read from the server's statistics (index entries read through the partial
index, deadlines fetched by index, sequential scans of the two tables), and its time is split into the batch
statements (one per batch on PostgreSQL) and the rest (Python, BEGIN/COMMIT). The runtime has no `publish`, as
`build_runtime` gives it: the messages stay pending for the relay (a worker's runtime would also publish each batch
after its commit, which is not measured here). Between rounds the fired rungs are made pending again, the outbox
rows deleted, the tables vacuumed and analysed and a CHECKPOINT taken, so that every tick starts alike (and pays the
full-page writes of the first change to each page after a checkpoint, as the 08:00 tick does). Rounds alternate
which database goes first; the figures are each round's seconds and the medians, and the ratio large / small (1
would mean the cost follows the due rows only; 10 that it follows all cases). Goal: a tick over 1,000,000 cases in
under 2 s.

Run from the repository root (PostgreSQL from --database-url or $TEST_DATABASE_URL; both scratch databases are
dropped at the end, also on failure or Ctrl-C):

    .venv/bin/python bench/sweep.py                        # 1,000,000 and 100,000 cases, 10,000 due rungs
    .venv/bin/python bench/sweep.py --cases 200000 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from functools import cache
from typing import Any

import psycopg
from _common import add_database_option, libpq_url, median, on_scratch_database, server_summary
from sqlalchemy import Engine, event, text

from config.policy import load_clocks, load_policy
from config.settings import Settings
from services import deadlines
from services.clock import FixedClock
from services.runtime import Runtime, build_runtime
from tests import factories as f
from workflows import case as workflow
from workflows.clocks import DUE_TIME, REMINDER_TIME, ClockRule, moment

GOAL_SECONDS = 2.0
SMALLER = 10  # the small database has this many times fewer cases, and the same due rungs
TODAY = date(2026, 6, 1)  # a Monday
NOW = moment(TODAY, REMINDER_TIME) + timedelta(minutes=1)  # the tick just after this morning's rungs fell due
OFFICE_TIME = clock_time(3, 0, tzinfo=UTC)  # 10:00 in Vietnam: when the steps were recorded
COUNSELLED_SHARE = 0.6
OVERDUE_DAYS = 20  # open clocks fell due up to this many days ago (their passed rungs have fired)
INDEX = "ix_deadline_rungs_due"
CASE_COLUMNS = (
    "id, person_id, commune_id, village_id, workflow_version, state, version, owner_department, application_no, source,"
    " market_code, opened_at, state_entered_at, registered_at, counselled_at, last_seq, head_hash, anchored_seq"
)
DEADLINE_COLUMNS = "id, case_id, application_no, clock, department, counted_from, due_at, status, opened_at, closed_at"
RUNG_COLUMNS = "deadline_id, rung, fires_at, action, recipient, status, fired_at"
MARKETS = ("JP-TTS", "JP-SSW", "TW-LD", "KR-EPS")


@dataclass
class Scratch:
    """One loaded database: its engine, the runtime the sweep runs on, and its figures."""

    label: str
    engine: Engine
    url: str
    cases: int
    due: int
    rt: Runtime
    seconds: list[float]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_option(parser)
    parser.add_argument("--cases", type=int, default=1_000_000, help="open cases in the large database (default %(default)s)")
    parser.add_argument(
        "--due-share", type=float, default=0.01, help="share of the large database's cases with a rung due (default %(default)s)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed ticks per database (default %(default)s)")
    args = parser.parse_args()
    # `kill` should drop the scratch databases too: turn SIGTERM into an exception that runs the cleanup.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    on_scratch_database(
        args.database_url,
        lambda large, large_url: on_scratch_database(
            args.database_url, lambda small, small_url: run(args, large, large_url, small, small_url)
        ),
    )


def run(args: argparse.Namespace, large: Engine, large_url: str, small: Engine, small_url: str) -> None:
    due = max(1, round(args.cases * args.due_share))
    small_cases = max(due, args.cases // SMALLER)
    print(server_summary(large))
    print(f"sweep at {NOW:%Y-%m-%d %H:%M} UTC (08:01 in Vietnam), batch of 500 rungs per transaction\n")
    sets = [
        load(Scratch("large", large, large_url, args.cases, due, tick_runtime(large), [])),
        load(Scratch("small", small, small_url, small_cases, due, tick_runtime(small), [])),
    ]
    examined: dict[str, dict[str, int]] = {}
    for scratch in sets:
        explain(scratch)
    for number in range(1, args.repeat + 1):
        for scratch in sets if number % 2 else reversed(sets):
            examined[scratch.label] = tick(scratch, number)
            rearm(scratch)
    print()
    for scratch in sets:
        rows = examined[scratch.label]
        print(
            f"{scratch.label}: {scratch.cases:>9,} cases, {scratch.due:,} due rungs: tick median {median(scratch.seconds):6.3f} s"
            f" ({', '.join(f'{s:.3f}' for s in scratch.seconds)} s);"
            f" {scratch.due / median(scratch.seconds):,.0f} rungs/s; {rows['index_entries']:,} index entries and"
            f" {rows['deadline_index_rows']:,} deadlines read per tick"
            f" ({rows['index_entries'] / scratch.due:.1f} and {rows['deadline_index_rows'] / scratch.due:.1f} per due rung)"
        )
    large_s, small_s = (median(s.seconds) for s in sets)
    print(
        f"ratio large / small: {large_s / small_s:.2f} for {sets[0].cases / sets[1].cases:.0f}× the cases and the same due rungs"
        " (1 = cost follows the due rungs; 10 = it follows all cases)"
    )
    print(
        f"goal: tick over {sets[0].cases:,} cases < {GOAL_SECONDS:.0f} s: {'met' if large_s < GOAL_SECONDS else 'MISSED'} ({large_s:.3f} s)"
    )


def tick_runtime(engine: Engine) -> Runtime:
    """Return the runtime the sweep runs on, its clock stopped at the tick's moment."""
    return build_runtime(Settings(), engine=engine, clock=FixedClock(NOW))


# --- loading ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What one case looks like: counselled or not, its open clock's due day (days from today), whether a rung is due."""

    counselled: bool
    offset: int
    registered_before: int  # days between registration and counselling (counselled cases)
    due: bool


def plans(cases: int, due: int) -> list[Plan]:
    """Return each case's plan: `due` cases (a random sample) have their clock due today, the rest never today."""
    rng = random.Random(f"sweep-{cases}-{due}")
    chosen = set(rng.sample(range(cases), due))
    counselling_days = [k for k in range(-OVERDUE_DAYS, 31) if not touches_today("counselling", k)]
    departure_days = [k for k in range(-OVERDUE_DAYS, 181) if not touches_today("departure", k)]
    found = []
    for index in range(cases):
        counselled = rng.random() < COUNSELLED_SHARE
        is_due = index in chosen
        offset = 0 if is_due else rng.choice(departure_days if counselled else counselling_days)
        found.append(Plan(counselled, offset, rng.randint(1, 29), is_due))
    return found


def touches_today(clock: str, offset: int) -> bool:
    """Say whether a clock due `offset` days from today has a rung firing today (those days are left out)."""
    return any(fires_at.date() == NOW.date() for fires_at, *_ in rung_moments(clock, offset))


@cache
def rule(clock: str) -> ClockRule:
    """Return a clock rule of config/clocks.toml."""
    settings = Settings()
    return load_clocks(settings.clocks_file, settings.departments_file).rules[clock]


@cache
def clock_days(clock: str) -> int:
    """Return a clock's length in calendar days (both clocks used here are counted in days)."""
    settings = Settings()
    length = rule(clock).length_for(load_policy(settings.policy_file, workflow.WORKFLOW_VERSION), None)
    assert length.unit == "d", length
    return length.amount


@cache
def rung_moments(clock: str, offset: int) -> tuple[tuple[datetime, int, str, str], ...]:
    """Return the rungs (moment, number, action, recipient) of a clock due `offset` days from today."""
    due_day = TODAY + timedelta(days=offset)
    return tuple((moment(r.at.after(due_day), REMINDER_TIME), r.number, r.action, r.to) for r in rule(clock).ladder)


def load(scratch: Scratch) -> Scratch:
    """COPY the persons, cases, clocks and rungs of a scratch database, then vacuum and analyse it."""
    started = time.perf_counter()
    case_plans = plans(scratch.cases, scratch.due)
    with psycopg.connect(libpq_url(scratch.url), options="-c timezone=UTC") as pg:
        commune_id, village_id = pg.execute(
            "SELECT (SELECT id FROM admin_units WHERE code = %s), (SELECT id FROM admin_units WHERE code = %s)", (f.COMMUNE, f.VILLAGE)
        ).fetchone()
        counts = {}
        with pg.cursor() as cur:
            for table, columns, rows in (
                (
                    "persons",
                    "id, personal_id_sealed, personal_id_lookup, full_name, date_of_birth, sex, ethnicity, phone",
                    person_rows(scratch.cases),
                ),
                ("cases", CASE_COLUMNS, case_rows(case_plans, commune_id, village_id)),
                ("deadlines", DEADLINE_COLUMNS, deadline_rows(case_plans)),
                ("deadline_rungs", RUNG_COLUMNS, rung_rows(case_plans)),
            ):
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    count = 0
                    for row in rows:
                        copy.write_row(row)
                        count += 1
                counts[table] = count
            for table in ("persons", "cases", "deadlines"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        pg.commit()
        pg.autocommit = True
        pg.execute("VACUUM ANALYZE persons, cases, deadlines, deadline_rungs, outbox")
        pg.execute("CHECKPOINT")  # the load's WAL is not flushed out during the first tick
        by_status = dict(pg.execute("SELECT status, count(*) FROM deadline_rungs GROUP BY status").fetchall())
        due_now = pg.execute("SELECT count(*) FROM deadline_rungs WHERE status = 'pending' AND fires_at <= %s", (NOW,)).fetchone()[0]
        index_mb = pg.execute("SELECT pg_relation_size(%s) / 1048576.0", (INDEX,)).fetchone()[0]
        table_mb = pg.execute("SELECT pg_total_relation_size('deadline_rungs') / 1048576.0").fetchone()[0]
    assert due_now == scratch.due, (due_now, scratch.due)
    print(
        f"[{scratch.label}] loaded {scratch.cases:,} cases, {counts['deadlines']:,} clocks, {counts['deadline_rungs']:,} rungs"
        f" ({', '.join(f'{n:,} {s}' for s, n in sorted(by_status.items()))}; {due_now:,} due) by COPY"
        f" in {time.perf_counter() - started:.1f} s; deadline_rungs {table_mb:,.0f} MB, {INDEX} {index_mb:,.1f} MB"
    )
    return scratch


def person_rows(cases: int) -> Iterator[tuple[Any, ...]]:
    """Yield one person per case."""
    born = date(1998, 3, 14)
    for case_id in range(1, cases + 1):
        yield (case_id, f"{case_id:012d}", f"{case_id:064d}", "Nguyễn Văn An", born, "male", "Kinh", "0912345678")


def registered_on(plan: Plan) -> date:
    """Return the day the case registered (its counselling clock counts from it)."""
    if plan.counselled:
        return counselled_on(plan) - timedelta(days=plan.registered_before)
    return TODAY + timedelta(days=plan.offset - clock_days("counselling"))


def counselled_on(plan: Plan) -> date:
    """Return the day a counselled case was counselled (its departure clock counts from it)."""
    return TODAY + timedelta(days=plan.offset - clock_days("departure"))


def at_office(day: date, case_id: int) -> datetime:
    """Return a moment in the office hours of a day, different for each case."""
    return datetime.combine(day, OFFICE_TIME) + timedelta(seconds=case_id % 21_600)


def case_rows(case_plans: list[Plan], commune_id: int, village_id: int) -> Iterator[tuple[Any, ...]]:
    """Yield the cases rows: registered, or counselled for a market (the events are not needed by the sweep)."""
    for case_id, plan in enumerate(case_plans, start=1):
        registered = at_office(registered_on(plan), case_id)
        counselled = at_office(counselled_on(plan), case_id) if plan.counselled else None
        state = "counselled" if plan.counselled else "registered"
        market = MARKETS[case_id % len(MARKETS)] if plan.counselled else None
        seq = 2 if plan.counselled else 1
        yield (case_id, case_id, commune_id, village_id, workflow.WORKFLOW_VERSION, state, seq, workflow.STATE_BY_NAME[state].owner, 1,
               "walk_in", market, registered, counselled or registered, registered, counselled, seq, f"{case_id:064x}", 0)  # fmt: skip


def deadline_rows(case_plans: list[Plan]) -> Iterator[tuple[Any, ...]]:
    """Yield each case's open clock (id = case id), then the counselled cases' closed counselling clocks."""
    for case_id, plan in enumerate(case_plans, start=1):
        clock = "departure" if plan.counselled else "counselling"
        opened = at_office(counselled_on(plan) if plan.counselled else registered_on(plan), case_id)
        due_day = TODAY + timedelta(days=plan.offset)
        yield (case_id, case_id, 1, clock, rule(clock).department, opened.date(), moment_due(due_day), "open", opened, None)
    for deadline_id, case_id, plan in closed_clocks(case_plans):
        registered = registered_on(plan)
        closed = at_office(counselled_on(plan), case_id)
        due_day = registered + timedelta(days=clock_days("counselling"))
        yield (deadline_id, case_id, 1, "counselling", rule("counselling").department, registered, moment_due(due_day), "closed",
               at_office(registered, case_id), closed)  # fmt: skip


def closed_clocks(case_plans: list[Plan]) -> Iterator[tuple[int, int, Plan]]:
    """Yield (deadline id, case id, plan) of the counselling clocks closed when a case was counselled."""
    deadline_id = len(case_plans)
    for case_id, plan in enumerate(case_plans, start=1):
        if plan.counselled:
            deadline_id += 1
            yield deadline_id, case_id, plan


def moment_due(day: date) -> datetime:
    """Return the end of a due day in Vietnam, when a clock falls due."""
    return moment(day, DUE_TIME)


def rung_rows(case_plans: list[Plan]) -> Iterator[tuple[Any, ...]]:
    """Yield the rungs: an open clock's passed rungs fired (but a due case's 0d rung), a closed clock's later ones cancelled."""
    for case_id, plan in enumerate(case_plans, start=1):
        clock = "departure" if plan.counselled else "counselling"
        for fires_at, number, action, to in rung_moments(clock, plan.offset):
            pending = fires_at > NOW or (plan.due and number == 2)
            yield (
                case_id,
                number,
                fires_at,
                action,
                to,
                "pending" if pending else "fired",
                None if pending else fires_at + timedelta(seconds=30),
            )
    for deadline_id, case_id, plan in closed_clocks(case_plans):
        closed = at_office(counselled_on(plan), case_id)
        offset = (registered_on(plan) - TODAY).days + clock_days("counselling")
        for fires_at, number, action, to in rung_moments("counselling", offset):
            fired = fires_at <= closed
            yield (
                deadline_id,
                number,
                fires_at,
                action,
                to,
                "fired" if fired else "cancelled",
                fires_at + timedelta(seconds=30) if fired else None,
            )


# --- measuring -------------------------------------------------------------------------------------------------


def explain(scratch: Scratch) -> None:
    """Print the plan of the sweep's first batch query, as the sweep runs it, and the rows its index scan returned."""
    query = deadlines._SWEEP_BATCH_PG.text  # the whole batch: take, mark and write the messages, in one statement
    params = {"now": NOW, "limit": 500}
    with scratch.engine.connect() as conn:  # EXPLAIN ANALYZE runs the query and locks the rows: roll it back
        plan = conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {query}"), params).scalars().all()
        conn.rollback()
        tree = conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {query}"), params).scalar_one()
        conn.rollback()
    nodes = list(walk(tree[0]["Plan"] if isinstance(tree, list) else json.loads(tree)[0]["Plan"]))
    scans = [n for n in nodes if n.get("Index Name") == INDEX]
    seq = [n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan"]
    returned = sum(n["Actual Rows"] * n["Actual Loops"] for n in scans)
    print(f"\n[{scratch.label}] EXPLAIN (ANALYZE, BUFFERS) of the sweep's due-rung query, {scratch.cases:,} cases, {scratch.due:,} due:")
    print("    " + query.replace("\n", "\n    ") + f"\n    -- :now = {NOW:%Y-%m-%d %H:%M:%S+00}, :limit = 500\n")
    print("\n".join("    " + line for line in plan))
    print(
        f"[{scratch.label}] rows examined by one batch: {INDEX} {'used' if scans else 'NOT used'},"
        f" its scan returned {returned:,} rows for a batch of 500; sequential scans: {', '.join(seq) or 'none'}"
    )


def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield a JSON plan node and all nodes under it."""
    yield node
    for child in node.get("Plans", ()):
        yield from walk(child)


_STATS = text(
    """SELECT (SELECT idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = :index) AS index_entries,
           (SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = :index) AS index_scans,
           (SELECT seq_tup_read FROM pg_stat_user_tables WHERE relname = 'deadline_rungs') AS rung_seq_rows,
           (SELECT seq_tup_read FROM pg_stat_user_tables WHERE relname = 'deadlines') AS deadline_seq_rows,
           (SELECT idx_tup_fetch FROM pg_stat_user_tables WHERE relname = 'deadlines') AS deadline_index_rows"""
)


def statistics(engine: Engine) -> dict[str, int]:
    """Return the scan counters of the two tables, once every other session of the database has flushed its own."""
    with engine.connect() as conn:
        for _ in range(200):  # a session flushes its counters before it leaves pg_stat_activity
            others = conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND backend_type = 'client backend'"
                )
            )
            if not others:
                break
            time.sleep(0.05)
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        return dict(conn.execute(_STATS, {"index": INDEX}).mappings().one())


def tick(scratch: Scratch, number: int) -> dict[str, int]:
    """Time one whole sweep tick, check it fired every due rung once, and return the rows it examined."""
    scratch.engine.dispose()
    before = statistics(scratch.engine)
    scratch.engine.dispose()
    with scratch.engine.connect():  # a warm connection, as a beat worker's pool has
        pass
    spent: dict[str, float] = defaultdict(float)
    listeners = statement_timers(spent)
    for name, listener in listeners:
        event.listen(scratch.engine, name, listener)
    started = time.perf_counter()
    try:
        fired = deadlines.sweep(scratch.rt, NOW)
    finally:
        seconds = time.perf_counter() - started
        for name, listener in listeners:
            event.remove(scratch.engine, name, listener)
    scratch.engine.dispose()  # the sweep's session flushes its counters when it ends
    after = statistics(scratch.engine)
    again = deadlines.sweep(scratch.rt, NOW)
    with scratch.engine.connect() as conn:
        messages = conn.scalar(text("SELECT count(*) FROM outbox WHERE topic LIKE 'deadline.%'"))
    keys = {(r.deadline_id, r.rung) for r in fired}
    assert len(fired) == len(keys) == messages == scratch.due, (len(fired), len(keys), messages, scratch.due)
    assert not again, f"a second sweep at the same moment fired {len(again)} rungs"
    scratch.seconds.append(seconds)
    rows = {key: after[key] - before[key] for key in after}
    batches = rows["index_scans"]
    print(
        f"[{scratch.label}] round {number}: tick {seconds:6.3f} s for {len(fired):,} rungs ({len(fired) / seconds:,.0f} rungs/s),"
        f" {batches} batches; read {rows['index_entries']:,} entries of {INDEX},"
        f" {rows['deadline_index_rows']:,} deadlines by index, {rows['deadline_seq_rows']:,} deadlines and"
        f" {rows['rung_seq_rows']:,} rungs by sequential scan; second sweep: {len(again)} rungs"
    )
    statements = sum(spent.values())
    print(
        f"[{scratch.label}]          time: batch statements {statements:.3f} s"
        f" ({', '.join(f'{word} {spent[word]:.3f} s' for word in sorted(spent))}), the rest (Python, BEGIN/COMMIT) {seconds - statements:.3f} s"
    )
    return rows


def statement_timers(spent: dict[str, float]) -> list[tuple[str, Any]]:
    """Return engine listeners that add each statement's time to `spent`, by its first word (SELECT, UPDATE, INSERT)."""

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        spent[statement.split(None, 1)[0].upper()] += time.perf_counter() - conn.info.pop("bench_started")

    return [("before_cursor_execute", before), ("after_cursor_execute", after)]


def rearm(scratch: Scratch) -> None:
    """Make the rungs the tick fired (or skipped) pending again and delete its messages, then vacuum and analyse."""
    with scratch.engine.begin() as conn:
        reset = conn.execute(
            text("UPDATE deadline_rungs SET status = 'pending', fired_at = NULL WHERE status IN ('fired', 'skipped') AND fired_at = :now"),
            {"now": NOW},
        ).rowcount
        conn.execute(text("DELETE FROM outbox WHERE topic LIKE 'deadline.%'"))
    assert reset == scratch.due, (reset, scratch.due)
    with scratch.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE deadline_rungs, outbox"))
        conn.execute(text("CHECKPOINT"))  # every tick starts from the same point of the checkpoint cycle


if __name__ == "__main__":
    main()
