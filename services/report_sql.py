"""The SQL that differs between PostgreSQL and SQLite in the reports: reading the records' JSON text, and spans of days.

case_records.data is canonical JSON as TEXT (so verify can compare it byte for byte with the history). PostgreSQL
reads it with CAST(data AS jsonb) and ->> / #>>; SQLite with json_extract. Everything else in services/indicators.py
is SQL both understand.
"""

from __future__ import annotations

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

    def document(self, column: str) -> str:
        """Return a record's JSON parsed once (PostgreSQL: jsonb; SQLite reads the text where it is)."""
        return f"CAST({column} AS jsonb)" if self.postgres else column

    def text(self, doc: str, *path: str) -> str:
        """Return a field of a parsed record as text (NULL when absent)."""
        if self.postgres:
            return f"({doc} #>> '{{{','.join(path)}}}')"
        return f"json_extract({doc}, '$.{'.'.join(path)}')"

    def integer(self, doc: str, *path: str) -> str:
        """Return a whole-number field of a parsed record."""
        return f"CAST({self.text(doc, *path)} AS BIGINT)" if self.postgres else self.text(doc, *path)

    def flag(self, doc: str, *path: str) -> str:
        """Return a true/false field of a parsed record as 1 or 0 (0 when absent)."""
        if self.postgres:
            return f"(CASE WHEN {self.text(doc, *path)} = 'true' THEN 1 ELSE 0 END)"
        return f"COALESCE({self.text(doc, *path)}, 0)"

    def present(self, doc: str, *path: str) -> str:
        """Return 1 when a record has a field (a group of fields too), else 0."""
        if self.postgres:
            return f"(CASE WHEN {doc} #> '{{{','.join(path)}}}' IS NOT NULL THEN 1 ELSE 0 END)"
        return f"(CASE WHEN json_type({doc}, '$.{'.'.join(path)}') IS NOT NULL THEN 1 ELSE 0 END)"

    def days_between(self, earlier: str, later: str) -> str:
        """Return the days (with fractions) from one moment column to another."""
        if self.postgres:
            return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 86400.0)"
        return f"(julianday({later}) - julianday({earlier}))"
