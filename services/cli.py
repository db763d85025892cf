"""The `guestwork` command line: database, cases, work items, deadlines, audit, workflow diagram and the demo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from services import audit, cases, deadlines, demo, migrate, queries, store, work, work_queries
from services.cli_keys import keys_app
from services.crypto import KeysMissing
from services.key_check import check_keys
from services.models import Department
from services.runtime import Runtime, build_runtime
from services.users import Actor, load_actor, officer_for
from workflows import case as workflow
from workflows.calendar import VIETNAM
from workflows.errors import DomainError

app = typer.Typer(help="guestwork: case workflows for guest workers (XKLĐ).", no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
case_app = typer.Typer(help="Work on cases.", no_args_is_help=True)
audit_app = typer.Typer(help="Prove the history.", no_args_is_help=True)
workflow_app = typer.Typer(help="The workflow definition.", no_args_is_help=True)
work_app = typer.Typer(help="A department's work items: claim, release, complete, reassign, count.", no_args_is_help=True)
deadlines_app = typer.Typer(help="The legal clocks of a case and the reminder sweep.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(case_app, name="case")
app.add_typer(audit_app, name="audit")
app.add_typer(workflow_app, name="workflow")
app.add_typer(work_app, name="work")
app.add_typer(deadlines_app, name="deadlines")
app.add_typer(keys_app, name="keys")

AsUser = Annotated[str | None, typer.Option("--as", help="Act as this user (default: an officer of the department that owns the step).")]
Version = Annotated[int | None, typer.Option("--version", help="The case version you read; a newer one refuses the command.")]
Reason = Annotated[str | None, typer.Option("--reason", help="Why (required for corrections, withdrawals, reopening).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
ItemId = Annotated[int, typer.Argument(help="The work item's number (as `guestwork inbox` shows it).")]
AsWorker = Annotated[str, typer.Option("--as", help="Act as this user.")]


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    """Build the runtime once per process."""
    try:
        built = build_runtime()
        check_keys(built)
        return built
    except KeysMissing as error:
        typer.echo(f"✗ Chưa có khóa mã hóa dữ liệu cá nhân. / {error}", err=True)
        raise typer.Exit(1) from None


@contextmanager
def refusals() -> Iterator[None]:
    """Turn a refused command into its problems on stderr and exit code 1."""
    try:
        yield
    except DomainError as error:
        for found in error.problems:
            where = f"{found.field}: " if found.field else ""
            typer.echo(f"✗ {where}{found.vi}\n  {found.en}", err=True)
        raise typer.Exit(1) from None


def read_json(path: Path) -> dict[str, Any]:
    """Read a record file, refusing one that is not a JSON object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        typer.echo(f"✗ Không đọc được tệp {path} / Cannot read {path}: {error}", err=True)
        raise typer.Exit(2) from None
    if not isinstance(data, dict):
        typer.echo(f"✗ {path}: hồ sơ phải là một đối tượng JSON / a record must be a JSON object", err=True)
        raise typer.Exit(2)
    return data


def acting(username: str | None, departments: tuple[str, ...], case_id: int | None = None) -> Actor:
    """Return the named user, or an officer of the step's department in the case's commune."""
    rt = runtime()
    with rt.unit_of_work(writes=False) as conn:
        if username:
            return load_actor(conn, username)
        unit = None
        if case_id is not None:
            unit = conn.execute(store.select_commune(case_id)).scalar()
        actor = officer_for(conn, departments, unit)
    typer.echo(f"(acting as {actor.username} / thực hiện với tư cách {actor.username})", err=True)
    return actor


def done(ref: cases.CaseRef) -> None:
    """Say where a command left the case."""
    typer.echo(f"✓ case {ref.id}: {ref.state} (version {ref.version})")


