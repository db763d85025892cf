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
        """Return a record's JSON as the fragments below read it (the canonical text itself, on both dialects)."""
        return column

    # On PostgreSQL the fields are read from the canonical text (sorted keys, no spaces, every string escaped) by
    # pattern, not by parsing it as jsonb: a cast costs about 10 µs a record, which over a province's year (some
    # 300,000 records) was most of the roll-up (bench/reports.py). A string value cannot hold an unescaped quote, so
    # `"key":` matches only the key itself; the fields read this way (RECORD_FIELDS) occur once in their record.
    def text(self, doc: str, *path: str) -> str:
        """Return a text field of a record (NULL when absent); the last name of the path must occur once in the record."""
        if self.postgres:
            return f"""substring({doc} from '"{path[-1]}":"((?:[^"\\\\]|\\\\.)*)"')"""
        return f"json_extract({doc}, '$.{'.'.join(path)}')"

    def integer(self, doc: str, *path: str) -> str:
        """Return a whole-number field of a record."""
        if self.postgres:
            return f"""CAST(substring({doc} from '"{path[-1]}":(-?[0-9]+)') AS BIGINT)"""
        return self.text(doc, *path)

    def flag(self, doc: str, *path: str) -> str:
        """Return a true/false field of a record as 1 or 0 (0 when absent)."""
        if self.postgres:
            return f"""(CASE WHEN {doc} LIKE '%"{path[-1]}"\\:true%' THEN 1 ELSE 0 END)"""  # \\: is a colon, not a bind
        return f"COALESCE({self.text(doc, *path)}, 0)"

    def present(self, doc: str, *path: str) -> str:
        """Return 1 when a record has a group of fields, else 0."""
        if self.postgres:
            return f"""(CASE WHEN {doc} LIKE '%"{path[-1]}":{{%' THEN 1 ELSE 0 END)"""
        return f"(CASE WHEN json_type({doc}, '$.{'.'.join(path)}') IS NOT NULL THEN 1 ELSE 0 END)"

    def median(self, column: str) -> str | None:
        """Return PostgreSQL's median aggregate of a column; None on SQLite, which has none (the caller ranks rows)."""
        return f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {column})" if self.postgres else None

    def days_between(self, earlier: str, later: str) -> str:
        """Return the days (with fractions) from one moment column to another."""
        if self.postgres:
            return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 86400.0)"
        return f"(julianday({later}) - julianday({earlier}))"
