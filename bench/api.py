"""Latency and throughput of the inbox and the case page over HTTP, with 100,000 cases in PostgreSQL, against /health.

Setup, untimed: a scratch PostgreSQL database, migrated, with the demo reference data (one commune, Cẩm Tân, its six
villages and one officer per department). Sixteen template cases are walked through the real commands
(`services.cases`, `services.work`) into every state (registered, counselled, …, departed with the national-database
task open or done, returned, reintegrated, the end states, overstayed, reopened), each ending the day before 1 June
2026 09:00 in Vietnam. The other cases are copies of them loaded by COPY: each copy gets its own person (name, sex,
birth date, valid personal ID, village, priority groups), so its registration record (canonical JSON text, as the
commands write it) and its hash chain are its own, and all its moments (events, records, work items, clocks, rungs)
are moved back by a random number of days, so that many open clocks are overdue; rungs whose moment has passed are
fired. Shares: 15 % registered, 10 % counselled, 8 % trained, 6 % health-checked, 6 % loan approved, 30 % departed,
10 % returned or reintegrated, 14 % ended, 1 % overstayed. With 100,000 cases: 113,000 open work items across the
departments, 32,000 of them in social_policy (18,000 overdue; 3 % of the open items claimed by their department's
officer), 524,000 work items, 457,000 events, 504,000 clocks and 2,000,000 rungs in all. Every case is in the
officer's commune, so the inbox query ranks every open social_policy item. Then VACUUM ANALYZE.

The server is the real one, a separate process on loopback: `uvicorn services.api.app:create_app --factory --workers
N --loop uvloop --http httptools --no-access-log` (as docker-compose.yml runs it; no access log: it would measure the
console) with DATABASE_URL on the scratch database and GUESTWORK_FROZEN_TIME at 1 June 2026 09:00 in Vietnam. Two
workers by default, as docker-compose.yml runs it (on this 2-core machine, 2 December 2026: 1 worker ~490 inbox
requests/s, 2 workers ~620, 3 or 4 ~650, the cores then full). `--loop asyncio` shows why the loop is
named: under `--workers N` (N > 1) the asyncio loop leaves Nagle's algorithm on for the connections it accepts
(uvicorn binds the socket without IPPROTO_TCP, Kludex/uvicorn#3149), so every keep-alive request after a connection's
first waits ~40 ms for a delayed ACK; uvloop turns Nagle off on every TCP connection.
Before timing, the social_policy officer logs in twice (POST /api/auth/token for a bearer token, POST /login for the
`gw_session` cookie), and every template case and one copy per state are read as the HTML page and as JSON (each
must answer 200), as is the inbox (50 items, overdue first).

The load: --clients concurrent keep-alive HTTP/1.1 connections on loopback, each sending its next GET when its last
answer has come (a closed loop), for one phase at a time. By default the load generator is wrk (Debian's `wrk`; the
bench writes it a Lua script that sets the login header, takes the phase's paths in turn, stops at any answer but
200 and reports p50/p95/p99 as JSON): it runs --warmup-seconds untimed, then --seconds timed, costing ~0.05 ms of CPU
per request. Without wrk (or with `--client python`) the bench says so and uses its own asyncio clients instead
(~0.1 ms of CPU per request, taken from the server on two cores; httpx, used for the logins and checks, costs 1 to
2.5 ms): --warmup untimed requests, then --requests timed, none sent after --cap seconds. A request's latency runs
from its send to the last byte of its body. Phases: `health` (GET /health, no database), `inbox` (GET
/api/inbox/social_policy with the bearer token: 50 items), `case page` (GET /cases/{id} with the cookie: the HTML page
with records, history, clocks and the workflow diagram; it logs two personal-data reads, so it commits twice), `case
json` (GET /api/cases/{id}: one logged read); case ids at random among all cases (wrk cycles through --requests of
them). Each round runs the phases in alternating order and prints p50, p95, p99 (ms), requests/s and, per request,
the CPU ms of the server processes and of the load generator, the ms the scratch database spent running statements
(pg_stat_database.active_time, which also counts parallel workers), the database sessions opened (a connection pool
that closes and reopens connections shows here) and the load average. Then the medians over rounds, each phase's ratio to health in the same run, the goal's
verdict (inbox p95 < 50 ms), and EXPLAIN (ANALYZE, BUFFERS) of the inbox's first range with the inbox's time alone. Other work on the
machine slows every phase: read the ratios to health.

Run from the repository root (PostgreSQL from --database-url or $TEST_DATABASE_URL; the scratch database is dropped
at the end, also on failure, Ctrl-C or SIGTERM, and the server stopped):

    .venv/bin/python bench/api.py                       # 100,000 cases, wrk, 10 s a phase, 3 rounds, 20 clients
    .venv/bin/python bench/api.py --cases 20000 --seconds 5 --rounds 5 --clients 20 --workers 2
    .venv/bin/python bench/api.py --client python       # this script's asyncio clients, 2,000 requests a phase
    .venv/bin/python bench/api.py --loop asyncio --http h11  # the pure-Python loop and parser
    .venv/bin/python bench/api.py --keep gw_bench_api   # load once into that database, reuse it next time
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import _wrk
import httpx
import psycopg
from _common import (
    ROOT,
    START,
    add_database_option,
    cpu_seconds,
    descendants,
    libpq_url,
    load_actors,
    median,
    on_kept_database,
    on_scratch_database,
    server_summary,
)
from psycopg.rows import dict_row
from sqlalchemy import Engine, bindparam, event, text

from config.settings import Settings
from services import audit, demo, work, work_queries
from services.api.deps import SESSION_COOKIE
from services.clock import FixedClock
from services.crypto import Sealer
from services.models import UtcDateTime
from services.runtime import build_runtime
from services.users import load_actor
from tests import factories as f
from workflows.calendar import local_date
from workflows.history import canonical_json, canonical_time, event_hash
from workflows.identity import fold_name

GOAL_MS = 50.0
DEPARTMENT = "social_policy"
DONE = "done:"  # not a trigger: "done:<clock>" has the clock's department claim and complete the task it opened
DATABASE, NOTICE, LIQUIDATION = (f"{DONE}{clock}" for clock in ("national_database", "return_notice", "liquidation"))
RETURNED = [*f.MAIN_PATH[:5], DATABASE, "return_home"]
# name, steps after registration, share of the cases, copies moved back by up to this many days.
TEMPLATES = (
    ("registered", [], 0.15, 60),
    ("counselled", f.MAIN_PATH[:1], 0.10, 150),
    ("trained", f.MAIN_PATH[:2], 0.08, 120),
    ("health_checked", f.MAIN_PATH[:3], 0.06, 60),
    ("loan_approved", f.MAIN_PATH[:4], 0.06, 60),
    ("departed, database task open", f.MAIN_PATH[:5], 0.10, 10),
    ("departed", [*f.MAIN_PATH[:5], DATABASE], 0.20, 700),
    ("returned", RETURNED, 0.06, 90),
    ("reintegrated", [*RETURNED, NOTICE, "reintegrate"], 0.04, 90),
    ("closed", [*RETURNED, NOTICE, LIQUIDATION, "reintegrate", "close"], 0.05, 700),
    ("withdrawn", ["counsel", "withdraw"], 0.04, 700),
    ("ineligible", ["declare_ineligible"], 0.02, 700),
    ("visa_refused", [*f.MAIN_PATH[:4], "refuse_visa"], 0.01, 700),
    ("overstayed", [*f.MAIN_PATH[:5], DATABASE, "report_overstay"], 0.01, 300),
    ("deceased", [*f.MAIN_PATH[:5], DATABASE, "report_death"], 0.01, 700),
    ("reopened", [*RETURNED, NOTICE, LIQUIDATION, "reopen"], 0.01, 60),
)
DAYS_BEFORE = {"return_home": 400, "report_overstay": 1130, "report_death": 200, "reopen": 30}  # else 8; a task is done 3 days on
CLAIMED_SHARE = 0.03
TABLES = ("cases", "case_records", "events", "work_items", "deadlines", "deadline_rungs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_option(parser)
    parser.add_argument("--cases", type=int, default=100_000, help="cases in the database (default %(default)s, at most 999,999)")
    parser.add_argument(
        "--client",
        choices=("wrk", "python"),
        default="wrk" if _wrk.available() else "python",
        help="the load generator: wrk (Debian's package; the default when installed) or this script's asyncio clients (default here: %(default)s)",
    )
    parser.add_argument("--seconds", type=float, default=10, help="wrk: timed seconds per phase and round (default %(default)s)")
    parser.add_argument("--warmup-seconds", type=float, default=2, help="wrk: untimed seconds before each phase (default %(default)s)")
    parser.add_argument(
        "--requests",
        type=int,
        default=2_000,
        help="python: timed requests per phase and round; wrk: the case paths it cycles through (default %(default)s)",
    )
    parser.add_argument("--warmup", type=int, default=200, help="python: untimed requests before each phase (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all phases (default %(default)s)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default %(default)s)")
    parser.add_argument(
        "--cap", type=float, default=120, help="seconds after which a phase (or its warm-up) sends no more requests (default %(default)s)"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (e.g. `git worktree add --detach ../base main`): its code is served too, on the same database"
        " with this virtual environment, and every phase runs against both servers in turn, so before and after share a run",
    )
    parser.add_argument("--keep", metavar="NAME", help="use the database NAME beside the admin URL and keep it: loaded when it is"
                        " missing or holds another number of cases, reused as it is otherwise")  # fmt: skip
    parser.add_argument(
        "--workers", type=int, default=2, help="uvicorn worker processes (default %(default)s, as docker-compose.yml runs it)"
    )
    parser.add_argument("--loop", default="uvloop", help="uvicorn's event loop: uvloop or asyncio (default %(default)s)")
    parser.add_argument("--http", default="httptools", help="uvicorn's HTTP parser: httptools or h11 (default %(default)s)")
    args = parser.parse_args()
    assert len(TEMPLATES) <= args.cases < 1_000_000, "--cases: between 16 and 999,999 (the personal IDs take a 6-digit serial)"
    if args.client == "wrk" and not _wrk.available():
        raise SystemExit("--client wrk: wrk is not installed (apt-get install wrk), or run with --client python")
    if args.client == "python":
        print(
            "load generator: this script's asyncio clients" + ("" if _wrk.available() else " (wrk is not installed: apt-get install wrk)")
        )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `kill` drops the scratch database and stops the server too
    if args.keep:
        on_kept_database(
            args.database_url, args.keep, "SELECT count(*) FROM cases", (args.cases,), lambda e, u, loaded: run(args, e, u, loaded)
        )
    else:
        on_scratch_database(args.database_url, lambda engine, url: run(args, engine, url))


def run(args: argparse.Namespace, engine: Engine, url: str, loaded: bool = False) -> None:
    print(server_summary(engine))
    if loaded:
        print(f"reusing the {args.cases:,} cases of database {engine.url.database}")
    else:
        load(engine, url, args.cases)
    options = ["--workers", str(args.workers), "--loop", args.loop, "--http", args.http]
    roots = {"this checkout": ROOT} | ({f"baseline {args.baseline}": args.baseline.resolve()} if args.baseline else {})
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        servers = {
            name: stack.enter_context(Server(url, options, Path(scratch) / f"uvicorn-{number}.log", root))
            for number, (name, root) in enumerate(roots.items())
        }
        per_phase = (
            f"{args.seconds:g} s a phase after {args.warmup_seconds:g} s of warm-up"
            if args.client == "wrk"
            else f"{args.requests:,} requests a phase"
        )
        for name, server in servers.items():
            print(
                f"server ({name}): uvicorn {' '.join(options)} on {server.base}; load: {args.client}, {args.clients} clients, {per_phase}"
            )
        results = asyncio.run(measure(args, servers, engine))
    for name, by_phase in results.items():
        report(name, by_phase, args)
    explain(engine)


# --- loading ---------------------------------------------------------------------------------------------------


@dataclass
class Template:
    """A case walked through the commands, and its rows in every table (read back as dicts)."""

    name: str
    share: float
    max_age: int
    case_id: int
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """One copy: its template, how many days it is moved back, its person and registration record, its priority."""

    template: Template
    days: int
    person: tuple[Any, ...]
    registration: str
    village_id: int
    source: str
    priority: int
    head_hash: str


def load(engine: Engine, url: str, cases: int) -> None:
    """Walk the templates, COPY the copies, fire the passed rungs, then vacuum and analyse."""
    started = time.perf_counter()
    templates = walk_templates(engine)
    walked = time.perf_counter()
    with psycopg.connect(libpq_url(url), options="-c timezone=UTC") as pg:
        read_templates(pg, templates)
        villages = dict(pg.execute("SELECT code, id FROM admin_units WHERE kind = 'village'").fetchall())
        officers = dict(pg.execute("SELECT department_code, id FROM users WHERE role = 'officer'").fetchall())
        first = pg.execute("SELECT max(id) + 1 FROM cases").fetchone()[0]
        # the copies' ids follow the templates' (taken before any COPY: the rungs name the deadlines by id)
        ids = {t: pg.execute(f"SELECT max(id) + 1 FROM {t}").fetchone()[0] for t in ("events", "work_items", "deadlines")}
        plans = make_plans(templates, cases - len(templates), first, villages, build_runtime(Settings(), engine=engine).sealer)
        with pg.cursor() as cur:
            copy(cur, "persons", ("id", "personal_id_sealed", "personal_id_lookup", "full_name", "search_name", "date_of_birth", "sex", "ethnicity", "phone"),
                 (p.person for p in plans))  # fmt: skip
            for table in TABLES:
                copy(cur, table, None, clone_rows(table, plans, first, dict(ids), officers))
            for table in ("persons", "cases", "events", "work_items", "deadlines"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            cur.execute(
                "UPDATE deadline_rungs SET status = 'fired', fired_at = fires_at + interval '30 seconds'"
                " WHERE status = 'pending' AND fires_at <= %s",
                (START,),
            )
        pg.commit()
        copied = time.perf_counter()
        pg.autocommit = True
        pg.execute("VACUUM ANALYZE")
        pg.execute("CHECKPOINT")
        open_items = dict(
            pg.execute("SELECT department, count(*) FROM work_items WHERE status IN ('open', 'claimed') GROUP BY 1").fetchall()
        )
        totals = {t: pg.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("cases", "events", "work_items", "deadline_rungs")}
        overdue = pg.execute(
            "SELECT count(*) FROM work_items WHERE department = %s AND status IN ('open', 'claimed') AND due_at < %s", (DEPARTMENT, START)
        ).fetchone()[0]
    with engine.connect() as conn:  # the copies' chains are their own: `verify` proves them as it proves the commands' ones
        broken = [case_id for case_id in range(first, first + 50) if not audit.verify(conn, case_id).ok]
    assert not broken, f"copies whose history does not verify: {broken}"
    print(
        f"loaded {totals['cases']:,} cases ({len(templates)} walked through the commands, the rest by COPY) in"
        f" {time.perf_counter() - started:.0f} s (walk {walked - started:.0f} s, COPY {copied - walked:.0f} s, VACUUM ANALYZE"
        f" {time.perf_counter() - copied:.0f} s): {totals['events']:,} events, {totals['work_items']:,} work items,"
        f" {totals['deadline_rungs']:,} rungs; open work items {sum(open_items.values()):,}"
        f" ({', '.join(f'{d} {n:,}' for d, n in sorted(open_items.items(), key=lambda kv: -kv[1]))});"
        f" {overdue:,} of the {open_items.get(DEPARTMENT, 0):,} {DEPARTMENT} items overdue; the histories of 50 copies verify"
    )


def walk_templates(engine: Engine) -> list[Template]:
    """Register one case per template and walk it through the commands, to end the day before START."""
    clock = FixedClock(START)
    rt = build_runtime(Settings(), engine=engine, clock=clock)
    actors = load_actors(engine)
    templates = []
    for number, (name, steps, share, max_age) in enumerate(TEMPLATES, start=1):
        clock.moment = START - timedelta(days=1 + sum(days_before(step) for step in steps))
        case_id = f.cases.register(rt, actors["social_policy"], f.registration(rt.today(), serial=number)).id
        for step in steps:
            clock.advance(days=days_before(step))
            if step.startswith(DONE):
                kind = step.removeprefix(DONE)
                with engine.connect() as conn:
                    item_id = conn.scalar(
                        text("SELECT id FROM work_items WHERE case_id = :id AND kind = :kind AND status = 'open'"),
                        {"id": case_id, "kind": kind},
                    )
                officer = actors[rt.clocks.rules[kind].department]
                work.claim(rt, officer, item_id)
                work.complete(rt, officer, item_id)
            else:
                f.step(rt, actors, case_id, step)
        templates.append(Template(name, share, max_age, case_id))
    return templates


def days_before(step: str) -> int:
    """Return the days between a template's step and the one before."""
    return 3 if step.startswith(DONE) else DAYS_BEFORE.get(step, 8)


