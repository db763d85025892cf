"""How long every indicator of a province takes over a year, with 300,000 cases in its communes, on PostgreSQL.

The script makes a scratch database, adds --communes communes (with a village each) to the demo province (Thanh Hóa,
"38"), and fills it by COPY with --cases cases spread over them, registered from January 2023 to May 2026: persons
(their personal ID sealed by services.crypto as the commands seal it), cases with their state timestamps, the
current records of each step the case took (registration, counselling, training, health, loan, departure, return,
overstay, death: built from tests/factories.py, one of each shape checked by the domain validation, and written as
the canonical JSON the commands write), the counselling and departure clocks, and support payments to some workers
of priority groups (with the history event each points at). About seven in ten cases departed, a third of those
came back; the rest stopped at some step, withdrew or were refused. No other events are written: the indicators do
not read the history.

It prints `EXPLAIN (ANALYZE, BUFFERS)` of every indicator query (the scans, the indexes used, the rows and buffers),
then times `services.indicators.indicators()` for the province over 2025 as the province supervisor, --repeat times,
and each indicator query alone (one after another, each in its own transaction: the baseline the concurrent roll-up
is compared with), and prints the medians. Goal: the whole province roll-up in under 2 s. --keep NAME loads the data
once into the database NAME and reuses it on later runs (migrated to head first).

    .venv/bin/python bench/reports.py                          # 300,000 cases in 60 communes, 5 repetitions
    .venv/bin/python bench/reports.py --cases 50000 --repeat 3
    .venv/bin/python bench/reports.py --keep gw_bench_reports    # load once into that database, reuse it next time
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import psycopg
from _common import add_database_option, libpq_url, median, on_kept_database, on_scratch_database, server_summary
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from config.settings import Settings
from services import indicators
from services.indicator_queries import QUERIES
from services.plans import unit_in_scope
from services.runtime import Runtime, build_runtime
from services.users import load_actor
from tests import factories as f
from workflows import case as workflow
from workflows.history import SUPPORT_PAYMENT, canonical_json
from workflows.policy import Policy
from workflows.records import record_data, validate_record

GOAL_SECONDS = 2.0
PERIOD = (date(2025, 1, 1), date(2025, 12, 31))
FIRST_DAY, TODAY = date(2023, 1, 1), date(2026, 6, 1)
MARKETS = {"JP-TTS": "JP", "JP-SSW": "JP", "TW-LD": "TW", "KR-EPS": "KR"}
STEPS = (("counsel", "counselled", 5, 30), ("train", "trained", 30, 90), ("certify_health", "health_checked", 5, 20),
         ("approve_loan", "loan_approved", 3, 15), ("depart", "departed", 10, 60))  # fmt: skip
CASE_COLUMNS = ("id", "person_id", "commune_id", "village_id", "workflow_version", "state", "version", "owner_department",
                "application_no", "source", "market_code", "opened_at", "state_entered_at", "last_seq", "head_hash", "anchored_seq",
                *(f"{state}_at" for state in ("registered", "counselled", "trained", "health_checked", "loan_approved", "departed",
                                              "returned", "withdrawn", "overstayed", "deceased")))  # fmt: skip
RECORD_COLUMNS = ("case_id", "application_no", "kind", "data", "event_seq", "recorded_at")
DEADLINE_COLUMNS = ("case_id", "application_no", "clock", "department", "counted_from", "due_at", "status", "opened_at", "closed_at")
PERSON_COLUMNS = (
    "id",
    "personal_id_sealed",
    "personal_id_lookup",
    "full_name",
    "search_name",
    "date_of_birth",
    "sex",
    "ethnicity",
    "phone",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_option(parser)
    parser.add_argument("--cases", type=int, default=300_000, help="cases in the province (default %(default)s)")
    parser.add_argument("--communes", type=int, default=60, help="communes in the province (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of the whole roll-up (default %(default)s)")
    parser.add_argument("--keep", metavar="NAME", help="use the database NAME beside the admin URL and keep it: loaded when it is"
                        " missing or holds another number of cases or communes, reused as it is otherwise")  # fmt: skip
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.keep:
        count = "SELECT count(*), count(DISTINCT commune_id) FROM cases"
        on_kept_database(
            args.database_url, args.keep, count, (args.cases, args.communes), lambda engine, url, loaded: run(args, engine, url, loaded)
        )
    else:
        on_scratch_database(args.database_url, lambda engine, url: run(args, engine, url))


def run(args: argparse.Namespace, engine: Engine, url: str, loaded: bool = False) -> None:
    print(server_summary(engine))
    rt = build_runtime(Settings(), engine=engine)
    if loaded:
        print(f"reusing the {args.cases:,} cases in {args.communes} communes of database {make_url(url).database}")
    else:
        started = time.perf_counter()
        counts = load(rt, url, args.cases, args.communes)
        print(f"loaded {', '.join(f'{n:,} {table}' for table, n in counts.items())} by COPY in {time.perf_counter() - started:.0f} s")
    with engine.connect() as conn:
        actor = load_actor(conn, "province_supervisor")
    explain(rt, actor)
    whole, parts = [], {name: [] for name in QUERIES}
    for _ in range(args.repeat):
        began = time.perf_counter()
        figures = indicators.indicators(rt, actor, "38", *PERIOD)
        whole.append(time.perf_counter() - began)
        for name, seconds in time_each(rt, actor).items():
            parts[name].append(seconds)
    total = figures["total"]
    print(f"\nprovince 38, {len(figures['communes'])} communes, {PERIOD[0]} – {PERIOD[1]}: {total['departures']['total']:,} departures,"
          f" {total['loans']['bank_loans']:,} loans, {total['outcomes']['returns']:,} returns, {total['support']['payments']:,} payments")  # fmt: skip
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, seconds in parts.items():
        print(f"  {name:<11} median {median(seconds) * 1000:7.1f} ms  ({', '.join(f'{s * 1000:.0f}' for s in seconds)})")
    alone = [sum(runs) for runs in zip(*parts.values(), strict=True)]
    print(f"the queries one after another: median {median(alone):.3f} s ({', '.join(f'{s:.3f}' for s in alone)} s)")
    print(f"indicators() median {median(whole):.3f} s ({', '.join(f'{s:.3f}' for s in whole)} s), on"
          f" {indicators.REPORT_CONNECTIONS} connections at once")  # fmt: skip
    verdict = "met" if median(whole) < GOAL_SECONDS else "MISSED"
    print(f"goal: province roll-up over {args.cases:,} cases < {GOAL_SECONDS:.0f} s: {verdict}")


def time_each(rt: Runtime, actor: Any) -> dict[str, float]:
    """Time each indicator query alone, in one read transaction each."""
    found = {}
    for name, query in QUERIES.items():
        with rt.unit_of_work(writes=False) as conn:
            indicators.begin_report(conn)
            scope = indicators.scope_of(conn, unit_in_scope(conn, actor, "38"), *PERIOD)
            began = time.perf_counter()
            query(conn, scope)
            found[name] = time.perf_counter() - began
    return found


def explain(rt: Runtime, actor: Any) -> None:
    """Print, per indicator query, the scans of its plan: relation, index, rows, and the buffers the whole query read."""
    for name, query in QUERIES.items():
        with rt.unit_of_work(writes=False) as conn:
            indicators.begin_report(conn)
            scope = indicators.scope_of(conn, unit_in_scope(conn, actor, "38"), *PERIOD)
            captured: list[Any] = []
            original = scope.run

            def explained(conn: Any, sql: str, original: Any = original, captured: list[Any] = captured) -> list[Any]:
                rows = original(conn, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
                captured.append(rows[0][0][0])
                return []

            object.__setattr__(scope, "run", explained)
            query(conn, scope)
        plan = captured[0]
        top = plan["Plan"]
        print(f"\n[{name}] {plan['Execution Time']:.1f} ms, shared buffers hit {top.get('Shared Hit Blocks', 0):,}"
              f" read {top.get('Shared Read Blocks', 0):,}")  # fmt: skip
        for node in walk(top):
            if "Scan" in node["Node Type"]:
                where = node.get("Index Name") or ""
                print(f"  {node['Node Type']:<22} {node.get('Relation Name', node.get('CTE Name', '')):<16} {where:<36}"
                      f" rows {node['Actual Rows'] * node.get('Actual Loops', 1):>9,}")  # fmt: skip


def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from walk(child)


# --- the data -------------------------------------------------------------------------------------------------------------


def at_office(day: date, salt: int) -> datetime:
    """Return a moment of the office hours of a day (08:00–14:00 in Vietnam), different per case."""
    return datetime.combine(day, clock_time(1, 0, tzinfo=UTC)) + timedelta(seconds=salt % 21_600)


def checked(kind: str, data: dict[str, Any], today: date, policy: Policy, seen: set[str]) -> dict[str, Any]:
    """Validate the first record of each shape through the domain's validation (the others share its shape)."""
    shape = kind + ":" + ",".join(sorted(data)) + ":" + str(data.get("financing", "")) + str(bool(data.get("vocational")))
    if shape not in seen:
        seen.add(shape)
        return record_data(validate_record(kind, data, today, policy))
    return data


