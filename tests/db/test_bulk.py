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


def test_rows_inserted_through_the_driver_are_stored_as_the_orm_stores_them(database: Database) -> None:
    """The hot path binds values itself (kefu.db.bulk): enums, JSON (None included), UTC times and text
    must land in the table exactly as an ORM insert puts them, on both databases."""
    from kefu.actions.conversations import do_start_conversation
    from kefu.actions.messages import SendRequest, do_send_messages
    from kefu.models import Channel, Message, MessageKind, SenderKind, Visitor

    at = datetime(2026, 11, 11, 1, 2, 3, 456789, tzinfo=UTC)
    fields = dict(
        sender_kind=SenderKind.visitor,
        kind=MessageKind.image,
        body="图片 <b>x</b> ' \" %s ?",
        attachment={"url": "/files/a.png", "名": "图"},
        meta=None,
    )
    with database.session() as db:
        tenant_id, _ = make_tenant(db, "bulk-driver")
        channel_id = db.scalars(select(Channel.id).where(Channel.tenant_id == tenant_id)).one()
        visitor = Visitor(tenant_id=tenant_id, name="王女士")
        db.add(visitor)
        db.commit()
        cid = do_start_conversation(db, tenant_id=tenant_id, channel_id=channel_id, visitor_id=visitor.id).id
        [stored] = do_send_messages(
            db,
            [SendRequest(cid, tenant_id, sender_id=visitor.id, client_msg_id="fast", **fields)],  # type: ignore[arg-type]
            now=at,
        )
        assert not isinstance(stored, Exception)

        @action
        def orm_insert(db: Session) -> None:
            db.add(
                Message(
                    tenant_id=tenant_id,
                    conversation_id=cid,
                    seq=99,
                    sender_id=visitor.id,
                    client_msg_id="orm",
                    created_at=at,
                    **fields,
                )
            )

        orm_insert(db)
        columns = "sender_kind, kind, body, attachment, meta, created_at, tenant_id, sender_id"
        raw = {
            row[0]: row[1:]
            for row in db.connection().exec_driver_sql(
                f"SELECT client_msg_id, {columns} FROM messages WHERE conversation_id = {int(cid)}"
            )
        }
    assert raw["fast"] == raw["orm"]
    assert raw["fast"][0] == "visitor" and raw["fast"][1] == "image"