def read_templates(pg: psycopg.Connection[Any], templates: list[Template]) -> None:
    """Read each template's rows of every table copied."""
    with pg.cursor(row_factory=dict_row) as cur:
        for template in templates:
            for table in TABLES:
                if table == "cases":
                    query = "SELECT * FROM cases WHERE id = %s"
                elif table == "case_records":  # not the report_* columns the database derives (migration 0015): COPY cannot write them
                    query = "SELECT case_id, application_no, kind, data, event_seq, recorded_at FROM case_records WHERE case_id = %s ORDER BY application_no, kind"
                elif table == "deadline_rungs":
                    query = "SELECT r.* FROM deadline_rungs r JOIN deadlines d ON d.id = r.deadline_id WHERE d.case_id = %s ORDER BY d.id, r.rung"
                else:
                    query = f"SELECT * FROM {table} WHERE case_id = %s ORDER BY {'seq' if table == 'events' else 'application_no, kind' if table == 'case_records' else 'id'}"
                template.rows[table] = cur.execute(query, (template.case_id,)).fetchall()


def make_plans(templates: list[Template], copies: int, first: int, villages: dict[str, int], sealer: Sealer) -> list[Plan]:
    """Draw each copy's template, age and person; compute its registration record (the ID sealed) and chain head."""
    rng = random.Random(f"api-{copies}")
    chosen = rng.choices(templates, weights=[t.share for t in templates], k=copies)
    plans = []
    for case_id, template in enumerate(chosen, start=first):
        days = rng.randint(0, template.max_age)
        registered = local_date(template.rows["events"][0]["at"] - timedelta(days=days))
        sex = rng.choice(("male", "female"))
        middle, given = rng.choice(demo.MALE if sex == "male" else demo.FEMALE)
        born = registered - timedelta(days=rng.randint(19 * 365, 35 * 365))
        record = json.loads(next(r["data"] for r in template.rows["case_records"] if r["kind"] == "registration"))
        priority = {
            "poor_household": rng.random() < 0.2,
            "near_poor_household": rng.random() < 0.15,
            "ethnic_minority": rng.random() < 0.15,
        }
        village = rng.choice(demo.VILLAGES)[0]
        record |= {
            "full_name": f"{rng.choice(demo.SURNAMES)} {middle} {given}", "sex": sex, "date_of_birth": born.isoformat(),
            "personal_id": f.personal_id(born, sex, case_id), "ethnicity": rng.choice(["Kinh"] * 8 + ["Mường", "Thái"]),
            "village_code": village, "phone": f"09{rng.randint(10_000_000, 99_999_999)}", "priority": priority,
            "consent": {**record["consent"], "given_on": registered.isoformat()},
            "source": rng.choice(["walk_in", "walk_in", "village_outreach", "referral", "enterprise"]),
        }  # fmt: skip
        sealed = sealer.seal_record("registration", record)
        person = (case_id, sealed["personal_id"], sealer.lookup(record["personal_id"]), record["full_name"], fold_name(record["full_name"]),
                  born, sex, record["ethnicity"], record["phone"])  # fmt: skip
        plan = Plan(
            template, days, person, canonical_json(sealed), villages[village], record["source"], 1 if any(priority.values()) else 2, ""
        )
        plans.append(dataclasses.replace(plan, head_hash=list(chain(plan, case_id, 0))[-1]["hash"]))
    return plans


