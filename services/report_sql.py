"""The SQL that differs between PostgreSQL and SQLite in the reports: reading the records' JSON text, spans of days, medians.

case_records.data is canonical JSON as TEXT (so verify can compare it byte for byte with the history). SQLite reads
it with json_extract; PostgreSQL finds a record's day with CAST(data AS jsonb) ->> (the expression migration 0010
indexes) and its other fields by searching the canonical text (see below). Everything else in
services/indicator_queries.py is SQL both understand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The day each dated record kind is counted by. Migration 0010 indexes exactly these expressions (record_day below).
RECORD_DAYS: dict[str, tuple[str, ...]] = {
    "departure": ("departed_on",),
    "loan": ("decided_on", "declared_on"),
    "return": ("returned_on",),
    "overstay": ("reported_on",),
    "death": ("reported_on",),
}


@dataclass(frozen=True)
class JsonSql:
    """SQL fragments over a record's JSON for one dialect ("postgresql" or "sqlite")."""

    dialect: str

    @property
    def postgres(self) -> bool:
        """Tell whether the fragments are PostgreSQL's."""
        return self.dialect == "postgresql"

    def record_day(self, kind: str, column: str = "data") -> str:
        """Return the indexed expression of a record's day (the first of its date fields present), as ISO text."""
        if self.postgres:
            parts = [f"(CAST({column} AS jsonb) ->> '{name}')" for name in RECORD_DAYS[kind]]
        else:
            parts = [f"json_extract({column}, '$.{name}')" for name in RECORD_DAYS[kind]]
        return parts[0] if len(parts) == 1 else f"COALESCE({', '.join(parts)})"

    # The fields are read from the canonical text itself on PostgreSQL: casting
    # ~600 bytes to jsonb costs about 10 µs a record, a byte search (strpos) about 1 µs, and a province's year holds
    # some 170,000 of those records (bench/reports.py). Canonical JSON has sorted keys, no spaces and every string
    # escaped, so `"key":` can only be the key itself (a string cannot hold an unescaped quote); each field read this
    # way has a name that occurs once in its record, and the codes read by code() hold no quote (they are checked
    # against the markets of config/policy.toml). A colon is written \\: so that SQLAlchemy takes it for no bind.
    def _found(self, column: str, needle: str) -> str:
        return f"(CASE WHEN strpos({column}, '{needle.replace(':', chr(92) + ':')}') > 0 THEN 1 ELSE 0 END)"

    def is_true(self, column: str, *path: str) -> str:
        """Return 1 when a record's true/false field is true, else 0 (also for no record)."""
        if self.postgres:
            return self._found(column, f'"{path[-1]}":true')
        return f"COALESCE(json_extract({column}, '$.{'.'.join(path)}'), 0)"

    def has_group(self, column: str, *path: str) -> str:
        """Return 1 when a record has a group of fields (an object) at the path, else 0 (also for no record)."""
        if self.postgres:
            return self._found(column, f'"{path[-1]}":{{')
        return f"(CASE WHEN json_type({column}, '$.{'.'.join(path)}') = 'object' THEN 1 ELSE 0 END)"

    def equals(self, column: str, value: str, *path: str) -> str:
        """Return 1 when a record's text field holds the value (plain letters, digits and '_'), else 0."""
        if self.postgres:
            return self._found(column, f'"{path[-1]}":"{value}"')
        return f"(CASE WHEN json_extract({column}, '$.{'.'.join(path)}') = '{value}' THEN 1 ELSE 0 END)"

    def code(self, column: str, *path: str) -> str:
        """Return a record's code field (a value with no quote in it); NULL when absent."""
        if self.postgres:
            return f"""NULLIF(split_part(split_part({column}, '"{path[-1]}"\\:"', 2), '"', 1), '')"""
        return f"json_extract({column}, '$.{'.'.join(path)}')"

    def whole_number(self, column: str, *path: str) -> str:
        """Return a record's whole-number field; NULL when absent."""
        if self.postgres:
            after = f"""split_part({column}, '"{path[-1]}"\\:', 2)"""
            return f"CAST(NULLIF(rtrim(split_part({after}, ',', 1), '}}'), '') AS BIGINT)"
        return f"json_extract({column}, '$.{'.'.join(path)}')"

    def settings(self, snapshot: str | None = None) -> list[str]:
        """Return the statements that begin a report's read transaction (before any other): on PostgreSQL, one snapshot
        for every query (`snapshot`, exported by another transaction, to share its view), memory to sort the stage
        times in, and no JIT.

        The planner takes a province's roll-up for a big query and compiles its expressions (JIT): 0.3–0.5 s a query
        on this workload, more than the compiled code saves (bench/reports.py).
        """
        if not self.postgres:
            return []
        begin = ["SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"]
        if snapshot is not None:
            if not re.fullmatch(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?", snapshot):  # PostgreSQL's form; it is written into the SQL
                raise ValueError(f"not a snapshot id: {snapshot!r}")
            begin.append(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        return [*begin, "SET LOCAL work_mem = '64MB'", "SET LOCAL jit = off"]

    def median(self, column: str) -> str | None:
        """Return PostgreSQL's median aggregate of a column; None on SQLite, which has none (the caller ranks rows)."""
        return f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {column})" if self.postgres else None

    def days_between(self, earlier: str, later: str) -> str:
        """Return the days (with fractions) from one moment column to another."""
        if self.postgres:  # date_part is a float (EXTRACT a numeric, slower to compute and to sort)
            return f"(date_part('epoch', {later} - {earlier}) / 86400)"
        return f"(julianday({later}) - julianday({earlier}))"