@app.callback()
def require_schema(context: typer.Context) -> None:
    """Refuse to work on a database that was never migrated, saying how to fix it."""
    if context.invoked_subcommand in ("db", "workflow", "keys", None):
        return
    engine = runtime().engine
    if not inspect(engine).has_table("alembic_version"):
        where = engine.url.render_as_string(hide_password=True)
        typer.echo(f"✗ Cơ sở dữ liệu {where} chưa được khởi tạo: chạy `guestwork db upgrade`.\n"
                   f"  The database {where} has no schema yet: run `guestwork db upgrade`.", err=True)  # fmt: skip
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest version and load departments and markets."""
    rt = runtime()
    migrate.upgrade(rt.engine, rt.policy)
    typer.echo(f"✓ database at head: {rt.engine.url.render_as_string(hide_password=True)}")


@app.command("demo")
def demo_command(if_empty: Annotated[bool, typer.Option("--if-empty", help="Do nothing when cases exist.")] = False) -> None:
    """Seed a demo commune with its villages, departments, users and about 50 cases in every state."""
    rt = runtime()
    if not demo.is_empty(rt):
        if if_empty:
            typer.echo("✓ demo data already present")
            return
        typer.echo(
            "✗ Cơ sở dữ liệu đã có hồ sơ; bản demo chỉ nạp vào cơ sở dữ liệu trống.\n  The database already has cases; the demo seeds an empty one.",
            err=True,
        )
        raise typer.Exit(1)
    with refusals():
        count = demo.seed(rt)
    typer.echo(
        f"✓ seeded {count} demo cases in {demo.COMMUNE[1]}; users: {', '.join(d for d, _ in demo.USERS)}, supervisor, province_supervisor, auditor, admin"
    )


@case_app.command("register")
def case_register(record: Path, as_user: AsUser = None) -> None:
    """Register a worker from a registration record (JSON)."""
    data = read_json(record)
    with refusals():
        done(cases.register(runtime(), acting(as_user, ("social_policy",)), data))


@case_app.command("fire")
def case_fire(
    case_id: int,
    trigger: str,
    record: Annotated[Path | None, typer.Option(help="The step's record (JSON).")] = None,
    version: Version = None,
    reason: Reason = None,
    as_user: AsUser = None,
) -> None:
    """Move a case along a step (see `case show` for the possible steps), with its record."""
    data = read_json(record) if record else None
    spec = workflow.TRANSITION_BY_TRIGGER.get(trigger)
    with refusals():
        actor = acting(as_user, spec.departments if spec else ("social_policy",), case_id)
        done(cases.fire(runtime(), actor, case_id, trigger, data, expected_version=version, reason=reason))


@case_app.command("record")
def case_record(case_id: int, kind: str, record: Path, version: Version = None, reason: Reason = None, as_user: AsUser = None) -> None:
    """Add a record for the next step, or correct one on file (with --reason); the old value stays in the history."""
    data = read_json(record)
    with refusals():
        if version is None and kind in queries.case_detail(runtime(), case_id)["records"]:
            typer.echo("✗ Sửa hồ sơ phải ghi --version (phiên bản đã xem trong `case show`).\n"
                       "  A correction needs --version (the version `case show` gave you), so it cannot overwrite someone else's.", err=True)  # fmt: skip
            raise typer.Exit(1)
        actor = acting(as_user, workflow.record_departments(kind), case_id)
        done(cases.put_record(runtime(), actor, case_id, kind, data, expected_version=version, reason=reason))


@case_app.command("withdraw")
def case_withdraw(
    case_id: int, reason: Annotated[str, typer.Option(help="Why the worker withdraws.")], version: Version = None, as_user: AsUser = None
) -> None:
    """Withdraw a case before departure."""
    with refusals():
        done(cases.withdraw(runtime(), acting(as_user, ("social_policy",), case_id), case_id, reason, expected_version=version))


@case_app.command("reopen")
def case_reopen(
    case_id: int, reason: Annotated[str, typer.Option(help="Why the case is reopened.")], version: Version = None, as_user: AsUser = None
) -> None:
    """Reopen an ended case as a new application of the same person."""
    with refusals():
        done(cases.reopen(runtime(), acting(as_user, ("social_policy",), case_id), case_id, reason, expected_version=version))


@case_app.command("show")
def case_show(case_id: int, as_json: AsJson = False) -> None:
    """Show a case: state, records, and what each next step needs."""
    with refusals():
        detail = queries.case_detail(runtime(), case_id)
    if as_json:
        typer.echo(json.dumps(detail, ensure_ascii=False, indent=2))
        return
    person = detail["person"]
    typer.echo(f"Case {detail['id']} · {person['full_name']} · {detail['village']}, {detail['commune']}")
    typer.echo(
        f"State: {detail['state']} ({detail['state_label']['vi']}) · owner {detail['owner_department']} · "
        f"version {detail['version']} · application {detail['application_no']} · source {detail['source']}"
    )
    typer.echo("Records: " + (", ".join(detail["records"]) or "—"))
    for step in detail["next_steps"]:
        status = "on file" if step["record_on_file"] else "needed: " + ", ".join(f["name"] for f in step["record_fields"] if f["required"])
        typer.echo(f"  → {step['trigger']} → {step['to_state']} by {'/'.join(step['departments'])}; {step['record']} record {status}")
        for found in step["problems"]:
            typer.echo(f"      ✗ {found['en']} / {found['vi']}")
    if not detail["next_steps"]:
        typer.echo("  (no further step: the case has ended)")


@case_app.command("history")
def case_history(case_id: int, as_json: AsJson = False) -> None:
    """Show a case's events in order: who did what, when, and why."""
    with refusals():
        events = queries.case_history(runtime(), case_id)
    if as_json:
        typer.echo(json.dumps(events, ensure_ascii=False, indent=2))
        return
    for event in events:
        moved = f"{event['from_state'] or '∅'} → {event['to_state']}" if event["from_state"] != event["to_state"] else event["to_state"]
        note = f" · reason: {event['reason']}" if event["reason"] else ""
        typer.echo(
            f"#{event['seq']:>3} {event['at'][:19]} {event['actor']:<14} {event['trigger']:<18} {moved}"
            f" [{event['record_kind'] or '-'}]{note}  {event['hash'][:12]}"
        )


