"""Events per second that `services.audit.verify` checks, over a bulk-loaded history of correctly chained events.

The script fills a scratch database with M events (default 200,000 = 20,000 cases × 10 events) by COPY, not
through the commands, so that it is quick: persons, cases whose `last_seq`/`head_hash` match their chain, and
events hashed with `workflows.history.event_hash` over the same canonical form `services.audit` recomputes (the
record JSON of each event is a validated record from `tests.factories`, in `canonical_json` form). Every case
walks register → counsel → train → certify_health → approve_loan → depart → return_home → reintegrate → close →
reopen (and round again if more events per case are asked for).

It then times `verify(conn)` over everything (a few repetitions, median, events/s; goal ≥ 100,000 events/s) and
`verify(conn, case_id)` for one case, first with no anchor and then after `audit.seal` has sealed every chain
head in one anchor (verify reads the anchor heads too). Each verify must report ok.

Run from the repository root (PostgreSQL from --database-url or $TEST_DATABASE_URL):

    .venv/bin/python bench/verify.py                      # 200,000 events
    .venv/bin/python bench/verify.py --events 1000000 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import psycopg
from _common import START, add_database_option, libpq_url, load_actors, median, on_scratch_database, server_summary
from sqlalchemy import Engine

from config.settings import Settings
from services import audit
from services.runtime import build_runtime
from services.users import Actor
from tests import factories as f
from workflows import case as workflow
from workflows.calendar import local_date
from workflows.history import GENESIS, REGISTER, canonical_json, canonical_time, event_hash
from workflows.policy import Policy
from workflows.records import record_data, validate_record

CYCLE = ["counsel", "train", "certify_health", "approve_loan", "depart", "return_home", "reintegrate", "close", "reopen"]
STEP_DAYS = 7
BATCH = 1_000
EVENT_COLUMNS = (
    "id, case_id, seq, at, actor_id, department, trigger, from_state, to_state, application_no, record_kind, record_json,"
    " reason, prev_hash, hash"
)
CASE_COLUMNS = (
    "id, person_id, commune_id, village_id, workflow_version, state, version, owner_department, application_no, source,"
    " market_code, opened_at, state_entered_at, registered_at, last_seq, head_hash, anchored_seq"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_option(parser)
    parser.add_argument("--events", type=int, default=200_000, help="events in all (default %(default)s)")
    parser.add_argument("--events-per-case", type=int, default=10, help="events per case (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of the full verify (default %(default)s)")
    args = parser.parse_args()
    on_scratch_database(args.database_url, lambda engine, url: run(engine, url, args))


def run(engine: Engine, url: str, args: argparse.Namespace) -> None:
    per_case = max(1, args.events_per_case)
    case_count = max(1, args.events // per_case)
    print(server_summary(engine))
    policy = build_runtime(Settings(), engine=engine).policy
    started = time.perf_counter()
    with psycopg.connect(libpq_url(url), options="-c timezone=UTC") as pg:
        events = load_history(pg, load_actors(engine), policy, case_count, per_case)
    print(f"loaded {case_count:,} cases × {per_case} = {events:,} events by COPY in {time.perf_counter() - started:.1f} s\n")
    sample = random.Random(7).randint(1, case_count)
    measure(engine, "no anchor", events, case_count, args.repeat, sample)
    with engine.begin() as conn:
        sealed = audit.seal(conn, START + timedelta(days=STEP_DAYS * per_case))
    print(f"\nsealed {sealed.heads if sealed else 0:,} chain heads in one anchor")
    measure(engine, "after seal", events, case_count, args.repeat, sample)


def measure(engine: Engine, label: str, events: int, case_count: int, repeat: int, sample: int) -> None:
    """Time verify over everything (one process, then one per core, alternating), then one case."""
    rates: dict[str, list[float]] = {"one process": [], f"verify_all, {os.cpu_count()} processes": []}
    for number in range(1, repeat + 1):
        for way in rates:
            started = time.perf_counter()
            if way == "one process":
                with engine.connect() as conn:
                    report = audit.verify(conn)
            else:
                report = audit.verify_all(engine)
            seconds = time.perf_counter() - started
            assert report.ok and report.events == events and report.cases == case_count, (report.events, report.cases, report.findings[:3])
            rates[way].append(events / seconds)
            print(f"[{label}] {way:<26} run {number}: {seconds:6.2f} s   {events / seconds:10,.0f} events/s")
    for way, values in rates.items():
        rate = median(values)
        print(f"[{label}] {way:<26} median {rate:,.0f} events/s   (goal ≥ 100,000: {'met' if rate >= 100_000 else 'MISSED'})")
    single = []
    with engine.connect() as conn:
        for _ in range(max(5, repeat * 5)):
            started = time.perf_counter()
            report = audit.verify(conn, sample)
            single.append(time.perf_counter() - started)
        assert report.ok and report.cases == 1, report.findings
    print(
        f"[{label}] verify(conn, {sample}) one case, {report.events} events: median {median(single) * 1000:.2f} ms over {len(single)} runs"
    )


def load_history(pg: psycopg.Connection[Any], actors: dict[str, Actor], policy: Policy, case_count: int, per_case: int) -> int:
    """COPY the persons, cases and chained events into the empty tables, in batches; return how many events."""
    commune_id, village_id = pg.execute(
        "SELECT (SELECT id FROM admin_units WHERE code = %s), (SELECT id FROM admin_units WHERE code = %s)", (f.COMMUNE, f.VILLAGE)
    ).fetchone()
    steps = [REGISTER, *(CYCLE[i % len(CYCLE)] for i in range(per_case - 1))]
    records = step_records(steps, policy)
    registration = records[0][1]
    born = date.fromisoformat(registration["date_of_birth"])
    with pg.cursor() as cur:
        for first in range(1, case_count + 1, BATCH):
            batch = range(first, min(first + BATCH, case_count + 1))
            events: list[tuple[Any, ...]] = []
            heads: list[tuple[Any, ...]] = []
            current: list[tuple[Any, ...]] = []
            for case_id in batch:
                registration["personal_id"] = f"{case_id:012d}"
                records[0] = ("registration", canonical_json(registration))
                rows = list(chain(case_id, (case_id - 1) * per_case, steps, records, actors))
                events += rows
                projected = current_records(rows)
                current += [(case_id, app, kind, data, seq, at) for (app, kind), (data, seq, at) in projected.items()]
                heads.append(case_head(case_id, commune_id, village_id, rows, projected))
            with cur.copy(
                "COPY persons (id, personal_id_sealed, personal_id_lookup, full_name, date_of_birth, sex, ethnicity, phone) FROM STDIN"
            ) as copy:
                for case_id in batch:
                    person = (f"{case_id:012d}", f"{case_id:064d}", "Nguyễn Văn An", born, "male", "Kinh", "0912345678")
                    copy.write_row((case_id, *person))
            with cur.copy(f"COPY cases ({CASE_COLUMNS}) FROM STDIN") as copy:
                for head in heads:
                    copy.write_row(head)
            with cur.copy(f"COPY events ({EVENT_COLUMNS}) FROM STDIN") as copy:
                for row in events:
                    copy.write_row(row)
            with cur.copy("COPY case_records (case_id, application_no, kind, data, event_seq, recorded_at) FROM STDIN") as copy:
                for row in current:
                    copy.write_row(row)
        for table in ("persons", "cases", "events"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    pg.commit()
    pg.autocommit = True
    pg.execute("VACUUM ANALYZE persons, cases, events, case_records")
    return case_count * per_case


def step_records(steps: list[str], policy: Policy) -> list[Any]:
    """Return each step's record kind and canonical JSON, validated on the day the step happens."""
    found: list[Any] = []
    for number, step in enumerate(steps):
        day = local_date(START + timedelta(days=STEP_DAYS * number))
        if step == REGISTER:
            found.append(("registration", record_data(validate_record("registration", f.registration(day), day, policy))))
            continue
        kind = workflow.TRANSITION_BY_TRIGGER[step].record
        found.append((kind, canonical_json(record_data(validate_record(kind, f.RECORDS[step](day), day, policy)))))
    return found


