"""Many events in one statement: ids in the order given, mixed with ORM-added events, published only
after the commit, and nothing left behind when the action fails."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.db.session import Database, action
from kefu.events.record import NewEvent, emit, emit_many
from kefu.models import Event
from tests.db.test_action_transactions import RecordingBus
from tests.factories import make_tenant


def drafts(tenant_id: int, n: int, start: int = 0) -> list[NewEvent]:
    now = datetime.now(UTC)
    return [
        NewEvent(type="test.bulk", tenant_id=tenant_id, occurred_at=now, payload={"n": start + i}) for i in range(n)
    ]


def test_emit_many_gives_ids_in_order_beside_orm_events_and_publishes_after_commit(database: Database) -> None:
    bus = RecordingBus()
    recorded = Database(database.engine, bus)
    with recorded.session() as db:
        tenant_id, _ = make_tenant(db, "bulk")

        @action
        def write(db: Session) -> list[int]:
            emit(db, "test.orm", tenant_id=tenant_id, payload={"n": -1})
            first = emit_many(db, drafts(tenant_id, 5))
            second = emit_many(db, drafts(tenant_id, 3, start=5))
            assert bus.published == [] or all(e.type != "test.bulk" for e in bus.published)
            return [e.id for e in first + second]

        ids = write(db)
    assert ids == sorted(ids) and len(set(ids)) == 8
    with database.session() as db:
        rows = db.execute(select(Event.id, Event.payload).where(Event.type == "test.bulk").order_by(Event.id)).all()
        orm_row = db.scalars(select(Event).where(Event.type == "test.orm")).one()
    assert [r.id for r in rows] == ids
    assert [r.payload["n"] for r in rows] == list(range(8))
    assert orm_row.id not in ids
    published = [e for e in bus.published if e.type == "test.bulk"]
    assert [e.id for e in published] == ids and [e.payload["n"] for e in published] == list(range(8))


def test_emit_many_in_a_failed_action_leaves_nothing(database: Database) -> None:
    bus = RecordingBus()
    recorded = Database(database.engine, bus)
    with recorded.session() as db:
        tenant_id, _ = make_tenant(db, "bulk-fail")

        @action
        def write_then_fail(db: Session) -> None:
            emit_many(db, drafts(tenant_id, 4))
            raise RuntimeError("half-way")

        with pytest.raises(RuntimeError):
            write_then_fail(db)
    with database.session() as db:
        assert db.scalars(select(Event).where(Event.tenant_id == tenant_id, Event.type == "test.bulk")).all() == []
    assert not [e for e in bus.published if e.type == "test.bulk"]
