"""Commands per second along the main path: the service layer against the same rows written with plain psycopg.

Each round drives fresh cases through register → counsel → train → certify_health → approve_loan → depart →
return_home, one command per step and one transaction per command, in two phases on the same server:

* service: `services.cases.register` / `services.cases.fire` on the production engine (`services.db.make_engine`):
  validation, guards, the hashed event, the case row, the record, the outbox rows, and the step's followups
  (`services.followups`): the departments' work items and the legal clocks (deadlines and their reminder rungs);
* raw: psycopg 3 on one connection, one transaction per step, writing the same rows: for `register` the person, the
  case, the event, the case's head hash, the record and the outbox rows; for every later step the guarded UPDATE of
  the case row, the hashed event INSERT, the case_records INSERT and one multi-row INSERT of as many outbox rows
  as the service wrote for that step (counted from the outbox table after the warm-up). Then, for every step, the
  followups by hand: the clocks the new state stops are closed and their pending rungs cancelled (two UPDATEs by
  id, only when one of them is open), the open 'state' work item is closed (one UPDATE by id), the clocks the
  trigger starts are inserted (one multi-row INSERT ... RETURNING) with their rungs (one multi-row INSERT), and the
  new state's work item plus a task item per `until_done` clock are opened (one multi-row INSERT). Which clocks
  start, their due moments and rungs come from the same pure planner (`workflows.clocks.plan`) and clock policy as
  the service; the raw writer keeps each case's open clocks and work item in memory, so it reads nothing.

The phases alternate (service first in odd rounds, raw first in even rounds); each prints commands/s, then the
medians, the ratio service/raw (goal ≥ 0.5) and a per-step table. Then both phases' rows are compared: every case
must have the same events, records and outbox rows, and the same work items, deadlines and rungs (kind, state,
department, due and firing moments, status), or the script fails. At the end the whole history is verified with
`services.audit.verify`, so the raw rows are proven to be correctly chained too. `--profile` then runs one more
service round under cProfile and traces one case's wire protocol (round trips and SQL per command).

Run from the repository root (PostgreSQL from --database-url or $TEST_DATABASE_URL):

    .venv/bin/python bench/transitions.py                 # 500 cases × 7 commands, 3 rounds
    .venv/bin/python bench/transitions.py --cases 200 --rounds 5 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from _common import START, add_database_option, libpq_url, load_actors, median, on_scratch_database, server_summary
from psycopg.types.json import Jsonb
from sqlalchemy import Engine, event

from config.settings import Settings
from services import audit, cases
from services.clock import FixedClock
from services.runtime import Runtime, build_runtime
from services.users import Actor
from tests import factories as f
from workflows import case as workflow
from workflows.calendar import local_date
from workflows.clocks import PlannedClock, plan
from workflows.history import GENESIS, REGISTER, canonical_json, canonical_time, event_hash
from workflows.identity import fold_name
from workflows.records import record_data, validate_record

STEPS = ["register", *f.MAIN_PATH]
STEP_DAYS = 7


@dataclass
class Phase:
    """Timings of one phase of one round: seconds per step, and the cases it made."""

    seconds: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    case_ids: list[int] = field(default_factory=list)

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Time a step: wall-clock seconds and this process's CPU seconds (Python, SQLAlchemy, psycopg)."""
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.seconds[step], self.cpu[step] = time.perf_counter() - wall, time.process_time() - cpu

    def rate(self) -> float:
        """Return commands per second over the whole phase."""
        return len(self.case_ids) * len(STEPS) / sum(self.seconds.values())

    def cpu_ms(self) -> float:
        """Return this process's CPU milliseconds per command."""
        return 1000 * sum(self.cpu.values()) / (len(self.case_ids) * len(STEPS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_option(parser)
    parser.add_argument("--cases", type=int, default=500, help="cases per phase per round (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of service + raw (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed cases per phase before the rounds (default %(default)s)")
    parser.add_argument("--profile", action="store_true", help="afterwards, profile one service round and trace one case")
    args = parser.parse_args()
    on_scratch_database(args.database_url, lambda engine, url: run(engine, url, args))


def run(engine: Engine, url: str, args: argparse.Namespace) -> None:
    clock = FixedClock(START)
    rt = build_runtime(Settings(), engine=engine, clock=clock)
    actors = load_actors(engine)
    serials = iter(range(1, 1_000_000))
    print(server_summary(engine))
    print(f"{args.cases} cases × {len(STEPS)} commands per phase, {args.rounds} rounds, warm-up {args.warmup} cases per phase\n")
    with psycopg.connect(libpq_url(url), options="-c timezone=UTC") as pg:
        raw = RawWriter(pg, rt, actors)
        warm = run_service(rt, clock, actors, [next(serials) for _ in range(args.warmup)])
        raw.queues = outbox_queues(pg, warm.case_ids)
        print("outbox rows per command, counted after the service warm-up: " + ", ".join(f"{s} {len(q)}" for s, q in raw.queues.items()))
        run_raw(raw, clock, [next(serials) for _ in range(args.warmup)])
        results: list[tuple[Phase, Phase]] = []
        for number in range(1, args.rounds + 1):
            order = ("service", "raw") if number % 2 else ("raw", "service")
            done: dict[str, Phase] = {}
            for name in order:
                batch = [next(serials) for _ in range(args.cases)]
                done[name] = run_service(rt, clock, actors, batch) if name == "service" else run_raw(raw, clock, batch)
            service, rawp = done["service"], done["raw"]
            results.append((service, rawp))
            print(
                f"round {number} ({order[0]:<7} first): service {service.rate():6.1f} commands/s   raw {rawp.rate():6.1f} commands/s   "
                f"ratio {service.rate() / rawp.rate():.2f}   client CPU per command: service {service.cpu_ms():.2f} ms, raw {rawp.cpu_ms():.2f} ms"
            )
        report(results)
        check_rows(pg, results)
    with engine.connect() as conn:
        verified = audit.verify(conn)
    print(f"audit.verify over everything written: ok={verified.ok}, {verified.cases} cases, {verified.events} events")
    for finding in verified.findings[:5]:
        print(f"  case {finding.case_id} seq {finding.seq}: {finding.code}: {finding.en}")
    if args.profile:
        profile(rt, clock, actors, engine, [next(serials) for _ in range(args.cases)], [next(serials) for _ in range(9)])


def run_service(rt: Runtime, clock: FixedClock, actors: dict[str, Actor], serials: list[int]) -> Phase:
    """Register the cases and fire each main-path step on all of them through the service layer."""
    phase = Phase()
    clock.moment = START
    registrations = [f.registration(rt.today(), serial) for serial in serials]
    with phase.timed("register"):
        phase.case_ids = [cases.register(rt, actors["social_policy"], data).id for data in registrations]
    for trigger in f.MAIN_PATH:
        clock.advance(days=STEP_DAYS)
        actor, data = actors[f.DEPARTMENT[trigger]], f.RECORDS[trigger](rt.today())
        with phase.timed(trigger):
            for case_id in phase.case_ids:
                cases.fire(rt, actor, case_id, trigger, data)
    return phase


def outbox_queues(pg: psycopg.Connection[Any], case_ids: list[int]) -> dict[str, list[str]]:
    """Return, per step, the queues the service wrote outbox rows to (the same for every case)."""
    rows = pg.execute(
        "SELECT e.trigger, e.id, o.queue FROM outbox o JOIN events e ON e.id = o.event_id WHERE e.case_id = ANY(%s) ORDER BY o.id",
        (case_ids,),
    ).fetchall()
    pg.commit()
    per_event: dict[tuple[str, int], list[str]] = defaultdict(list)
    for trigger, event_id, queue in rows:
        per_event[(trigger, event_id)].append(queue)
    found: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for (trigger, _), queues in per_event.items():
        found[trigger].add(tuple(queues))
    assert all(len(variants) == 1 for variants in found.values()), f"outbox rows differ between cases: {found}"
    return {step: list(next(iter(found[step]))) for step in STEPS}


_PERSON = (
    "INSERT INTO persons (personal_id_sealed, personal_id_lookup, full_name, search_name, date_of_birth, sex, ethnicity, phone)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)
_CASE = (
    "INSERT INTO cases (person_id, commune_id, village_id, workflow_version, state, version, owner_department, application_no,"
    " source, opened_at, state_entered_at, registered_at, last_seq, head_hash, anchored_seq)"
    " VALUES (%s, %s, %s, %s, 'registered', 1, %s, 1, %s, %s, %s, %s, 1, '', 0) RETURNING id"
)
_EVENT = (
    "INSERT INTO events (case_id, seq, at, actor_id, department, trigger, from_state, to_state, application_no, record_kind,"
    " record_json, reason, prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)
_HEAD = "UPDATE cases SET head_hash = %s WHERE id = %s"
_RECORD = "INSERT INTO case_records (case_id, application_no, kind, data, event_seq, recorded_at) VALUES (%s, %s, %s, %s, %s, %s)"
_OUTBOX = "INSERT INTO outbox (message_id, topic, queue, case_id, event_id, payload, status, created_at, attempts) VALUES "
_OUTBOX_ROW = "(%s, %s, %s, %s, %s, %s, 'pending', %s, 0)"
# The followups (services/followups.py), by id where the raw writer remembers the row, multi-row where it inserts.
_CLOSE_DEADLINES = "UPDATE deadlines SET status = 'closed', closed_at = %s WHERE id = ANY(%s)"
_CANCEL_RUNGS = "UPDATE deadline_rungs SET status = 'cancelled' WHERE deadline_id = ANY(%s) AND status = 'pending'"
_CLOSE_ITEM = "UPDATE work_items SET status = 'closed', closed_at = %s WHERE id = %s"
_DEADLINES = "INSERT INTO deadlines (case_id, application_no, clock, department, counted_from, due_at, status, opened_at) VALUES "
_DEADLINE_ROW = "(%s, 1, %s, %s, %s, %s, 'open', %s)"
_RUNGS = "INSERT INTO deadline_rungs (deadline_id, rung, fires_at, action, recipient, status) VALUES "
_RUNG_ROW = "(%s, %s, %s, %s, %s, 'pending')"
_ITEMS = "INSERT INTO work_items (case_id, application_no, kind, state, department, priority, due_at, status, opened_at) VALUES "
_ITEM_ROW = "(%s, 1, %s, %s, %s, %s, %s, 'open', %s)"


@dataclass
class RawCase:
    """What the raw writer remembers of a case, so it reads nothing: chain head, records, open clocks and work item."""

    version: int
    seq: int
    head: str
    records: dict[str, Any]
    clocks: dict[str, tuple[int, str, datetime]] = field(default_factory=dict)  # open clock -> (deadline id, department, due)
    item: int | None = None  # the open 'state' work item


class RawWriter:
    """Writes the service's rows for each step with plain psycopg, one transaction per command."""

    def __init__(self, pg: psycopg.Connection[Any], rt: Runtime, actors: dict[str, Actor]) -> None:
        self.pg, self.rt, self.actors = pg, rt, actors
        self.queues: dict[str, list[str]] = {}
        self.cases: dict[int, RawCase] = {}
        self.commune_id, self.village_id = pg.execute(
            "SELECT (SELECT id FROM admin_units WHERE code = %s), (SELECT id FROM admin_units WHERE code = %s)", (f.COMMUNE, f.VILLAGE)
        ).fetchone()
        pg.commit()

    def register(self, record: Any, data: dict[str, Any], now: datetime) -> int:
        """Insert the person, case, event, record and outbox rows of one registration, and its clocks and work item."""
        actor, cur = self.actors["social_policy"], self.pg.cursor()
        sealed = self.rt.sealer.seal_record("registration", data)  # sealed once: the person row holds the same token
        person = (
            sealed["personal_id"],
            self.rt.sealer.lookup(record.personal_id),
            record.full_name,
            fold_name(record.full_name),
            record.date_of_birth,
            record.sex,
            record.ethnicity,
            record.phone,
        )
        person_id = cur.execute(_PERSON, person).fetchone()[0]
        owner = workflow.STATE_BY_NAME["registered"].owner
        case_values = (person_id, self.commune_id, self.village_id, workflow.WORKFLOW_VERSION, owner, record.source, now, now, now)
        case_id = cur.execute(_CASE, case_values).fetchone()[0]
        record_json = canonical_json(sealed)  # the current record is stored as its event's text, byte for byte
        event_id, digest = self._event(cur, case_id, 1, GENESIS, now, actor, REGISTER, None, "registered", "registration", record_json)
        cur.execute(_HEAD, (digest, case_id))
        cur.execute(_RECORD, (case_id, 1, "registration", record_json, 1, now))
        self._outbox(cur, "case.registered", REGISTER, case_id, event_id, {"trigger": REGISTER, "to_state": "registered"}, now)
        case = RawCase(1, 1, digest, {"registration": record})
        self._follow(cur, case_id, case, REGISTER, "registered", now)
        self.pg.commit()
        self.cases[case_id] = case
        return case_id

    def fire(self, case_id: int, trigger: str, record: Any, data: dict[str, Any], now: datetime) -> None:
        """Move one case along a main-path step: guarded case UPDATE, event, record, outbox rows, clocks, work items."""
        spec, actor, cur = workflow.TRANSITION_BY_TRIGGER[trigger], self.actors[f.DEPARTMENT[trigger]], self.pg.cursor()
        case = self.cases[case_id]
        source, seq = spec.sources[0], case.seq + 1
        record_json = canonical_json(self.rt.sealer.seal_record(spec.record, data))
        event_id, digest = self._event(cur, case_id, seq, case.head, now, actor, trigger, source, spec.dest, spec.record, record_json)
        extra, params = "", [spec.dest, workflow.STATE_BY_NAME[spec.dest].owner, 1, now, now, seq, digest]
        if trigger == "counsel":
            extra = ", market_code = %s"
            params.append(record.market_code)
        cur.execute(
            f"UPDATE cases SET version = %s, state = %s, owner_department = %s, application_no = %s, state_entered_at = %s,"
            f" {spec.dest}_at = %s, last_seq = %s, head_hash = %s{extra} WHERE id = %s AND version = %s",
            (case.version + 1, *params, case_id, case.version),
        )
        if cur.rowcount != 1:
            raise RuntimeError(f"case {case_id} is not at version {case.version}")
        cur.execute(_RECORD, (case_id, 1, spec.record, record_json, seq, now))
        payload = {"trigger": trigger, "from_state": source, "to_state": spec.dest}
        self._outbox(cur, "case.transitioned", trigger, case_id, event_id, payload, now)
        case.records[spec.record] = record
        self._follow(cur, case_id, case, trigger, spec.dest, now)
        self.pg.commit()
        case.version, case.seq, case.head = case.version + 1, seq, digest

    def _follow(self, cur: Any, case_id: int, case: RawCase, trigger: str, dest: str, now: datetime) -> None:
        """Close the clocks and work item the step ended, open the clocks and work items it started (services.followups)."""
        clocks = self.rt.clocks
        stopped = [case.clocks.pop(name)[0] for name in clocks.stopped_by(dest) if name in case.clocks]
        if stopped:
            cur.execute(_CLOSE_DEADLINES, (now, stopped))
            cur.execute(_CANCEL_RUNGS, (stopped,))
        if case.item is not None:
            cur.execute(_CLOSE_ITEM, (now, case.item))
            case.item = None
        counselling = case.records.get("counselling")
        market = counselling.market_code if counselling is not None else None
        planned = [
            clock
            for rule in clocks.started_by(trigger)
            if not rule.while_in or dest in rule.while_in
            if (clock := plan(rule, local_date(now), case.records, self.rt.policy, market)) is not None
        ]
        priority = 1 if case.records["registration"].priority.any() else 2
        items = [(p.rule.name, None, p.rule.department, priority, p.due_at, now) for p in planned if p.rule.until_done]
        if planned:
            self._open_clocks(cur, case_id, case, planned, now)
        state = workflow.STATE_BY_NAME[dest]
        if state.kind != "end":  # due when the department's earliest open clock on the case falls due
            due = min((due for _, department, due in case.clocks.values() if department == state.owner), default=None)
            items.append(("state", dest, state.owner, priority, due, now))
        if items:
            params = [value for item in items for value in (case_id, *item)]
            rows = cur.execute(_ITEMS + ", ".join([_ITEM_ROW] * len(items)) + " RETURNING id, kind", params).fetchall()
            case.item = next((item_id for item_id, kind in rows if kind == "state"), None)

    def _open_clocks(self, cur: Any, case_id: int, case: RawCase, planned: list[PlannedClock], now: datetime) -> None:
        """Insert the started clocks (one statement, returning their ids), then all their rungs (one statement)."""
        params = [value for p in planned for value in (case_id, p.rule.name, p.rule.department, p.counted_from, p.due_at, now)]
        ids = dict(cur.execute(_DEADLINES + ", ".join([_DEADLINE_ROW] * len(planned)) + " RETURNING clock, id", params).fetchall())
        for p in planned:
            case.clocks[p.rule.name] = (ids[p.rule.name], p.rule.department, p.due_at)
        rungs = [(ids[p.rule.name], r.number, r.fires_at, r.action, r.to) for p in planned for r in p.rungs]
        if rungs:
            cur.execute(_RUNGS + ", ".join([_RUNG_ROW] * len(rungs)), [value for rung in rungs for value in rung])

    def _event(self, cur: Any, case_id: int, seq: int, prev: str, now: datetime, actor: Actor, *fields: Any) -> tuple[int, str]:
        trigger, from_state, to_state, kind, record_json = fields
        who = (actor.user_id, actor.department)
        digest = event_hash(case_id, seq, canonical_time(now), *who, trigger, from_state, to_state, 1, kind, record_json, None, prev)
        row = (case_id, seq, now, *who, trigger, from_state, to_state, 1, kind, record_json, None, prev, digest)
        return cur.execute(_EVENT, row).fetchone()[0], digest

    def _outbox(self, cur: Any, topic: str, step: str, case_id: int, event_id: int, payload: dict[str, Any], now: datetime) -> None:
        queues = self.queues[step]
        params: list[Any] = []
        for queue in queues:
            body = Jsonb({**payload, "event_id": event_id, "case_id": case_id})
            params += [str(uuid.uuid4()), topic, queue, case_id, event_id, body, now]
        cur.execute(_OUTBOX + ", ".join([_OUTBOX_ROW] * len(queues)), params)


def run_raw(raw: RawWriter, clock: FixedClock, serials: list[int]) -> Phase:
    """Write the same rows as `run_service` with plain psycopg; validated records are prepared untimed."""
    phase, rt = Phase(), raw.rt
    clock.moment = START
    records = [validate_record("registration", f.registration(rt.today(), serial), rt.today(), rt.policy) for serial in serials]
    prepared = [(record, record_data(record)) for record in records]
    with phase.timed("register"):
        phase.case_ids = [raw.register(record, data, clock.now()) for record, data in prepared]
    for trigger in f.MAIN_PATH:
        clock.advance(days=STEP_DAYS)
        record = validate_record(workflow.TRANSITION_BY_TRIGGER[trigger].record, f.RECORDS[trigger](rt.today()), rt.today(), rt.policy)
        data, now = record_data(record), clock.now()
        with phase.timed(trigger):
            for case_id in phase.case_ids:
                raw.fire(case_id, trigger, record, data, now)
    return phase


def report(results: list[tuple[Phase, Phase]]) -> None:
    """Print the medians, the ratio against the goal, and a per-step table."""
    service = median([s.rate() for s, _ in results])
    raw = median([r.rate() for _, r in results])
    ratio = service / raw
    print(f"\nmedian: service {service:7.1f} commands/s   raw {raw:7.1f} commands/s")
    print(f"ratio service/raw = {ratio:.2f}   (goal ≥ 0.50: {'met' if ratio >= 0.5 else 'MISSED'})")
    print(f"per command: service {1000 / service:.2f} ms, raw {1000 / raw:.2f} ms, service overhead {1000 / service - 1000 / raw:.2f} ms")
    cpu_service, cpu_raw = median([s.cpu_ms() for s, _ in results]), median([r.cpu_ms() for _, r in results])
    print(f"client CPU per command (median): service {cpu_service:.2f} ms, raw {cpu_raw:.2f} ms")
    print("\nper step, median ms per command:  service     raw   ratio   service CPU   raw CPU")
    for step in STEPS:
        s, r = (median([p.seconds[step] * 1000 / len(p.case_ids) for p in phases]) for phases in zip(*results, strict=True))
        sc, rc = (median([p.cpu[step] * 1000 / len(p.case_ids) for p in phases]) for phases in zip(*results, strict=True))
        print(f"  {step:<31}{s:8.2f}{r:8.2f}{r / s:8.2f}{sc:14.2f}{rc:10.2f}")


# Each table's rows per case, without ids, so a service case and a raw case that wrote the same rows compare equal.
_ROWS = {
    "events": "SELECT case_id, seq, trigger, from_state, to_state, record_kind FROM events WHERE case_id = ANY(%s)",
    "records": "SELECT case_id, application_no, kind, event_seq FROM case_records WHERE case_id = ANY(%s)",
    "outbox": "SELECT case_id, topic, queue, status FROM outbox WHERE case_id = ANY(%s)",
    "work_items": "SELECT case_id, application_no, kind, state, department, priority, due_at, status, opened_at, closed_at"
    " FROM work_items WHERE case_id = ANY(%s)",
    "deadlines": "SELECT case_id, application_no, clock, department, counted_from, due_at, status, opened_at, closed_at"
    " FROM deadlines WHERE case_id = ANY(%s)",
    "deadline_rungs": "SELECT d.case_id, d.clock, r.rung, r.fires_at, r.action, r.recipient, r.status"
    " FROM deadline_rungs r JOIN deadlines d ON d.id = r.deadline_id WHERE d.case_id = ANY(%s)",
}
_STATUS = {"outbox": 3, "work_items": 7, "deadlines": 6, "deadline_rungs": 6}  # the status column in each _ROWS query


def check_rows(pg: psycopg.Connection[Any], results: list[tuple[Phase, Phase]]) -> None:
    """Show that every case of both phases wrote the same rows (counts, statuses and contents); exit if not."""
    shapes: dict[str, Counter[tuple[Any, ...]]] = {}
    for name, ids in (("service", [i for s, _ in results for i in s.case_ids]), ("raw", [i for _, r in results for i in r.case_ids])):
        per_case: dict[int, list[tuple[Any, ...]]] = {case_id: [] for case_id in ids}
        for table, query in _ROWS.items():
            for case_id, *row in pg.execute(query, (ids,)):
                per_case[case_id].append((table, *(str(value) for value in row)))
        shapes[name] = Counter(tuple(sorted(rows)) for rows in per_case.values())
        common = shapes[name].most_common(1)[0][0]
        summary = []
        for table in _ROWS:
            rows = [row for row in common if row[0] == table]
            statuses = Counter(row[_STATUS[table]] for row in rows) if table in _STATUS else Counter()
            detail = f" ({', '.join(f'{status} {count}' for status, count in sorted(statuses.items()))})" if statuses else ""
            summary.append(f"{table} {len(rows)}{detail}")
        print(f"rows per case, {name:<7} ({len(shapes[name])} distinct): {', '.join(summary)}")
    pg.commit()
    service, raw = shapes["service"], shapes["raw"]
    if len(service) != 1 or service.keys() != raw.keys():
        first_service, first_raw = Counter(service.most_common(1)[0][0]), Counter(raw.most_common(1)[0][0])
        diff = [f"  only service: {row}" for row in sorted((first_service - first_raw).elements())] + [
            f"  only raw:     {row}" for row in sorted((first_raw - first_service).elements())
        ]
        raise SystemExit(
            f"the two phases did not write the same rows per case ({len(service)} distinct service cases, {len(raw)} raw);"
            " the most common case of each differs in:\n" + "\n".join(diff[:40])
        )
    print("rows compared: every case of both phases has the same events, records, outbox, work items, deadlines and rungs")


def profile(rt: Runtime, clock: FixedClock, actors: dict[str, Actor], engine: Engine, serials: list[int], traced: list[int]) -> None:
    """Profile one service round, then trace one case's wire protocol and SQL per command."""
    profiler = cProfile.Profile()
    profiler.enable()
    phase = run_service(rt, clock, actors, serials)
    profiler.disable()
    commands = len(phase.case_ids) * len(STEPS)
    print(f"\nprofiled service round: {commands / sum(phase.seconds.values()):.1f} commands/s (under cProfile)")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(r"services/(cases|store|db)\.py", 15)
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip()))
    trace_one_case(rt, clock, actors, engine, traced)


def trace_one_case(rt: Runtime, clock: FixedClock, actors: dict[str, Actor], engine: Engine, serials: list[int]) -> None:
    """Walk one case with libpq tracing on (after 8 untraced walks); print each command's round trips and statements."""
    folder = Path(tempfile.mkdtemp(prefix="gw_bench_trace_"))
    files: list[Any] = []
    statements: list[str] = []

    def on_checkin(dbapi_connection: Any, _record: Any) -> None:
        # Each command checks a connection out and in once: close its trace file, open the next one.
        if dbapi_connection is None or not tracing:
            return
        if files:
            dbapi_connection.pgconn.untrace()  # flushes libpq's stream
        files.append(open(folder / f"{len(files)}.txt", "w"))  # noqa: SIM115 (libpq writes to it until untrace)
        dbapi_connection.pgconn.trace(files[-1].fileno())
        dbapi_connection.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE)

    def on_sql(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(_statement_name(statement))

    def walk(serial: int) -> list[list[str]]:
        clock.moment = START
        sent: list[list[str]] = []
        for step in STEPS:
            first = len(statements)
            if step == "register":
                case_id = cases.register(rt, actors["social_policy"], f.registration(rt.today(), serial)).id
            else:
                clock.advance(days=STEP_DAYS)
                cases.fire(rt, actors[f.DEPARTMENT[step]], case_id, step, f.RECORDS[step](rt.today()))
            sent.append(statements[first:])
        return sent

    engine.dispose()  # one fresh connection, warmed below until psycopg has prepared the statements (after 5 uses)
    tracing = False
    for name, listener in (("checkin", on_checkin), ("before_cursor_execute", on_sql)):
        event.listen(engine, name, listener)
    try:
        for warm in range(len(serials) - 1):
            walk(serials[warm])
        tracing = True
        with engine.connect():
            pass  # its check-in starts trace file 0, for the first command
        sent = walk(serials[-1])
    finally:
        event.remove(engine, "checkin", on_checkin)
        event.remove(engine, "before_cursor_execute", on_sql)
        engine.dispose()
        for handle in files:
            handle.close()
    print(f"\nwire trace of one case (libpq trace files in {folder}); a round trip = one ReadyForQuery from the server")
    for number, (step, names) in enumerate(zip(STEPS, sent, strict=True)):
        lines = (folder / f"{number}.txt").read_text(errors="replace").splitlines()
        trips = sum(1 for line in lines if "\tReadyForQuery" in line)
        simple = [line.split("\t")[3].strip().strip('"') for line in lines if line.startswith("F\t") and "\tQuery\t" in line]
        print(f"  {step:<15} {trips:2d} round trips: simple queries {simple} + {len(names)} statements: {', '.join(names)}")
    print("  (';' is the pool's pre-ping: sqlalchemy pool_pre_ping=True runs it at every checkout)")


def _statement_name(statement: str) -> str:
    words = statement.split()
    verb = words[0].upper()
    marker = {"SELECT": "FROM", "INSERT": "INTO", "UPDATE": "UPDATE", "DELETE": "FROM"}.get(verb)
    table = words[words.index(marker) + 1] if marker in words else "?"
    return f"{verb} {table}"


if __name__ == "__main__":
    main()
