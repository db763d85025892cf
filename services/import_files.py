"""The registration import file: its columns, reading an Excel or CSV upload into rows, the template and the report file."""

from __future__ import annotations

import contextlib
import csv
import io
import re
import zipfile
from collections.abc import Generator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from services.exports import csv_document
from workflows.errors import DomainError, Problem, RecordInvalid, problem
from workflows.identity import fold_name

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 1000
_MAX_UNPACKED = 40 * 1024 * 1024
_MAX_COLUMNS = 60  # a sheet's stray formatting can reach column XFD; what lies past our columns is never read


class FileTooLarge(DomainError):
    """An upload past the size limit."""

    http_status = 413


@dataclass(frozen=True)
class Column:
    """One column of the file: the field it fills (its English name), the Vietnamese header, and the words it accepts."""

    field: str
    label_vi: str
    required: bool
    kind: str  # text, digits (kept as text: leading zeros matter), date, yes_no, choice
    help_vi: str
    help_en: str
    choices: tuple[tuple[str, str], ...] = ()  # (the Vietnamese word, the code the record takes)

    @property
    def header(self) -> str:
        """Return the template's header: the Vietnamese label and the English field name."""
        return f"{self.label_vi} ({self.field})"


_YES_NO = "x / có / không"
_PRIORITY = [
    ("poor_household", "Hộ nghèo", "Poor household"),
    ("near_poor_household", "Hộ cận nghèo", "Near-poor household"),
    ("ethnic_minority", "Dân tộc thiểu số", "Ethnic minority"),
    ("land_revoked", "Bị thu hồi đất nông nghiệp", "Farm land revoked"),
    ("military_service_done", "Đã hoàn thành nghĩa vụ quân sự", "Finished military service"),
    ("police_service_done", "Đã hoàn thành nghĩa vụ công an", "Finished police service"),
    ("family_of_merit", "Gia đình người có công", "Family of people with merit"),
    ("youth_volunteer", "Thanh niên tình nguyện", "Youth volunteer"),
]
COLUMNS = [
    Column("full_name", "Họ và tên", True, "text", "Như trên CCCD", "As on the ID card"),
    Column("date_of_birth", "Ngày sinh", True, "date", "dd/mm/yyyy", "dd/mm/yyyy or YYYY-MM-DD"),
    Column("sex", "Giới tính", True, "choice", "Nam / Nữ", "male / female", (("Nam", "male"), ("Nữ", "female"))),
    Column("personal_id", "Số định danh cá nhân (CCCD)", True, "digits", "12 chữ số, định dạng ô là Văn bản", "12 digits, cell formatted as Text"),
    Column("ethnicity", "Dân tộc", False, "text", "Để trống: Kinh", "Empty: Kinh"),
    Column("phone", "Số điện thoại", True, "digits", "0xxxxxxxxx, định dạng ô là Văn bản", "0xxxxxxxxx, cell formatted as Text"),
    Column("commune", "Xã", False, "text", "Mã hoặc tên; để trống: xã của bạn", "Code or name; empty: your commune"),
    Column("village", "Thôn", True, "text", "Mã hoặc tên thôn trong xã", "The village's code or name in the commune"),
    *[Column(f"priority.{name}", vi, False, "yes_no", _YES_NO, f"{en}: x / yes / no") for name, vi, en in _PRIORITY],
    Column("consent.given", "Đồng ý xử lý dữ liệu cá nhân", True, "yes_no", "Phải là có (Luật 91/2025)", "Must be yes (Law 91/2025)"),
    Column("consent.given_on", "Ngày đồng ý", True, "date", "dd/mm/yyyy", "dd/mm/yyyy or YYYY-MM-DD"),
    Column("consent.method", "Hình thức đồng ý", False, "choice", "Phiếu ký / Điện tử; để trống: phiếu ký",
           "signed_form / electronic; empty: signed_form", (("Phiếu ký", "signed_form"), ("Điện tử", "electronic"))),
    Column("source", "Nguồn hồ sơ", True, "choice", "Tự đến / Họp thôn / Giới thiệu / Doanh nghiệp",
           "walk_in / village_outreach / referral / enterprise",
           (("Tự đến", "walk_in"), ("Họp thôn", "village_outreach"), ("Giới thiệu", "referral"), ("Doanh nghiệp", "enterprise"))),
]  # fmt: skip
COLUMN_BY_FIELD = {column.field: column for column in COLUMNS}
_YES = {"x", "co", "yes", "true", "1", "dung"}
_NO = {"khong", "no", "false", "0", "sai"}
_DAMAGED = (InvalidFileException, zipfile.BadZipFile, KeyError, IndexError, OSError, ValueError, TypeError, SyntaxError, EOFError)
Lines = Generator[tuple[int, list[Any]], None, None]
_VI_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


@dataclass(frozen=True)
class Table:
    """An upload read into rows: the columns found in the header, and each data row by its number in the sheet."""

    kind: str  # xlsx or csv
    columns: list[Column | None]  # per position; None for a blank header cell past the data
    rows: list[tuple[int, list[Any]]]