def copy(cur: psycopg.Cursor[Any], table: str, columns: tuple[str, ...] | None, rows: Iterator[Any]) -> None:
    """COPY rows into a table: tuples in the order of `columns`, or dicts whose keys name the columns."""
    first = next(rows, None)
    if first is None:
        return
    names = columns or tuple(first)
    with cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as stream:
        for row in itertools.chain([first], rows):
            stream.write_row(row if columns else tuple(row[name] for name in names))


def moved(row: dict[str, Any], days: int) -> dict[str, Any]:
    """Return a row with every moment and date moved back by some days."""
    delta = timedelta(days=days)
    return {key: value - delta if isinstance(value, datetime | date) else value for key, value in row.items()}


def chain(plan: Plan, case_id: int, first_event_id: int) -> Iterator[dict[str, Any]]:
    """Yield a copy's events: moved back, its own registration record, and hashed into its own chain."""
    prev = None
    for number, template_event in enumerate(plan.template.rows["events"]):
        event = moved(template_event, plan.days) | {"id": first_event_id + number, "case_id": case_id}
        if event["record_kind"] == "registration":
            event["record_json"] = plan.registration
        event["prev_hash"] = prev or template_event["prev_hash"]
        event["hash"] = event_hash(*(event[k] if k != "at" else canonical_time(event["at"]) for k in (
            "case_id", "seq", "at", "actor_id", "department", "trigger", "from_state", "to_state", "application_no", "record_kind",
            "record_json", "reason", "prev_hash")))  # fmt: skip
        prev = event["hash"]
        yield event


