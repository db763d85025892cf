"""What the `system.draft_reports` beat task costs: on a day nothing is due, on the drafting day, and run again that day.

The scratch PostgreSQL database gets --communes communes (default 700, about a large province) added to the demo's
province. Each round times `services.reports.draft_due(rt)`:

- `idle`: on a day no report is drafted (1 June 2026): no query at all;
- `draft`: on the 6-month report's drafting day (16 June 2026, 09:00): every commune's report drafted, one
  transaction each (the report, its first event, its clock with four rungs, its work item);
- `rerun`: the same moment again (a second beat, or the next hourly run): nothing to write, one query per kind.

Between rounds the reports and what they opened are deleted (the event table refuses it, so its trigger is disabled
for that alone). Prints each round's seconds and the medians, with the load average.

    .venv/bin/python bench/report_drafts.py
    .venv/bin/python bench/report_drafts.py --communes 2000 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime

from _common import add_database_option, median, on_scratch_database, server_summary
from sqlalchemy import Engine, text

from config.settings import Settings
from services import reports
from services.clock import FixedClock
from services.runtime import build_runtime

IDLE, DRAFT_DAY = datetime(2026, 6, 1, 2, tzinfo=UTC), datetime(2026, 6, 16, 2, tzinfo=UTC)
_CLEAR = [
    "ALTER TABLE report_events DISABLE TRIGGER report_events_append_only",
    "DELETE FROM deadline_rungs WHERE deadline_id IN (SELECT id FROM deadlines WHERE report_id IS NOT NULL)",
    "DELETE FROM deadlines WHERE report_id IS NOT NULL",
    "DELETE FROM work_items WHERE report_id IS NOT NULL",
    "DELETE FROM report_events",
    "DELETE FROM reports",
    "ALTER TABLE report_events ENABLE TRIGGER report_events_append_only",
]


def _add_communes(engine: Engine, count: int) -> None:
    with engine.begin() as conn:
        province = conn.scalar(text("SELECT id FROM admin_units WHERE kind = 'province' ORDER BY id LIMIT 1"))
        conn.execute(
            text("INSERT INTO admin_units (code, name, kind, parent_id) VALUES (:code, :name, 'commune', :parent)"),
            [{"code": f"BENCH-{n:05d}", "name": f"Xã Thử {n}", "parent": province} for n in range(count)],
        )
        conn.execute(text("ANALYZE"))


def _timed(rt, moment: datetime) -> tuple[float, int]:
    rt.clock.moment = moment
    started = time.perf_counter()
    drafted = reports.draft_due(rt)
    return time.perf_counter() - started, len(drafted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_option(parser)
    parser.add_argument("--communes", type=int, default=700)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    def run(engine: Engine, url: str) -> None:
        _add_communes(engine, args.communes)
        rt = build_runtime(Settings(), engine=engine, clock=FixedClock(IDLE))
        with engine.connect() as conn:
            communes = conn.scalar(text("SELECT count(*) FROM admin_units WHERE kind = 'commune'"))
        print(server_summary(engine), f"· {communes} communes · load {os.getloadavg()[0]:.2f}")
        figures: dict[str, list[float]] = {"idle": [], "draft": [], "rerun": []}
        for round_no in range(1, args.repeat + 1):
            with engine.begin() as conn:
                for statement in _CLEAR:
                    conn.execute(text(statement))
            idle, none = _timed(rt, IDLE)
            draft, made = _timed(rt, DRAFT_DAY)
            rerun, again = _timed(rt, DRAFT_DAY)
            assert none == 0 and made == communes and again == 0, (none, made, again)
            figures["idle"].append(idle)
            figures["draft"].append(draft)
            figures["rerun"].append(rerun)
            print(f"round {round_no}: idle {idle * 1000:.2f} ms · draft {made} in {draft:.2f} s "
                  f"({draft / made * 1000:.1f} ms each) · rerun {rerun * 1000:.1f} ms")  # fmt: skip
        print(
            f"median: idle {median(figures['idle']) * 1000:.2f} ms · draft {median(figures['draft']):.2f} s "
            f"· rerun {median(figures['rerun']) * 1000:.1f} ms · load {os.getloadavg()[0]:.2f}"
        )

    on_scratch_database(args.database_url, run)


if __name__ == "__main__":
    main()