def load(rt: Runtime, url: str, cases: int, communes: int) -> dict[str, int]:
    """Add the communes, then COPY persons, cases, records, clocks and payments; vacuum and analyse."""
    with psycopg.connect(libpq_url(url), options="-c timezone=UTC") as pg:
        province = pg.execute("SELECT id FROM admin_units WHERE code = '38'").fetchone()[0]
        places = [pg.execute("SELECT c.id, v.id FROM admin_units c JOIN admin_units v ON v.parent_id = c.id WHERE c.code = %s LIMIT 1",
                             (f.COMMUNE,)).fetchone()]  # fmt: skip
        for number in range(1, communes):
            commune = pg.execute("INSERT INTO admin_units (code, name, kind, parent_id) VALUES (%s, %s, 'commune', %s) RETURNING id",
                                 (f"TH-X{number:03d}", f"Xã {number}", province)).fetchone()[0]  # fmt: skip
            village = pg.execute("INSERT INTO admin_units (code, name, kind, parent_id) VALUES (%s, %s, 'village', %s) RETURNING id",
                                 (f"TH-X{number:03d}-01", "Thôn 1", commune)).fetchone()[0]  # fmt: skip
            places.append((commune, village))
        counts = copy_all(pg, rt, cases, places)
        pg.commit()
        pg.autocommit = True
        pg.execute("VACUUM ANALYZE persons, cases, case_records, deadlines, support_payments, events")
    return counts