def clone_rows(table: str, plans: list[Plan], first: int, ids: dict[str, int], officers: dict[str, int]) -> Iterator[dict[str, Any]]:
    """Yield the copies' rows of a table: case ids from `first`, event, work item and deadline ids from `ids`."""
    next_id, next_deadline = ids.get(table, 0), ids["deadlines"]
    rng = random.Random("api-claims")
    for case_id, plan in enumerate(plans, start=first):
        rows = plan.template.rows
        if table == "cases":
            yield moved(rows["cases"][0], plan.days) | {"id": case_id, "person_id": case_id, "village_id": plan.village_id,
                                                        "source": plan.source, "head_hash": plan.head_hash, "anchored_seq": 0}  # fmt: skip
        elif table == "case_records":
            for record in rows["case_records"]:
                data = plan.registration if record["kind"] == "registration" else record["data"]
                yield moved(record, plan.days) | {"case_id": case_id, "data": data}
        elif table == "events":
            yield from chain(plan, case_id, next_id)
            next_id += len(rows["events"])
        elif table == "work_items":
            for item in rows["work_items"]:
                row = moved(item, plan.days) | {"id": next_id, "case_id": case_id, "priority": plan.priority}
                if row["status"] == "open" and rng.random() < CLAIMED_SHARE:
                    row |= {
                        "status": "claimed",
                        "assignee_id": officers[row["department"]],
                        "claimed_at": row["opened_at"] + timedelta(hours=1),
                    }
                next_id += 1
                yield row
        elif table == "deadlines":
            for deadline in rows["deadlines"]:
                yield moved(deadline, plan.days) | {"id": next_id, "case_id": case_id}
                next_id += 1
        else:
            ids = {d["id"]: next_deadline + n for n, d in enumerate(rows["deadlines"])}
            next_deadline += len(ids)
            for rung in rows["deadline_rungs"]:
                yield moved(rung, plan.days) | {"deadline_id": ids[rung["deadline_id"]]}


