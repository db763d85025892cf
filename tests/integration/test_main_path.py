"""An officer walks a case along the main path and each side road, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select

from services import audit, cases, queries
from services.models import OutboxMessage
from tests import factories as f


def test_main_path_records_every_step_and_verifies(rt, actors, clock):
    ref = cases.register(rt, actors["social_policy"], f.registration(rt.today()))
    for trigger in f.MAIN_PATH:
        clock.advance(days=7)
        ref = f.step(rt, actors, ref.id, trigger)
    assert (ref.state, ref.version) == ("returned", 7)
    history = queries.case_history(rt, ref.id)
    assert [e["trigger"] for e in history] == ["register", *f.MAIN_PATH]
    assert [e["actor"] for e in history][:3] == ["social_policy", "enterprise", "training"]
    with rt.unit_of_work() as conn:
        assert audit.verify(conn).ok
        queued = conn.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending"))
    assert queued >= len(history)