def read_table(content: bytes, file_name: str) -> Table:
    """Read an Excel (.xlsx) or CSV upload, or refuse it whole saying why (type, size, empty, header)."""
    if len(content) > MAX_BYTES:
        raise FileTooLarge(
            [
                _file_problem(
                    "file.too_large", f"Tệp lớn hơn {MAX_BYTES // 1048576} MB.", f"The file is larger than {MAX_BYTES // 1048576} MB."
                )
            ]
        )
    if not content.strip():
        raise RecordInvalid([_file_problem("file.empty", "Tệp trống.", "The file is empty.")])
    kind, lines = _lines(content, file_name)
    numbered: list[tuple[int, list[Any]]] = []
    with contextlib.closing(lines) as stream:
        for number, cells in stream:
            if any(not _blank(cell) for cell in cells):  # blank lines are skipped, not counted
                numbered.append((number, cells))
            if len(numbered) > MAX_ROWS + 1:  # the header and one row past the limit: enough to refuse
                break
    if not numbered:
        raise RecordInvalid([_file_problem("file.empty", "Tệp không có dòng nào.", "The file has no rows.")])
    (_, header), rows = numbered[0], numbered[1:]
    columns = match_header(header)
    if not rows:
        raise RecordInvalid(
            [_file_problem("file.no_rows", "Tệp chỉ có dòng tiêu đề, không có người nào.", "The file has a header but no rows.")]
        )
    if len(rows) > MAX_ROWS:
        raise RecordInvalid(
            [
                _file_problem(
                    "file.too_many_rows", f"Tệp có hơn {MAX_ROWS} dòng; hãy chia nhỏ.", f"The file has more than {MAX_ROWS} rows; split it."
                )
            ]
        )
    return Table(kind, columns, rows)


def too_large() -> Problem:
    """Say that an upload is past the size limit."""
    mb = MAX_BYTES // (1024 * 1024)
    return _file_problem("file.too_large", f"Tệp lớn hơn {mb} MB; hãy chia nhỏ.", f"The file is larger than {mb} MB; split it.")


def _lines(content: bytes, file_name: str) -> tuple[str, Lines]:
    """Tell the file's kind by its content (a name can lie) and return its lines numbered as the officer sees them."""
    if content.startswith(b"PK\x03\x04"):
        return "xlsx", _xlsx_lines(content)
    if content.startswith(b"\xd0\xcf\x11\xe0"):
        raise RecordInvalid(
            [_file_problem("file.xls", "Tệp Excel cũ (.xls): hãy lưu lại dạng .xlsx.", "An old Excel file (.xls): save it as .xlsx.")]
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        vi = f"Tệp '{file_name}' không phải Excel (.xlsx) hay CSV UTF-8; với CSV hãy chọn 'CSV UTF-8' khi lưu."
        en = f"'{file_name}' is neither Excel (.xlsx) nor UTF-8 CSV; for CSV choose 'CSV UTF-8' when saving."
        raise RecordInvalid([_file_problem("file.type", vi, en)]) from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","  # Excel in a Vietnamese locale writes ';'
    try:  # read now: a damaged CSV (a field over the csv module's limit) is refused here, not halfway through the import
        rows = list(enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), 1))
    except csv.Error:
        vi, en = f"Tệp '{file_name}' bị hỏng hoặc có một ô quá dài.", f"'{file_name}' is damaged or has a cell that is too long."
        raise RecordInvalid([_file_problem("file.damaged", vi, en)]) from None
    return "csv", ((number, row[:_MAX_COLUMNS]) for number, row in rows)


def _xlsx_lines(content: bytes) -> Lines:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:  # a small zip can unpack to gigabytes: look before reading
            unpacked = sum(member.file_size for member in archive.infolist())
        if unpacked > _MAX_UNPACKED:
            raise RecordInvalid([_file_problem("file.too_large", "Tệp Excel giải nén quá lớn.", "The Excel file unpacks too large.")])
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        try:
            sheet = book.worksheets[0]  # the template's first sheet holds the data; the guide is the second
            for number, row in enumerate(sheet.iter_rows(max_col=_MAX_COLUMNS, values_only=True), 1):
                yield number, list(row)
        finally:
            book.close()
    except _DAMAGED:  # the parsers' own errors on a damaged or foreign file: the officer can only send another file
        raise RecordInvalid(
            [_file_problem("file.type", "Tệp .xlsx bị hỏng hoặc không phải Excel.", "The .xlsx file is damaged or not Excel.")]
        ) from None


