"""The SQL that differs between PostgreSQL and SQLite in the reports: the report transaction, spans of days, medians.

The reports read no record's JSON text: the fields they count are columns the database derives from it (migration
0015, per dialect). Everything else in services/indicator_queries.py is SQL both understand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class JsonSql:
    """The reports' SQL fragments for one dialect ("postgresql" or "sqlite")."""

    dialect: str

    @property
    def postgres(self) -> bool:
        """Tell whether the fragments are PostgreSQL's."""
        return self.dialect == "postgresql"

    def settings(self, snapshot: str | None = None, *, read_only: bool = True) -> list[str]:
        """Return the statements that begin a report's transaction (before any other): on PostgreSQL, one snapshot
        for every query (`snapshot`, exported by another transaction, to share its view), memory to sort the stage
        times in, and no JIT. A submission, which writes the figures it reads, asks for `read_only=False`.

        The planner takes a province's roll-up for a big query and compiles its expressions (JIT): 0.3–0.5 s a query
        on this workload, more than the compiled code saves (bench/reports.py).
        """
        if not self.postgres:
            return []
        begin = ["SET TRANSACTION ISOLATION LEVEL REPEATABLE READ" + (", READ ONLY" if read_only else "")]
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
