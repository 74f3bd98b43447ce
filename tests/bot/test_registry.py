"""Each tenant's matcher in a process: built from the database at first use, then kept current by the
knowledge-base events without a rebuild; imports and new words rebuild; validity periods apply when asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kefu.access.scope import caller_for
from kefu.actions.kb import do_create_entry
from kefu.bot.registry import BotRegistry
from kefu.db.session import Database
from kefu.events.envelope import EventEnvelope
from kefu.schemas.kb import KbEntryCreate
from tests.factories import make_tenant

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def event(tenant_id: int, type: str, **payload: object) -> EventEnvelope:
    return EventEnvelope(id=0, tenant_id=tenant_id, type=type, occurred_at=NOW, payload=dict(payload))


def test_built_from_the_database_then_kept_by_events(database: Database) -> None:
    with database.session() as db:
        tenant_id, admin = make_tenant(db, "reg")
        entry = do_create_entry(
            db,
            caller_for(db, admin),
            KbEntryCreate(standard_question="怎么申请退货", similar_questions=["我要退货"], answer="点申请退货"),
        )
    registry = BotRegistry(database)
    bot = registry.bot_for(tenant_id)
    assert bot.search("退货怎么弄", NOW)[0].entry_id == str(entry.id)
    assert registry.bot_for(tenant_id) is bot  # built once

    # A new entry arrives as an event: searchable at once, the same matcher (no rebuild).
    registry.handle(
        event(tenant_id, "kb.entry_created", entry_id=999, standard_question="发票怎么开", similar_questions=["开发票"])
    )
    assert registry.bot_for(tenant_id) is bot and bot.search("怎么开发票", NOW)[0].entry_id == "999"
    # Disabled, then deleted: gone from the answers.
    registry.handle(event(tenant_id, "kb.entry_updated", entry_id=999, standard_question="发票怎么开", enabled=False))
    assert all(h.entry_id != "999" for h in bot.search("怎么开发票", NOW))
    registry.handle(event(tenant_id, "kb.entry_deleted", entry_id=entry.id))
    assert bot.search("我要退货", NOW) == []
    # Other tenants' events and other event types change nothing here.
    registry.handle(event(tenant_id + 1, "kb.imported"))
    registry.handle(event(tenant_id, "message.sent"))
    assert registry.bot_for(tenant_id) is bot
    # New dictionary words: the next question rebuilds from the database.
    registry.handle(event(tenant_id, "kb.dictionary_changed", added=["小米手环"]))
    assert registry.bot_for(tenant_id) is not bot


def test_an_entry_outside_its_validity_period_is_not_answered(database: Database) -> None:
    with database.session() as db:
        tenant_id, _ = make_tenant(db, "reg2")
    registry = BotRegistry(database)
    bot = registry.bot_for(tenant_id)
    registry.handle(
        event(
            tenant_id,
            "kb.entry_created",
            entry_id=1,
            standard_question="双11 活动什么时候开始",
            similar_questions=["双十一几号开始"],
            valid_from=(NOW - timedelta(days=1)).isoformat(),
            valid_until=(NOW + timedelta(days=1)).isoformat(),
        )
    )
    assert bot.search("双十一几号开始", NOW)[0].entry_id == "1"
    assert bot.search("双十一几号开始", NOW + timedelta(days=2)) == []
    assert bot.search("双十一几号开始", NOW - timedelta(days=2)) == []