def chain(case_id: int, first_id: int, steps: list[str], records: list[Any], actors: dict[str, Actor]) -> Iterator[tuple[Any, ...]]:
    """Yield one case's event rows, each hashed over its predecessor's hash."""
    prev, state, application_no = GENESIS, None, 1
    for number, step in enumerate(steps):
        at = START + timedelta(days=STEP_DAYS * number, seconds=case_id % 28_800, microseconds=(case_id * 7919 + number) % 1_000_000)
        actor = actors["social_policy" if step == REGISTER else f.DEPARTMENT[step]]
        dest = "registered" if step == REGISTER else workflow.TRANSITION_BY_TRIGGER[step].dest
        if step == "reopen":
            application_no += 1
        kind, record_json = records[number]
        seq = number + 1
        values = (
            case_id,
            seq,
            canonical_time(at),
            actor.user_id,
            actor.department,
            step,
            state,
            dest,
            application_no,
            kind,
            record_json,
            None,
        )
        digest = event_hash(*values, prev)
        yield (first_id + seq, case_id, seq, at, *values[3:], prev, digest)
        prev, state = digest, dest


def current_records(rows: list[tuple[Any, ...]]) -> dict[tuple[int, str], tuple[str, int, Any]]:
    """Return the case_records rows the history implies: per (application, kind), the latest record and its event."""
    projected: dict[tuple[int, str], tuple[str, int, Any]] = {}
    application = 1
    for row in rows:
        app, kind, data = row[9], row[10], row[11]
        if app != application:
            projected |= {(app, k): projected[(application, k)] for k in workflow.CARRIED_OVER_RECORDS if (application, k) in projected}
            application = app
        if kind is not None:
            projected[(app, kind)] = (data, row[2], row[3])
    return projected


def case_head(
    case_id: int, commune_id: int, village_id: int, rows: list[tuple[Any, ...]], projected: dict[tuple[int, str], tuple[str, int, Any]]
) -> tuple[Any, ...]:
    """Return the cases row whose state, version, chain head and market match the case's events."""
    first, last = rows[0], rows[-1]
    state, application_no, seq, digest = last[8], last[9], last[2], last[14]
    counselling = projected.get((application_no, "counselling"))
    market = json.loads(counselling[0])["market_code"] if counselling else None
    owner = workflow.STATE_BY_NAME[state].owner
    opened, entered = first[3], last[3]
    version = len(rows)
    return (case_id, case_id, commune_id, village_id, workflow.WORKFLOW_VERSION, state, version, owner, application_no, "walk_in",
            market, opened, entered, opened, seq, digest, 0)  # fmt: skip


if __name__ == "__main__":
    main()
