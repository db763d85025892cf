"""Reminders per second end to end through Redis and one Celery worker, against a no-op task on the same broker and worker.

Setup, untimed: a scratch PostgreSQL database with the demo reference data; N cases (default 10,000) registered
through `services.cases.register` on 1 June 2026 (a FixedClock), each opening the 30-day counselling clock and its
reminder ladder as `services.followups` writes them (the registrations' own outbox messages are then marked done:
they are not what is measured); an aiosmtpd server on loopback in this process; ONE worker process,
`celery -A workers.app worker -Q <every queue> -c 1 --include bench._noop_task`, on Redis under a random key prefix,
with the production Celery settings (acks_late, prefetch 1) and docker-compose.yml's log level (WARNING).

Each round runs two phases on that worker, alternating which goes first:

* reminders: the rungs are re-armed (the previous phase's outbox rows, notifications and deliveries deleted, rungs
  back to pending), `services.deadlines.sweep` at 28 June 2026 09:00 fires exactly rung 1 of every counselling clock
  (N outbox rows to `social_policy`), then VACUUM ANALYZE. Timed from the first `services.outbox.relay` call (called
  until nothing is pending, 500 messages a call, publishing them as `workers.app.publish` does: tasks
  `dept.social_policy.handle([message ids])` of up to 50 ids, services.runtime.MESSAGES_PER_TASK) until the last of
  the N rows is done: the latest `handled_at` the worker stamped (the database is polled every 0.5 s to see that all
  are done, which costs it little). The worker handles each id on its own (`services.outbox.handle`), two of a
  task's ids at once (`services.outbox.OVERLAP`): it reads the row with the rung and its recipients (one
  statement), takes the e-mail delivery, mails the commune's social_policy officer over SMTP, then in one
  transaction records the in-app notification, marks the delivery sent and the row done (no webhook is configured);
* no-op: N `bench.noop` tasks (bench/_noop_task.py: one Redis INCR) sent with `send_task` to the `system` queue.
  Timed from the first send until their counter reaches N (polled every 50 ms).

A round prints both rates, their ratio (goal ≥ 0.5), the CPU milliseconds per item of the worker (consumer and
pool process), of the scratch database's PostgreSQL backends, of redis-server and of this process (relay or sends,
SMTP server, polling), and checks that every reminder was mailed exactly once (Message-IDs) and recorded once.
Then the medians. `--profile` afterwards handles reminders inside this process (no broker; the worker idles) to
split the cost of `services.outbox.handle`: with and without the e-mail, round trips per reminder, and cProfile.

Run from the repository root (PostgreSQL from --database-url or $TEST_DATABASE_URL, Redis from --redis-url or
$TEST_REDIS_URL):

    .venv/bin/python bench/reminders.py                         # 10,000 reminders, 3 rounds
    .venv/bin/python bench/reminders.py --reminders 2000 --repeat 5 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import redis
from _common import (
    ROOT,
    START,
    add_database_option,
    cpu_seconds,
    descendants,
    libpq_url,
    load_actors,
    median,
    on_scratch_database,
    server_summary,
)
from celery import Celery
from sqlalchemy import Engine, event, text

from config.celery import SYSTEM_QUEUE, make_celery, queue_names, send_message
from config.settings import Settings
from services import cases, deadlines, outbox
from services.clock import FixedClock
from services.runtime import Runtime, build_runtime
from tests import factories as f
from tests.smtp import Mailbox, smtp_server

# 28 June 09:00 in Vietnam: rung 1 (26 June, three working days before the 1 July due date) is due, rung 2 is not.
SWEEP_AT = START + timedelta(days=27)
POLL_SECONDS = 0.05  # Redis GET of the no-ops' counter: costs nothing, and its 50 ms are the no-op phase's resolution
DB_POLL_SECONDS = 0.5  # a count over the outbox costs PostgreSQL CPU; the reminder phase ends at the last handled_at anyway
STALL_SECONDS = 120  # no progress for this long: the worker is stuck, give up with its log
DATA_KEYS = ("GUESTWORK_DATA_KEY", "GUESTWORK_LOOKUP_KEY")
OFFICER_MAIL = "social_policy@camtan.example.org"
MESSAGE_ID = re.compile(rb"^Message-ID: <([0-9a-f-]{36})\.[0-9a-f]{12}@guestwork>", re.MULTILINE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_option(parser)
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/14",
        help="Redis for the broker; keys go under a random prefix, deleted at the end (default: $TEST_REDIS_URL, else %(default)s)",
    )
    parser.add_argument("--reminders", type=int, default=10_000, help="reminders (= cases) and no-op tasks per phase (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of reminders + no-op, alternating (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed reminders and no-ops before the rounds (default %(default)s)")
    parser.add_argument("--profile", action="store_true", help="afterwards, split the cost of outbox.handle inside this process")
    parser.add_argument("--profile-messages", type=int, default=1_000, help="reminders per profiled way (default %(default)s)")
    args = parser.parse_args()
    on_scratch_database(args.database_url, lambda engine, url: run(engine, url, args))


@dataclass
class Phase:
    """One timed phase: how many items, how long, how long the publishing took, CPU seconds by process group."""

    items: int
    seconds: float
    publish_seconds: float
    cpu: dict[str, float]

    def rate(self) -> float:
        """Return items per second, end to end."""
        return self.items / self.seconds

    def cpu_line(self) -> str:
        """Describe the CPU milliseconds per item of each process group, and how busy the machine was."""
        parts = [f"{name} {1000 * seconds / self.items:.2f}" for name, seconds in self.cpu.items()]
        busy = sum(self.cpu.values()) / self.seconds
        load = os.getloadavg()[0]
        return f"CPU ms/item: {', '.join(parts)} (these busy {busy:.2f} of {os.cpu_count()} CPUs; machine load average {load:.1f})"


@dataclass
class Worker:
    """One `celery worker` process on every queue, with the no-op task included; stopped by its process group."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the worker: every queue, one pool process, the production settings of config/celery.py."""
        command = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-Q", ",".join(queue_names(Settings())), "-c", "1"]
        command += ["--include", "bench._noop_task", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        command += ["-l", "WARNING", "-n", f"bench{uuid.uuid4().hex[:6]}@%h"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        """Stop the worker (warm shutdown), killing its process group if it does not stop within 20 s."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def pids(self) -> dict[str, list[int]]:
        """Return the consumer (main) process and its pool processes."""
        assert self.process is not None
        return {"worker consumer": [self.process.pid], "worker pool": descendants(self.process.pid)}

    def tail(self) -> str:
        """Return the end of the worker's log."""
        return self.log.read_text(errors="replace")[-4000:]


@dataclass
class Bench:
    """Everything a phase needs: the runtime, a psycopg connection, the broker app, Redis, the mailbox and the worker."""

    rt: Runtime
    pg: psycopg.Connection[Any]
    app: Celery
    redis: redis.Redis
    prefix: str
    mailbox: Mailbox
    smtp_port: int
    worker: Worker
    reminders: int
    redis_pid: int = 0
    backends: list[int] = field(default_factory=list)

    def publish(self, queue: str, message_ids: list[str]) -> None:
        """Publish outbox messages of one queue as one task, as workers.app.publish does, on this benchmark's broker."""
        send_message(self.app, queue, message_ids)

    def cpu(self) -> dict[str, float]:
        """Return the CPU seconds used so far by each process group of the run."""
        groups = self.worker.pids() | {"postgres": self.backends, "redis": [self.redis_pid]}
        return {name: cpu_seconds(pids) for name, pids in groups.items()} | {"bench process": time.process_time()}

    def count(self, sql: str) -> int:
        """Return a count from the database."""
        return int(self.pg.execute(sql).fetchone()[0])


def run(engine: Engine, url: str, args: argparse.Namespace) -> None:
    print(server_summary(engine))
    rt = build_runtime(Settings(), engine=engine, clock=FixedClock(START))
    register_cases(rt, args.reminders)
    prefix = f"gwbench-{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(args.redis_url)
    with tempfile.TemporaryDirectory(prefix="gw_bench_worker_") as folder, smtp_server() as (mailbox, port):
        # No GUESTWORK_ setting of the caller's, except the scratch data keys (_common.py) the worker's runtime needs.
        env = {key: value for key, value in os.environ.items() if not key.startswith("GUESTWORK_") or key in DATA_KEYS}
        env |= {"DATABASE_URL": url, "BROKER_URL": args.redis_url, "GUESTWORK_BROKER_KEY_PREFIX": prefix}
        env |= {"GUESTWORK_SMTP_HOST": "127.0.0.1", "GUESTWORK_SMTP_PORT": str(port), "PYTHONPATH": str(ROOT)}
        settings = Settings(database_url=url, broker_url=args.redis_url, broker_key_prefix=prefix)
        worker = Worker(env, Path(folder) / "worker.log")
        try:
            with psycopg.connect(libpq_url(url), autocommit=True) as pg:
                bench = Bench(rt, pg, make_celery(settings), client, prefix, mailbox, port, worker, args.reminders)
                bench.redis_pid = int(client.info("server")["process_id"])
                worker.start()
                rounds(bench, args)
                if args.profile:
                    profile(bench, args.profile_messages)
        except BaseException:
            print(f"worker log (end):\n{worker.tail()}")
            raise
        finally:
            worker.stop()
            keys = list(client.scan_iter(f"{prefix}*"))
            if keys:
                client.delete(*keys)
            print(f"worker stopped; deleted {len(keys)} Redis keys under {prefix}")


def register_cases(rt: Runtime, count: int) -> None:
    """Register the cases through the service (each opens its counselling clock), then mark their own messages done."""
    officer = load_actors(rt.engine)["social_policy"]
    started = time.perf_counter()
    for serial in range(1, count + 1):
        cases.register(rt, officer, f.registration(rt.today(), serial=serial))
    seconds = time.perf_counter() - started
    with rt.unit_of_work() as conn:
        done = conn.execute(text("UPDATE outbox SET status = 'done', handled_at = created_at WHERE status = 'pending'")).rowcount
        conn.execute(text("ANALYZE"))
    print(
        f"registered {count:,} cases through services.cases.register in {seconds:.1f} s ({count / seconds:,.0f}/s); "
        f"their {done:,} case.registered messages marked done (not measured)"
    )


def rounds(bench: Bench, args: argparse.Namespace) -> None:
    """Warm up, then run the rounds, alternating which phase goes first; print each round and the medians."""
    n = bench.reminders
    started = time.perf_counter()
    noop_phase(bench, args.warmup)
    rearm(bench)
    outbox.relay(bench.rt, bench.publish, limit=args.warmup)
    wait(bench, lambda: args.warmup - bench.count("SELECT count(*) FROM outbox WHERE topic LIKE 'deadline.%' AND status = 'done'"))
    print(f"worker up and warmed with {args.warmup} no-ops and {args.warmup} reminders in {time.perf_counter() - started:.1f} s\n")
    results: list[tuple[Phase, Phase]] = []
    for number in range(1, args.repeat + 1):
        order = ("reminders", "no-op") if number % 2 else ("no-op", "reminders")
        done = {name: reminder_phase(bench) if name == "reminders" else noop_phase(bench, n) for name in order}
        reminders, noop = done["reminders"], done["no-op"]
        results.append((reminders, noop))
        print(
            f"round {number} ({order[0]} first): reminders {n:,} in {reminders.seconds:.1f} s = {reminders.rate():,.0f} reminders/s "
            f"(relay published all in {reminders.publish_seconds:.1f} s); no-op {n:,} in {noop.seconds:.1f} s = "
            f"{noop.rate():,.0f} tasks/s (sent in {noop.publish_seconds:.1f} s); ratio {reminders.rate() / noop.rate():.2f}"
        )
        print(f"    reminders {reminders.cpu_line()}")
        print(f"    no-op     {noop.cpu_line()}")
        print(f"    {check_reminders(bench)}")
    rate_r, rate_n = median([r.rate() for r, _ in results]), median([n.rate() for _, n in results])
    ratio = median([r.rate() / n.rate() for r, n in results])
    print(
        f"\nmedian over {len(results)} rounds: reminders {rate_r:,.0f} reminders/s, no-op {rate_n:,.0f} tasks/s, "
        f"ratio {ratio:.2f} (goal ≥ 0.5: {'met' if ratio >= 0.5 else 'MISSED'})"
    )


def rearm(bench: Bench) -> None:
    """Forget the reminders sent so far, fire rung 1 of every counselling clock again, and vacuum the tables touched."""
    with bench.rt.unit_of_work() as conn:
        conn.execute(text("DELETE FROM deliveries"))
        conn.execute(text("DELETE FROM notifications"))
        conn.execute(text("DELETE FROM outbox WHERE topic LIKE 'deadline.%'"))
        conn.execute(text("UPDATE deadline_rungs SET status = 'pending', fired_at = NULL WHERE status = 'fired'"))
    fired = deadlines.sweep(bench.rt, SWEEP_AT)
    kinds = {(rung.clock, rung.rung, rung.queue) for rung in fired}
    assert len(fired) == bench.reminders and kinds == {("counselling", 1, "social_policy")}, (len(fired), kinds)
    bench.pg.execute("VACUUM ANALYZE outbox, deliveries, notifications, deadline_rungs")
    bench.backends = [row[0] for row in bench.pg.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")]


def reminder_phase(bench: Bench) -> Phase:
    """Re-arm, then time relay → worker → every reminder's outbox row done."""
    rearm(bench)
    bench.mailbox.accepted.clear()
    before, started, wall = bench.cpu(), time.perf_counter(), datetime.now(UTC)
    while outbox.relay(bench.rt, bench.publish):
        pass
    published = time.perf_counter() - started
    wait(bench, lambda: bench.count("SELECT count(*) FROM outbox WHERE status IN ('pending', 'published')"), DB_POLL_SECONDS)
    spent = _spent(before, bench.cpu())
    # The worker stamps handled_at with the real time: the last stamp ends the phase, whenever the poll saw it.
    last = bench.pg.execute("SELECT max(handled_at) FROM outbox WHERE topic LIKE 'deadline.%'").fetchone()[0]
    return Phase(bench.reminders, (last - wall).total_seconds(), published, spent)


def noop_phase(bench: Bench, count: int) -> Phase:
    """Time sending `count` no-op tasks until the last one ran."""
    counter = f"{bench.prefix}bench:noop"
    bench.redis.delete(counter)
    before, started = bench.cpu(), time.perf_counter()
    for _ in range(count):
        bench.app.send_task("bench.noop", args=[counter], queue=SYSTEM_QUEUE)
    published = time.perf_counter() - started
    wait(bench, lambda: count - int(bench.redis.get(counter) or 0))
    seconds = time.perf_counter() - started
    return Phase(count, seconds, published, _spent(before, bench.cpu()))


def _spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in after}


def wait(bench: Bench, remaining: Callable[[], int], every: float = POLL_SECONDS) -> None:
    """Poll until nothing remains; fail with the worker's log if nothing moves for STALL_SECONDS."""
    last, moved = remaining(), time.monotonic()
    while last > 0:
        time.sleep(every)
        now = remaining()
        if now != last:
            last, moved = now, time.monotonic()
        elif time.monotonic() - moved > STALL_SECONDS:
            raise RuntimeError(f"no progress for {STALL_SECONDS} s with {last} left")


def check_reminders(bench: Bench) -> str:
    """Check the last reminder phase: each reminder mailed once to the officer, recorded once, published once."""
    n = bench.reminders
    sent = {row[0] for row in bench.pg.execute("SELECT message_id FROM outbox WHERE topic LIKE 'deadline.%' AND status = 'done'")}
    mails = bench.mailbox.accepted
    mailed = [match.group(1).decode() for _, content in mails if (match := MESSAGE_ID.search(content))]
    to_officer = all(rcpt == [OFFICER_MAIL] for rcpt, _ in mails)
    once = len(mails) == len(mailed) == len(set(mailed)) == n and set(mailed) == sent
    deliveries = bench.count("SELECT count(*) FROM deliveries WHERE status = 'sent' AND attempts = 1")
    notifications = bench.count("SELECT count(*) FROM notifications")
    first_publish = bench.count("SELECT count(*) FROM outbox WHERE topic LIKE 'deadline.%' AND attempts = 1")
    ok = once and to_officer and len(sent) == deliveries == notifications == first_publish == n
    assert ok, (len(mails), len(set(mailed)), len(sent), deliveries, notifications, first_publish, to_officer)
    return (
        f"e-mails received {len(mails):,} == {n:,}, each reminder once, all to {OFFICER_MAIL}: yes; outbox rows done {len(sent):,} "
        f"(published once); notifications {notifications:,}; deliveries sent on the first attempt {deliveries:,}"
    )


def profile(bench: Bench, count: int) -> None:
    """Handle reminders inside this process (no broker): with e-mail, without, and under cProfile; count round trips."""
    count = min(count, bench.reminders // 3)
    rearm(bench)
    while outbox.relay(bench.rt, lambda queue, message_ids: None):  # published, as far as the database knows
        pass
    ids = [row[0] for row in bench.pg.execute("SELECT message_id FROM outbox WHERE topic LIKE 'deadline.%' ORDER BY id")]
    mail = Settings(smtp_host="127.0.0.1", smtp_port=bench.smtp_port)
    print(f"\nprofile: services.outbox.handle called in this process, {count:,} reminders per way (SMTP server in this process too)")
    for label, settings, batch in (
        ("with e-mail", mail, ids[:count]),
        ("without e-mail (smtp_host unset)", Settings(), ids[count : 2 * count]),
    ):
        statements, transactions, seconds = _traced(bench.rt, settings, batch)
        print(
            f"  {label:<34} {1000 * seconds / count:.2f} ms/reminder ({count / seconds:,.0f}/s), "
            f"{statements / count:.1f} statements in {transactions / count:.1f} transactions per reminder"
        )
    profiler = cProfile.Profile()
    profiler.enable()
    for message_id in ids[2 * count : 3 * count]:
        outbox.handle(bench.rt, mail, message_id)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(r"(services/(outbox|notify|db)\.py|smtplib|sqlalchemy/engine/base\.py)", 20)
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip()))


def _traced(rt: Runtime, settings: Settings, batch: list[str]) -> tuple[int, int, float]:
    """Handle a batch of messages; return the statements and transactions it took, and the seconds."""
    counts = {"statements": 0, "transactions": 0}

    def on_sql(*_: Any) -> None:
        counts["statements"] += 1

    def on_begin(*_: Any) -> None:
        counts["transactions"] += 1

    event.listen(rt.engine, "before_cursor_execute", on_sql)
    event.listen(rt.engine, "begin", on_begin)
    try:
        started = time.perf_counter()
        for message_id in batch:
            assert outbox.handle(rt, settings, message_id).outcome == "handled"
        seconds = time.perf_counter() - started
    finally:
        event.remove(rt.engine, "before_cursor_execute", on_sql)
        event.remove(rt.engine, "begin", on_begin)
    return counts["statements"], counts["transactions"], seconds


if __name__ == "__main__":
    main()