def match_header(header: list[Any]) -> list[Column | None]:
    """Match each header cell to a column (by its English name, Vietnamese label, or both), or refuse the file."""
    known = {fold_name(name): column for column in COLUMNS for name in (column.field, column.label_vi, column.header)}
    columns: list[Column | None] = []
    problems: list[Problem] = []
    for position, cell in enumerate(header, 1):
        if _blank(cell):
            columns.append(None)
            continue
        column = known.get(fold_name(str(cell)))
        if column is None:
            problems.append(
                _header_problem(
                    "header.unknown",
                    f"Cột {position} '{cell}' không có trong mẫu.",
                    f"Column {position} '{cell}' is not in the template.",
                    position,
                )
            )
        elif column in columns:
            problems.append(_header_problem("header.duplicate", f"Cột '{cell}' có hai lần.", f"Column '{cell}' appears twice.", position))
        columns.append(column)
    for column in COLUMNS:
        if column.required and column not in columns:
            problems.append(
                _header_problem(
                    "header.missing", f"Thiếu cột bắt buộc '{column.header}'.", f"The required column '{column.header}' is missing.", None
                )
            )
    if problems:
        hint = problem(
            "header.template",
            "Hãy dùng tệp mẫu: dòng đầu là tiêu đề các cột.",
            "Use the template: the first row names the columns.",
            "header",
        )
        raise RecordInvalid([*problems, hint])
    return columns


def cell_value(column: Column, value: Any) -> tuple[Any, Problem | None]:
    """Turn a cell into the value the record takes, or say why it cannot be read; an empty cell is None."""
    if _blank(value):
        return None, None
    if column.kind == "digits" and isinstance(value, int | float):
        vi = "Ô đang ở dạng số nên mất số 0 ở đầu; hãy định dạng cột là Văn bản (Text) rồi nhập lại."
        en = "The cell holds a number, which loses leading zeros; format the column as Text and enter it again."
        return None, problem("cell.number_not_text", vi, en, column.field)
    if column.kind == "date":
        return _date_value(value), None
    if column.kind == "yes_no":
        return _yes_no(value), None
    if column.kind == "choice":
        return _choice(column, value)
    return str(value).strip(), None


def _date_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    written = str(value).strip()
    vi_date = _VI_DATE.match(written)
    if vi_date:
        day, month, year = vi_date.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"  # an impossible day (31/02) is still refused by the record
    return written


def _yes_no(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    word = fold_name(str(value))
    return True if word in _YES else False if word in _NO else str(value).strip()  # else the record says it is not yes or no


def _choice(column: Column, value: Any) -> tuple[Any, Problem | None]:
    word = fold_name(str(value))
    for vi_word, code in column.choices:
        if word in (fold_name(vi_word), code):
            return code, None
    allowed_vi = ", ".join(f"{vi_word} ({code})" for vi_word, code in column.choices)
    allowed_en = ", ".join(code for _, code in column.choices)
    vi, en = f"'{value}' không hợp lệ; dùng: {allowed_vi}.", f"'{value}' is not valid; use: {allowed_en}."
    return None, problem("cell.choice", vi, en, column.field)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _file_problem(code: str, vi: str, en: str) -> Problem:
    return problem(code, vi, en, "file")


def _header_problem(code: str, vi: str, en: str, position: int | None) -> Problem:
    return problem(code, vi, en, f"header.{position}" if position else "header")


# --- the template and the report --------------------------------------------------------------------------------------


def template_xlsx() -> bytes:
    """Return the Excel template: the header row to fill in, and a guide sheet on each column."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Dang ky"
    sheet.append([column.header for column in COLUMNS])
    for position, column in enumerate(COLUMNS, 1):
        cell = sheet.cell(row=1, column=position)
        cell.font = Font(bold=True)
        letter = get_column_letter(position)
        sheet.column_dimensions[letter].width = max(14, len(column.header) + 2)
        if column.kind == "digits":  # typed into a Text column, an ID or phone keeps its leading zero
            for row in range(2, MAX_ROWS + 2):
                sheet.cell(row=row, column=position).number_format = "@"
    sheet.freeze_panes = "A2"
    guide = book.create_sheet("Huong dan - Guide")
    guide.append(["Cột / Column", "Bắt buộc / Required", "Cách ghi", "How to fill in"])
    for cell in guide[1]:
        cell.font = Font(bold=True)
    for column in COLUMNS:
        guide.append([column.header, "có / yes" if column.required else "không / no", column.help_vi, column.help_en])
    guide.column_dimensions["A"].width = 48
    guide.column_dimensions["C"].width = guide.column_dimensions["D"].width = 50
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def template_csv() -> bytes:
    """Return the CSV template: the header row only (UTF-8 with a byte-order mark, so Excel reads the accents)."""
    out = io.StringIO()
    csv.writer(out).writerow([column.header for column in COLUMNS])
    return out.getvalue().encode("utf-8-sig")


REPORT_COLUMNS = ["row", "status", "case_id", "full_name", "field", "column", "code", "message_vi", "message_en"]


def report_csv(rows: list[dict[str, Any]]) -> bytes:
    """Return an import report as CSV: one line per problem, one line for a row without any."""
    lines = []
    for row in rows:
        start = [row["row"], row["status"], row["case_id"] or "", row["full_name"] or ""]
        for found in row["problems"] or [None]:
            lines.append(
                start + ([found["field"] or "", found["column"] or "", found["code"], found["vi"], found["en"]] if found else [""] * 5)
            )
    return csv_document(REPORT_COLUMNS, lines)
