"""CSV files people download and open in Excel: UTF-8 with a byte-order mark, and no cell that Excel would run as a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

# A cell starting with one of these is a formula to Excel or LibreOffice (CSV injection): a name typed as
# '=HYPERLINK(...)' would become a live link in an officer's spreadsheet.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Return a value as a spreadsheet shows it literally (text that would start a formula gets a leading ')."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_document(header: list[str], rows: Iterable[Iterable[Any]]) -> bytes:
    """Return a CSV file with this header and rows, every cell made safe, ready for Excel (UTF-8 with BOM)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    return out.getvalue().encode("utf-8-sig")