@case_app.command("list")
def case_list(state: Annotated[str | None, typer.Option(help="Only cases in this state.")] = None, limit: int = 50, after: int = 0) -> None:
    """List cases in id order, a page at a time (--after the last id shown)."""
    if state is not None and state not in workflow.STATE_BY_NAME:
        known = ", ".join(workflow.STATE_BY_NAME)
        typer.echo(f"✗ Không có trạng thái '{state}' (có: {known}).\n  No state '{state}' (known: {known}).", err=True)
        raise typer.Exit(2)
    for row in queries.list_cases(runtime(), state=state, limit=limit, after_id=after):
        typer.echo(
            f"{row['id']:>6}  {row['state']:<15} v{row['version']:<3} {row['owner_department']:<14} {row['full_name']} ({row['village']})"
        )


@app.command("status")
def status() -> None:
    """Count cases by state."""
    counts = queries.count_by_state(runtime())
    for state in workflow.STATES:
        typer.echo(f"{state.name:<15} {counts.get(state.name, 0):>7}  {state.label_vi}")


@app.command("inbox")
def inbox_command(
    department: str,
    mine: Annotated[bool, typer.Option("--mine", help="Only the items you hold.")] = False,
    as_user: Annotated[str | None, typer.Option("--as", help="Whose inbox (default: an officer of the department).")] = None,
    limit: int = 50,
    as_json: AsJson = False,
) -> None:
    """List a department's open work items: overdue first, then priority groups, then by due time."""
    rt = runtime()
    with rt.unit_of_work(writes=False) as conn:
        known = list(conn.scalars(select(Department.code).order_by(Department.code)))
    if department not in known:
        names = ", ".join(known)
        typer.echo(f"✗ Không có bộ phận '{department}' (có: {names}).\n  No department '{department}' (known: {names}).", err=True)
        raise typer.Exit(2)
    with refusals():
        actor = acting(as_user, (department,))
        rows = work_queries.inbox(
            rt, actor, department=department, communes=actor.communes, now=rt.clock.now(), mine_only=mine, limit=limit
        )
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=lambda moment: moment.isoformat()))
        return
    if not rows:
        typer.echo("(không có việc nào / no open work items)")
        return
    typer.echo(f"{'item':>6}  {'case':>6}  {'kind':<18} {'state':<15} prio  {'due (Vietnam)':<17} {'status':<8} assignee")
    for row in rows:
        due = row["due_at"].astimezone(VIETNAM).strftime("%Y-%m-%d %H:%M") if row["due_at"] else "—"
        late = "!" if row["overdue"] else " "
        typer.echo(
            f"{row['id']:>6}  {row['case_id']:>6}  {row['kind']:<18} {row['state']:<15} {row['priority']:>4}  {due:<16}{late} "
            f"{row['status']:<8} {row['assignee'] or '—'}"
        )


