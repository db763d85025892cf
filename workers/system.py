"""System tasks on the `system` queue: the deadline sweep, the reports' drafting, the outbox relay and the reconciler (run by beat)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import create_engine, text

from config.settings import get_settings
from services import deadlines, outbox, reports
from workers.app import app, publish, runtime

log = logging.getLogger(__name__)


@app.task(name="system.sweep_deadlines")
def sweep_deadlines() -> int:
    """Fire the reminder rungs that are due; the relay sends their messages."""
    fired = deadlines.sweep(runtime())
    if fired:
        log.info("sweep fired %d rungs", len(fired))
    return len(fired)


@app.task(name="system.draft_reports")
def draft_reports() -> int:
    """Draft the periodic reports whose drafting day has come, for every commune that has none for the period yet."""
    drafted = reports.draft_due(runtime())
    if drafted:
        log.info("drafted %d reports", len(drafted))
    return len(drafted)


@app.task(name="system.relay_outbox")
def relay_outbox() -> int:
    """Publish the outbox messages still pending."""
    return outbox.relay(runtime(), publish)


@app.task(name="system.republish_unhandled")
def republish_unhandled() -> int:
    """Publish again the messages published long ago and never handled (DESIGN.md rule 8)."""
    count = outbox.reconcile(runtime(), publish, get_settings())
    if count:
        log.warning("republished %d unhandled messages", count)
    return count


@app.task(name="system.purge_delivered")
def purge_delivered() -> int:
    """Delete the embedded broker's delivered messages older than a day (its transport keeps them forever)."""
    engine = create_engine(get_settings().broker_url.removeprefix("sqla+"))
    try:
        with engine.begin() as conn:
            before = datetime.now() - timedelta(days=1)  # kombu stamps messages with naive local time
            return conn.execute(
                text("DELETE FROM kombu_message WHERE visible = :no AND timestamp < :before"), {"no": False, "before": before}
            ).rowcount
    finally:
        engine.dispose()
