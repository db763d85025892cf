"""Registration import files for the tests: rows from registration records, written as the template's CSV or Excel."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from openpyxl import load_workbook

from services import import_files


def row_of(record: dict[str, Any], **cells: Any) -> dict[str, Any]:
    """Return a file row (column field → cell) for a registration record; `cells` override single cells by field name."""
    row: dict[str, Any] = {}
    for column in import_files.COLUMNS:
        name = {"commune": "commune_code", "village": "village_code"}.get(column.field, column.field)
        group, _, leaf = name.rpartition(".")
        value = (record.get(group) or {}).get(leaf) if group else record.get(leaf)
        row[column.field] = {True: "x", False: ""}.get(value, value) if isinstance(value, bool) else value
    return row | {key.replace("__", "."): value for key, value in cells.items()}


def csv_file(rows: list[dict[str, Any]], *, header: list[str] | None = None, delimiter: str = ",") -> bytes:
    """Write rows as CSV under the template's header (or another one)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(header or [column.header for column in import_files.COLUMNS])
    for row in rows:
        writer.writerow(["" if row.get(c.field) is None else row[c.field] for c in import_files.COLUMNS])
    return out.getvalue().encode("utf-8-sig")


def xlsx_file(rows: list[dict[str, Any]]) -> bytes:
    """Fill the downloadable Excel template with rows; ISO dates become real date cells, as an officer's Excel would hold."""
    book = load_workbook(io.BytesIO(import_files.template_xlsx()))
    sheet = book.worksheets[0]
    for number, row in enumerate(rows, 2):
        for position, column in enumerate(import_files.COLUMNS, 1):
            value = row.get(column.field)
            if column.kind == "date" and isinstance(value, str) and len(value) == 10 and value[4] == "-":
                value = date.fromisoformat(value)
            sheet.cell(row=number, column=position, value=value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
