"""Importing registrations from a file: each row registered through `cases.register` in its own transaction, and the report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from services import access, cases, import_files, places, queries
from services.import_files import COLUMN_BY_FIELD, COLUMNS, Column, Table
from services.runtime import Runtime
from services.users import SYSTEM, Actor
from workflows.errors import DomainError, Forbidden, Problem, RecordInvalid, problem
from workflows.records import validate_record

# The record's fields that the place columns fill in (a problem about one is shown on its column).
_PLACE_FIELDS = {"commune_code": "commune", "village_code": "village"}


@dataclass(frozen=True)
class RowProblem:
    """One thing wrong with a row: the record field, the file's column header, and the message in both languages."""

    code: str
    field: str | None
    column: str | None
    vi: str
    en: str


@dataclass
class RowReport:
    """What became of one row: its number in the sheet, registered / valid (dry run) / refused, the case, the problems."""

    row: int
    status: str
    full_name: str | None
    case_id: int | None = None
    problems: list[RowProblem] = field(default_factory=list)


@dataclass
class ImportReport:
    """The outcome of a whole file, row by row."""

    file_name: str
    file_kind: str
    dry_run: bool
    rows: list[RowReport]

    def counts(self) -> dict[str, int]:
        """Count the rows by status."""
        found = {"rows": len(self.rows), "registered": 0, "valid": 0, "refused": 0}
        for row in self.rows:
            found[row.status] += 1
        return found

    def as_dict(self) -> dict[str, Any]:
        """Return the report as plain data (the API's answer, the report file)."""
        return {"file_name": self.file_name, "file_kind": self.file_kind, "dry_run": self.dry_run, "counts": self.counts(),
                "rows": [asdict(row) for row in self.rows]}  # fmt: skip


def require_importer(actor: Actor) -> None:
    """Refuse a user who may not register workers (social policy officers and supervisors may)."""
    access.require_role(actor, access.CASE_WRITERS, "nhập hồ sơ từ tệp", "import registrations")
    if actor.role == "officer" and actor.department != "social_policy":
        raise Forbidden(
            [problem("department.not_owner", f"Bộ phận {actor.department} không được đăng ký người lao động (chỉ: social_policy).",
                     f"Department {actor.department} may not register workers (only: social_policy).", "actor")]
        )  # fmt: skip


def import_registrations(rt: Runtime, actor: Actor, content: bytes, file_name: str, *, dry_run: bool) -> ImportReport:
    """Register each row of a file in its own transaction (a refused row writes nothing), or with dry_run only check them."""
    require_importer(actor)
    table = import_files.read_table(content, file_name)
    with rt.unit_of_work(writes=False) as conn:
        scope = places.in_scope(conn, actor)
    first_row_of: dict[str, int] = {}
    reports = []
    for number, cells in table.rows:
        record, problems = _record_of(table, cells, scope)
        personal_id = str(record.get("personal_id") or "")
        if personal_id in first_row_of:  # the first row of an ID goes ahead as it would alone; the later ones wait
            problems.append(_same_id_as(first_row_of[personal_id]))
        elif personal_id:
            first_row_of[personal_id] = number
        problems += _field_problems(rt, record, problems)
        report = RowReport(number, "refused", record.get("full_name"))
        if problems:
            report.problems = [_on_column(p) for p in problems]
        elif dry_run:
            _check(rt, actor, record, report)
        else:
            _register(rt, actor, record, report)
        reports.append(report)
    return ImportReport(file_name, table.kind, dry_run, reports)


def _record_of(table: Table, cells: list[Any], scope: places.Places) -> tuple[dict[str, Any], list[Problem]]:
    """Build the registration record of a row from its cells, with the problems of cells that cannot be read."""
    problems: list[Problem] = []
    given: dict[str, Any] = {}
    for column, cell in zip(table.columns, cells, strict=False):
        if column is None:
            continue
        value, found = import_files.cell_value(column, cell)
        if found is not None:
            problems.append(found)
        elif value is not None:
            given[column.field] = value
    place, place_problems = scope.find(
        given.pop("commune", None), given.pop("village", None), commune_field="commune", village_field="village"
    )
    problems += place_problems
    if place is not None:
        given |= {"commune_code": place.commune_code, "village_code": place.village_code}
    record: dict[str, Any] = {}
    for path, value in given.items():
        group, _, name = path.rpartition(".")
        (record.setdefault(group, {}) if group else record)[name] = value
    return record, problems


def _field_problems(rt: Runtime, record: dict[str, Any], already: list[Problem]) -> list[Problem]:
    """Validate the row as the registration command will, leaving out the fields its cells or place already explained."""
    explained = {p.field for p in already}
    if explained & {"commune", "village"}:
        explained |= set(_PLACE_FIELDS)  # left out of the record, so the record would call them missing
    try:
        validate_record("registration", record, rt.today(), rt.policy)
    except RecordInvalid as error:
        return [p for p in error.problems if p.field not in explained]
    return []


def _check(rt: Runtime, actor: Actor, record: dict[str, Any], report: RowReport) -> None:
    """Say whether a valid row would register: the one thing left to know is whether the person already has a case."""
    personal_id = str(record["personal_id"])
    if not queries.list_cases(rt, actor=SYSTEM, text_query=personal_id, limit=1):
        report.status = "valid"
        return
    mine = queries.list_cases(rt, actor=actor, text_query=personal_id, limit=1)
    where_vi, where_en = (f" (hồ sơ số {mine[0]['id']})", f" (case {mine[0]['id']})") if mine else ("", "")  # nothing of another scope
    vi = f"Người có số định danh này đã có hồ sơ{where_vi}."  # no ID in the message: reports are saved and passed on
    en = f"The person with this ID already has a case{where_en}."
    report.problems = [_on_column(problem("person.has_case", vi, en, "personal_id"))]


def _register(rt: Runtime, actor: Actor, record: dict[str, Any], report: RowReport) -> None:
    try:
        ref = cases.register(rt, actor, record)
    except DomainError as error:
        report.problems = [_on_column(p) for p in error.problems]
        return
    report.status, report.case_id = "registered", ref.id


def _on_column(found: Problem) -> RowProblem:
    """Name the file's column a problem is about (a group such as `consent` names its first column)."""
    name = _PLACE_FIELDS.get(found.field or "", found.field or "")
    column: Column | None = COLUMN_BY_FIELD.get(name) or next((c for c in COLUMNS if name and c.field.startswith(f"{name}.")), None)
    return RowProblem(found.code, found.field, column.header if column else None, found.vi, found.en)


def _same_id_as(row: int) -> Problem:
    return problem(
        "import.duplicate_id",
        f"Số định danh này đã có ở dòng {row} của tệp; mỗi người chỉ một dòng.",
        f"This personal ID is already on row {row} of the file; one row per person.",
        "personal_id",
    )