def worked(ref: work.ItemRef) -> None:
    """Say where a command left the work item."""
    held = f" by {ref.assignee}" if ref.assignee else ""
    typer.echo(f"✓ work item {ref.id}: {ref.status}{held}")


@work_app.command("claim")
def work_claim(item_id: ItemId, as_user: AsWorker) -> None:
    """Take an open item of your department; if someone was faster you are told who."""
    with refusals():
        worked(work.claim(runtime(), acting(as_user, ()), item_id))


@work_app.command("release")
def work_release(item_id: ItemId, as_user: AsWorker) -> None:
    """Put an item you hold (or, as a supervisor, any item) back in the department's inbox."""
    with refusals():
        worked(work.release(runtime(), acting(as_user, ()), item_id))


@work_app.command("complete")
def work_complete(item_id: ItemId, as_user: AsWorker) -> None:
    """Finish a task you hold; the clock that opened it stops. A case step's item closes when the case moves on."""
    with refusals():
        worked(work.complete(runtime(), acting(as_user, ()), item_id))


@work_app.command("reassign")
def work_reassign(
    item_id: ItemId,
    to: Annotated[str, typer.Option("--to", help="The officer who takes the item over.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the case's history).")],
    as_user: Annotated[str, typer.Option("--as", help="Act as this supervisor.")],
) -> None:
    """Give an item to another officer of its department (supervisors); the case's history records it."""
    with refusals():
        worked(work.reassign(runtime(), acting(as_user, ()), item_id, to, reason))


@work_app.command("counts")
def work_counts() -> None:
    """Count each department's open work items, how many are claimed and how many are overdue."""
    rt = runtime()
    found = work_queries.counts(rt, rt.clock.now())
    typer.echo(f"{'department':<15} {'open':>6} {'claimed':>8} {'overdue':>8}")
    for department, number in found.items():
        typer.echo(f"{department:<15} {number['open']:>6} {number['claimed']:>8} {number['overdue']:>8}")
    if not found:
        typer.echo("(không có việc nào / no open work items)")


@deadlines_app.command("show")
def deadlines_show(case_id: int, as_json: AsJson = False) -> None:
    """Show a case's clocks: due dates (Vietnam), whether each was met, and its reminder rungs."""
    found = deadlines.case_deadlines(runtime(), case_id)
    if as_json:
        typer.echo(json.dumps(found, ensure_ascii=False, indent=2, default=str))
        return
    if not found:
        typer.echo(f"(hồ sơ {case_id} không có thời hạn nào / case {case_id} has no clocks)")
    for clock in found:
        met = {None: "running / đang chạy", True: "met / đúng hạn", False: "missed / quá hạn"}[clock["met"]]
        due = clock["due_at"].astimezone(VIETNAM).strftime("%d/%m/%Y")
        typer.echo(f"{clock['label_vi']} / {clock['label_en']}\n  {clock['department']}, due {due}, {clock['status']}: {met}")
        for rung in clock["rungs"]:
            when = rung["fires_at"].astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M")
            typer.echo(f"    {rung['rung']}. {when}  {rung['action']:<8} → {rung['to']:<20} {rung['status']}")