# --- the server and the load -------------------------------------------------------------------------------------


@dataclass
class Server:
    """The API as its own process group: uvicorn on a free loopback port, on the scratch database, time frozen at START."""

    url: str
    options: list[str]  # --workers, --loop, --http
    log: Path
    root: Path = ROOT  # the checkout whose code is served
    port: int = 0
    base: str = ""
    process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.port, self.base = port, f"http://127.0.0.1:{port}"
        env = {**os.environ, "DATABASE_URL": self.url, "GUESTWORK_FROZEN_TIME": START.isoformat()}
        command = [sys.executable, "-m", "uvicorn", "services.api.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port),
                   *self.options, "--no-access-log", "--log-level", "warning"]  # fmt: skip
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, env=env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"the server did not answer /health within 60 s:\n{self.tail()}")

    def __exit__(self, *_: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def pids(self) -> list[int]:
        """Return the uvicorn supervisor and its worker processes."""
        assert self.process is not None
        return [self.process.pid, *descendants(self.process.pid)]

    def tail(self) -> str:
        """Return the end of the server's log."""
        return self.log.read_text(errors="replace")[-4000:]


@dataclass(frozen=True)
class Phase:
    """A kind of request: its name, the client it goes through (bearer token or session cookie), its paths."""

    name: str
    client: str  # "api" or "page"
    path: Callable[[random.Random], str]


@dataclass
class Figures:
    """One timed run of a phase: latency percentiles (ms), requests, seconds, and per request: CPU ms and the database's figures."""

    p50: float
    p95: float
    p99: float
    requests: int
    seconds: float
    cpu: dict[str, float]  # the server's processes, the load generator
    database: dict[str, float]  # busy: ms the scratch database's sessions spent running statements; sessions: opened

    @classmethod
    def of(cls, latencies: list[float], seconds: float, cpu: dict[str, float], database: dict[str, float]) -> Figures:
        """Summarise the latencies (ms) of a run: nearest-rank percentiles."""
        ranked = sorted(latencies)
        p50, p95, p99 = (ranked[min(len(ranked) - 1, int(share * len(ranked)))] for share in (0.5, 0.95, 0.99))
        return cls(p50, p95, p99, len(ranked), seconds, cpu, database)

    @property
    def rate(self) -> float:
        """Return the requests per second."""
        return self.requests / self.seconds


async def measure(args: argparse.Namespace, servers: dict[str, Server], engine: Engine) -> dict[str, dict[str, list[Figures]]]:
    """Log in, check the pages answer, then run the phases round after round on each server; return their figures by phase."""
    with engine.connect() as conn:
        case_ids = list(conn.scalars(text("SELECT id FROM cases ORDER BY id")))
        samples = list(conn.scalars(text("SELECT max(id) FROM cases GROUP BY state, application_no")))
    phases = [
        Phase("health", "api", lambda rng: "/health"),
        Phase("inbox", "api", lambda rng: f"/api/inbox/{DEPARTMENT}"),
        Phase("case page", "page", lambda rng: f"/cases/{rng.choice(case_ids)}"),
        Phase("case json", "api", lambda rng: f"/api/cases/{rng.choice(case_ids)}"),
    ]
    for server in servers.values():  # the logins are rows of the shared database: each server accepts them
        async with httpx.AsyncClient(base_url=server.base, timeout=60) as api, httpx.AsyncClient(base_url=server.base, timeout=60) as page:
            headers = await log_in(api, page)
            await check(api, page, case_ids[: len(TEMPLATES)] + samples)
    results = {name: {phase.name: [] for phase in phases} for name in servers}
    with psycopg.connect(libpq_url(engine.url.render_as_string(hide_password=False)), autocommit=True) as pg:
        for number in range(1, args.rounds + 1):
            for phase in phases if number % 2 else reversed(phases):
                for name in servers if number % 2 else reversed(servers):
                    rng = random.Random(f"{phase.name}-{number}")
                    warmup, paths = ([phase.path(rng) for _ in range(count)] for count in (args.warmup, args.requests))
                    if args.client == "wrk":
                        figures = with_wrk(args, servers[name], pg, paths, headers[phase.client])
                    else:
                        figures = await with_python(args, servers[name], pg, warmup, paths, headers[phase.client])
                    results[name][phase.name].append(figures)
                    print(f"round {number}  {line(phase.name, figures)}" + (f"  [{name}]" if len(servers) > 1 else ""))
    return results


def with_wrk(args: argparse.Namespace, server: Server, pg: psycopg.Connection[Any], paths: list[str], headers: dict[str, str]) -> Figures:
    """Load a phase with wrk: --warmup-seconds untimed, then --seconds timed, the paths in turn."""
    with tempfile.TemporaryDirectory() as scratch:
        _wrk.run(server.base, paths, headers, clients=args.clients, seconds=args.warmup_seconds, scratch=Path(scratch))
        cpu, database = cpu_now(server), database_now(pg)
        done = _wrk.run(server.base, paths, headers, clients=args.clients, seconds=args.seconds, scratch=Path(scratch))
    used = {"server": 1000 * (cpu_now(server)["server"] - cpu["server"]) / done.requests, "client": 1000 * done.cpu / done.requests}
    database = {name: (value - database[name]) / done.requests for name, value in database_now(pg).items()}
    return Figures(done.p50, done.p95, done.p99, done.requests, done.seconds, used, database)


async def with_python(
    args: argparse.Namespace, server: Server, pg: psycopg.Connection[Any], warmup: list[str], paths: list[str], headers: dict[str, str]
) -> Figures:
    """Load a phase with this script's asyncio clients: the warm-up paths untimed, then the paths timed."""
    connections = [await Connection.open(server.port, headers) for _ in range(args.clients)]
    try:
        await fire(connections, warmup, args.cap)
        return await timed(connections, paths, args.cap, server, pg)
    finally:
        for connection in connections:
            connection.close()


async def log_in(api: httpx.AsyncClient, page: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    """Log in as the social_policy officer twice; return the headers of the API requests (token) and of the pages (cookie)."""
    credentials = {"username": DEPARTMENT, "password": demo.DEMO_PASSWORD}
    response = await api.post("/api/auth/token", json=credentials)
    if response.status_code != 200:
        raise SystemExit(f"POST /api/auth/token answered {response.status_code}: {response.text[:500]}")
    api.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    response = await page.post("/login", data={**credentials, "next": "/inbox"})
    if response.status_code != 303 or SESSION_COOKIE not in page.cookies:
        raise SystemExit(f"POST /login answered {response.status_code} without a session cookie: {response.text[:500]}")
    return {
        "api": {"Authorization": api.headers["Authorization"]},
        "page": {"Cookie": f"{SESSION_COOKIE}={page.cookies[SESSION_COOKIE]}", "Accept": "text/html"},
    }


async def check(api: httpx.AsyncClient, page: httpx.AsyncClient, case_ids: list[int]) -> None:
    """Fail unless the inbox lists 50 items, overdue first, and every case given answers 200 as a page and as JSON."""
    response = await api.get(f"/api/inbox/{DEPARTMENT}")
    items = response.json() if response.status_code == 200 else []
    if len(items) != 50 or not items[0]["overdue"]:
        raise SystemExit(f"GET /api/inbox/{DEPARTMENT} answered {response.status_code} with {len(items)} items: {response.text[:500]}")
    for case_id in case_ids:
        html = await page.get(f"/cases/{case_id}", headers={"Accept": "text/html"})
        data = await api.get(f"/api/cases/{case_id}")
        if html.status_code != 200 or "text/html" not in html.headers.get("content-type", "") or f"{case_id}" not in html.text:
            raise SystemExit(f"GET /cases/{case_id} answered {html.status_code}: {html.text[:1000]}")
        if data.status_code != 200 or data.json()["id"] != case_id:
            raise SystemExit(f"GET /api/cases/{case_id} answered {data.status_code}: {data.text[:1000]}")
    print(f"checked: the inbox (50 items, overdue first) and {len(case_ids)} cases of every state, as page and as JSON, answer 200")


class Connection:
    """One client: a keep-alive HTTP/1.1 connection that sends GETs with its headers and reads each whole answer.

    The timed load goes through this and not httpx: an httpx.AsyncClient costs 1 to 2.5 ms of CPU per request here
    (0.5 to 0.8 ms for httpx.Client in threads), this 0.1 ms, and on two cores the load generator's CPU is the server's.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: dict[str, str]) -> None:
        self.reader, self.writer = reader, writer
        self.headers = "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode()

    @classmethod
    async def open(cls, port: int, headers: dict[str, str]) -> Connection:
        """Connect to the server on loopback."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, headers)

    async def get(self, path: str) -> tuple[int, bytes]:
        """Send a GET and return the status and body (the server's answers carry a Content-Length)."""
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + self.headers + b"\r\n")
        head = (await self.reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        length = next((int(h.split(b":", 1)[1]) for h in head[1:] if h[:15].lower() == b"content-length:"), None)
        if length is None:
            raise SystemExit(f"GET {path}: an answer without Content-Length: {head}")
        return int(head[0].split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        """Close the connection."""
        self.writer.close()


async def fire(connections: list[Connection], paths: list[str], cap: float) -> tuple[list[float], float]:
    """GET the paths, each connection one request at a time, none sent after `cap` seconds; return latencies (ms) and seconds."""
    latencies: list[float] = []
    failures: list[str] = []
    queue = iter(paths)
    stop = time.perf_counter() + cap

    async def one_client(connection: Connection) -> None:
        for path in queue:  # the clients share the iterator: each path is requested once
            began = time.perf_counter()
            if began > stop:
                return
            status, body = await connection.get(path)
            latencies.append(1000 * (time.perf_counter() - began))
            if status != 200:
                failures.append(f"GET {path}: {status} {body[:300]!r}")

    began = time.perf_counter()
    await asyncio.gather(*(one_client(connection) for connection in connections))
    seconds = time.perf_counter() - began
    if failures:
        raise SystemExit(f"{len(failures)} of {len(paths)} requests failed, the first: {failures[0]}")
    return latencies, seconds


async def timed(connections: list[Connection], paths: list[str], cap: float, server: Server, pg: psycopg.Connection[Any]) -> Figures:
    """Run a phase's timed requests, with the CPU used meanwhile by the server and this process, and the database's work."""
    cpu, database = cpu_now(server), database_now(pg)
    latencies, seconds = await fire(connections, paths, cap)
    cpu = {group: 1000 * (seconds - cpu[group]) / len(latencies) for group, seconds in cpu_now(server).items()}
    database = {name: (value - database[name]) / len(latencies) for name, value in database_now(pg).items()}
    return Figures.of(latencies, seconds, cpu, database)


def cpu_now(server: Server) -> dict[str, float]:
    """Return the CPU seconds used so far by the server's processes and by this one."""
    return {"server": cpu_seconds(server.pids()), "client": time.process_time()}


def database_now(pg: psycopg.Connection[Any]) -> dict[str, float]:
    """Return the scratch database's statement time so far (ms) and its sessions opened (the server's pools open some).

    PostgreSQL's own count, since its parallel workers and the sessions a pool closes are gone before /proc is read.
    """
    pg.execute("SELECT pg_stat_clear_snapshot()")
    row = pg.execute("SELECT active_time, sessions FROM pg_stat_database WHERE datname = current_database()").fetchone()
    return {"busy": float(row[0]), "sessions": float(row[1])}


def line(name: str, figures: Figures) -> str:
    """Describe one timed run."""
    return (
        f"{name:<10} p50 {figures.p50:7.1f} ms  p95 {figures.p95:7.1f} ms  p99 {figures.p99:7.1f} ms"
        f"  {figures.rate:7,.0f} req/s ({figures.requests:,} in {figures.seconds:.1f} s); per request: CPU ms server"
        f" {figures.cpu['server']:.2f}, client {figures.cpu['client']:.2f}; database busy {figures.database['busy']:.2f} ms,"
        f" {figures.database['sessions']:.2f} sessions opened; load average {os.getloadavg()[0]:.1f}"
    )


def report(server: str, results: dict[str, list[Figures]], args: argparse.Namespace) -> None:
    """Print each phase's medians over the rounds, their ratios to health, and the goal's verdict."""
    summary = {
        name: {
            "p50": median([r.p50 for r in runs]),
            "p95": median([r.p95 for r in runs]),
            "p99": median([r.p99 for r in runs]),
            "rate": median([r.rate for r in runs]),
        }
        for name, runs in results.items()
    }
    health = summary["health"]
    setup = f"{args.client}, {args.clients} clients, {args.workers} workers, {args.loop}, {args.http}"
    per_phase = f"{args.seconds:g} s" if args.client == "wrk" else f"{args.requests:,} requests"
    print(f"\n{server}: medians of {args.rounds} rounds ({per_phase} a phase, {setup}; load average {os.getloadavg()[0]:.1f}):")
    for name, s in summary.items():
        print(
            f"  {name:<10} p50 {s['p50']:7.1f} ms  p95 {s['p95']:7.1f} ms  p99 {s['p99']:7.1f} ms  {s['rate']:7,.0f} req/s"
            f"   × health: p50 {s['p50'] / health['p50']:5.1f}, p95 {s['p95'] / health['p95']:5.1f}, req/s {s['rate'] / health['rate']:.2f}"
        )
    p95 = summary["inbox"]["p95"]
    print(f"goal: inbox p95 < {GOAL_MS:.0f} ms: {'met' if p95 < GOAL_MS else 'MISSED'} ({p95:.1f} ms)")


def explain(engine: Engine) -> None:
    """Print the plan of the officer's inbox as the server runs it (its first range), and its time alone (no HTTP, no login)."""
    query = work_queries._range_query("officer", True, "overdue")
    binds = (bindparam("now", type_=UtcDateTime), bindparam("communes", expanding=True))
    explained = text(f"EXPLAIN (ANALYZE, BUFFERS) {query.element.text}").bindparams(*binds)
    rt = build_runtime(Settings(), engine=engine, clock=FixedClock(START))
    with engine.connect() as conn:
        officer = load_actor(conn, DEPARTMENT)
        params = {"department": DEPARTMENT, "communes": sorted(officer.communes or ()), "now": START, "me": officer.user_id}
        plan = conn.execute(explained, {**params, "priority": 1, "limit": 50}).scalars().all()
    spent, ranges = [], []
    for _ in range(30):
        with _counting_statements(engine) as statements:
            began = time.perf_counter()
            work_queries.inbox(rt, officer, department=DEPARTMENT, communes=officer.communes, now=START)
            spent.append(1000 * (time.perf_counter() - began))
        ranges.append(len(statements))
    print("\nEXPLAIN (ANALYZE, BUFFERS) of the inbox's first range, overdue items of priority 1 (services.work_queries._range_query):")
    print("\n".join(f"    {row}" for row in plan))
    print(
        f"the inbox alone (services.work_queries.inbox), from this process: median {median(spent):.1f} ms over 30 runs, {max(ranges)} range(s) read"
    )


@contextmanager
def _counting_statements(engine: Engine) -> Iterator[list[str]]:
    """Collect the statements the block runs."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


if __name__ == "__main__":
    main()