def copy_all(pg: Any, rt: Runtime, cases: int, places: list[tuple[int, int]]) -> dict[str, int]:
    rows: dict[str, list[tuple[Any, ...]]] = {"persons": [], "cases": [], "case_records": [], "deadlines": [], "events": []}
    payments: list[tuple[Any, ...]] = []
    rng, seen = random.Random(7), set()
    for case_id in range(1, cases + 1):
        build_case(rt, rng, seen, case_id, places[case_id % len(places)], rows, payments)
    counts = {}
    with pg.cursor() as cur:
        for table, columns in (("persons", PERSON_COLUMNS), ("cases", CASE_COLUMNS), ("case_records", RECORD_COLUMNS),
                               ("deadlines", DEADLINE_COLUMNS),
                               ("events", ("id", "case_id", "seq", "at", "actor_id", "department", "trigger", "from_state", "to_state",
                                           "application_no", "reason", "prev_hash", "hash"))):  # fmt: skip
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows[table]:
                    copy.write_row(row)
            counts[table] = len(rows[table])
        with cur.copy("COPY support_payments (case_id, person_id, commune_id, item, amount_vnd, paid_on, invoice_number, event_id,"
                      " recorded_by, recorded_at) FROM STDIN") as copy:  # fmt: skip
            for row in payments:
                copy.write_row(row)
        counts["support_payments"] = len(payments)
        for table in ("persons", "cases", "events"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    return counts


def build_case(rt: Runtime, rng: random.Random, seen: set[str], case_id: int, place: tuple[int, int],
               rows: dict[str, list[tuple[Any, ...]]], payments: list[tuple[Any, ...]]) -> None:  # fmt: skip
    """Add one case's person, case row, records, clocks and payments, along a random path through the steps."""
    commune, village = place
    day = FIRST_DAY + timedelta(days=rng.randrange((TODAY - FIRST_DAY).days - 200))
    sex = rng.choice(("male", "female"))
    priority = {"poor_household": rng.random() < 0.15, "near_poor_household": rng.random() < 0.1, "ethnic_minority": rng.random() < 0.2,
                "military_service_done": rng.random() < 0.05}  # fmt: skip
    registration = f.registration(day, case_id, sex=sex, ethnicity=rng.choice(("Kinh", "Kinh", "Kinh", "Tày", "Mường", "Thái")),
                                  priority=priority, commune_code=f"C{commune}", village_code=f"V{village}")  # fmt: skip
    registration = checked("registration", registration, day, rt.policy, seen)
    sealed = rt.sealer.seal_record("registration", registration)
    rows["persons"].append((case_id, sealed["personal_id"], f"{case_id:064x}", registration["full_name"], "nguyen van an",
                            registration["date_of_birth"], sex, registration["ethnicity"], registration["phone"]))  # fmt: skip
    market = rng.choice(list(MARKETS))
    times: dict[str, datetime] = {"registered": at_office(day, case_id)}
    records = [("registration", sealed, day)]
    state, stop = "registered", rng.choices(range(6), weights=(5, 5, 5, 3, 2, 80))[0]
    for trigger, dest, low, high in STEPS[:stop]:
        next_day = day + timedelta(days=rng.randrange(low, high))
        if next_day >= TODAY:
            break
        day, state = next_day, dest
        times[dest] = at_office(day, case_id)
        records.append((workflow.TRANSITION_BY_TRIGGER[trigger].record, step_record(trigger, day, market, rng), day))
    state = finish(rng, state, day, times, records)
    write_case(rows, case_id, commune, village, state, market if "counselled" in times else None, times, records)
    clocks(rows, case_id, times)
    if any(priority.values()) and "trained" in times and rng.random() < 0.5:
        paid_on = times["trained"].date()
        event_id = len(rows["events"]) + 1
        rows["events"].append((event_id, case_id, len(records) + 1, times["trained"], None, "finance", SUPPORT_PAYMENT, state, state, 1,
                               "Chi hỗ trợ language", "0" * 64, f"{event_id:064x}"))  # fmt: skip
        payments.append((case_id, case_id, commune, "language", rng.randrange(10, 41) * 100_000, paid_on, f"HD-{case_id}", event_id,
                         2, times["trained"]))  # fmt: skip


def step_record(trigger: str, day: date, market: str, rng: random.Random) -> dict[str, Any]:
    if trigger == "counsel":
        return f.counselling(day, market_code=market)
    if trigger == "train":
        vocational = rng.random() < 0.65
        data = f.training(day)
        data["vocational"] = {**data["vocational"], "in_depth": rng.random() < 0.2} if vocational else None
        return {key: value for key, value in data.items() if value is not None}
    if trigger == "approve_loan":
        if rng.random() < 0.3:
            return {"financing": "self_financed", "declared_on": day.isoformat(), "note": "Gia đình tự lo"}
        amount = rng.randrange(50, 150) * 1_000_000
        return f.loan(day, amount_vnd=amount, pre_departure_costs_vnd=amount + 20_000_000)
    if trigger == "depart":
        departure = f.departure(day)
        return {**departure, "contract": {**departure["contract"], "country": MARKETS[market]}}
    return f.health(day)


def finish(rng: random.Random, state: str, day: date, times: dict[str, datetime], records: list[Any]) -> str:
    """End the path: a departed worker may return, abscond or die; one who stopped before departure may withdraw."""
    if state == "departed":
        draw, later = rng.random(), day + timedelta(days=rng.randrange(60, 1100))
        if later >= TODAY or draw > 0.45:
            return state
        if draw < 0.38:
            reason = rng.choice(("completed", "completed", "early", "deported"))
            record = {"returned_on": later.isoformat(), "reason": reason, **({"cause": "Ốm"} if reason != "completed" else {})}
            times["returned"], state = at_office(later, len(records)), "returned"
            records.append(("return", record, later))
        elif draw < 0.43:
            times["overstayed"], state = at_office(later, len(records)), "overstayed"
            records.append(("overstay", {"reported_on": later.isoformat(), "kind": "absconded", "details": "Bỏ trốn"}, later))
        else:
            times["deceased"], state = at_office(later, len(records)), "deceased"
            records.append(("death", {"reported_on": later.isoformat(), "kind": "deceased"}, later))
        return state
    if state != "registered" and rng.random() < 0.3:
        later = day + timedelta(days=rng.randrange(1, 30))
        if later < TODAY:
            times["withdrawn"] = at_office(later, 1)
            records.append(("withdrawal", {"withdrawn_on": later.isoformat(), "reason": "Không đi nữa"}, later))
            return "withdrawn"
    return state


def write_case(rows: dict[str, list[tuple[Any, ...]]], case_id: int, commune: int, village: int, state: str, market: str | None,
               times: dict[str, datetime], records: list[Any]) -> None:  # fmt: skip
    seq = len(records)
    stamps = [times.get(name.removesuffix("_at")) for name in CASE_COLUMNS[16:]]
    rows["cases"].append((case_id, case_id, commune, village, workflow.WORKFLOW_VERSION, state, seq, workflow.STATE_BY_NAME[state].owner,
                          1, "walk_in", market, times["registered"], max(times.values()), seq, f"{case_id:064x}", 0, *stamps))  # fmt: skip
    for number, (kind, data, day) in enumerate(records, start=1):
        rows["case_records"].append((case_id, 1, kind, canonical_json(data), number, at_office(day, case_id)))


def clocks(rows: dict[str, list[tuple[Any, ...]]], case_id: int, times: dict[str, datetime]) -> None:
    """Add the counselling clock (30 days from registration) and the departure clock (180 days from counselling)."""
    for clock, department, start, days, stop in (("counselling", "social_policy", "registered", 30, "counselled"),
                                                 ("departure", "enterprise", "counselled", 180, "departed")):  # fmt: skip
        if start not in times:
            continue
        opened = times[start]
        due = datetime.combine(opened.date() + timedelta(days=days), clock_time(16, 59, 59, tzinfo=UTC))
        closed = times.get(stop)
        rows["deadlines"].append((case_id, 1, clock, department, opened.date(), due, "closed" if closed else "open", opened, closed))


if __name__ == "__main__":
    main()