@deadlines_app.command("sweep")
def deadlines_sweep(
    now: Annotated[str | None, typer.Option("--now", help="Sweep as if it were this moment (ISO 8601 with offset).")] = None,
) -> None:
    """Fire the reminder rungs due by now (or --now), once each; the worker's relay sends them."""
    rt = runtime()
    try:
        moment = datetime.fromisoformat(now) if now else rt.clock.now()
    except ValueError:
        typer.echo(f"✗ Thời điểm không hợp lệ: {now!r}\n  Not a moment: {now!r} (e.g. 2026-12-01T09:00+07:00)", err=True)
        raise typer.Exit(2) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=VIETNAM)
    fired = deadlines.sweep(rt, moment)
    for rung in fired:
        subject = f"case {rung.case_id}" if rung.case_id is not None else f"deadline {rung.deadline_id}"  # a report's clock has no case
        typer.echo(f"✓ {subject}: {rung.clock} rung {rung.rung} ({rung.action}) → {rung.queue}")
    typer.echo(f"{len(fired)} rung(s) fired / đã kích hoạt {len(fired)} lời nhắc")


@audit_app.command("verify")
def audit_verify(
    case: Annotated[int | None, typer.Option("--case", help="Only this case.")] = None,
    anchor: Annotated[
        list[str] | None, typer.Option("--anchor", help="ID:HASH of an anchor kept outside the database (repeatable).")
    ] = None,
) -> None:
    """Recompute the hash chains and anchors; name the first bad event of each broken chain."""
    rt = runtime()
    if case is None:
        report = audit.verify_all(rt.engine)
    else:
        with rt.unit_of_work(writes=False) as conn:
            report = audit.verify(conn, case)
    with rt.unit_of_work(writes=False) as conn:
        for pinned in anchor or []:
            anchor_id, _, digest = pinned.partition(":")
            if not anchor_id.isdigit() or len(digest) != 64:
                typer.echo(f"✗ --anchor {pinned}: dùng dạng ID:HASH / use ID:HASH (the hash `audit anchor` printed)", err=True)
                raise typer.Exit(2)
            finding = audit.check_pinned(conn, int(anchor_id), digest)
            report.findings += [finding] if finding else []
    rate = report.events / report.seconds if report.seconds else 0
    typer.echo(
        f"checked {report.events} events in {report.cases} cases, {report.report_events} in {report.reports} reports and {report.anchors} anchors in {report.seconds:.2f} s ({rate:,.0f} events/s)"
    )
    for finding in report.findings:
        where = f"case {finding.case_id}, event {finding.seq} (id {finding.event_id})" if finding.case_id else "anchors"
        where = f"report {finding.report_id}, event {finding.seq}" if finding.report_id else where
        typer.echo(f"✗ {where}: {finding.en}\n  {finding.vi}")
    if report.ok:
        typer.echo("✓ history intact / lịch sử toàn vẹn")
    else:
        raise typer.Exit(1)


@audit_app.command("anchor")
def audit_anchor() -> None:
    """Seal the chain heads that moved since the last anchor; print the anchor's hash to keep outside."""
    rt = runtime()
    try:
        with rt.unit_of_work() as conn:
            sealed = audit.seal(conn, rt.clock.now())
    except IntegrityError:
        typer.echo("✗ Một lần niêm phong khác vừa chạy; thử lại. / Another seal ran at the same moment; try again.", err=True)
        raise typer.Exit(1) from None
    if sealed is None:
        typer.echo("✓ nothing new to seal")
    else:
        typer.echo(f"✓ anchor {sealed.id} sealed {sealed.heads} chain heads: {sealed.hash}")


@workflow_app.command("diagram")
def workflow_diagram(case: Annotated[int | None, typer.Option("--case", help="Highlight this case's state.")] = None) -> None:
    """Print the workflow as a Mermaid state diagram."""
    current = None
    if case is not None:
        rt = runtime()
        with refusals(), rt.unit_of_work(writes=False) as conn:
            current = store.load_case(conn, case).state
    typer.echo(workflow.mermaid(current))


@workflow_app.command("definition")
def workflow_definition() -> None:
    """Print the workflow definition as JSON."""
    typer.echo(json.dumps(workflow.definition(), ensure_ascii=False, indent=2, default=lambda f: getattr(f, "__name__", str(f))))


if __name__ == "__main__":
    app()
