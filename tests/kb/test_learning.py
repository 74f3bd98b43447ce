"""The learning queue: questions the bot missed, grouped and counted, cleared by an administrator."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kefu.actions.kb import (
    do_attach_to_entry,
    do_create_entry,
    do_create_entry_from_question,
    do_delete_entry,
    do_ignore,
    do_record_pick,
    do_record_unanswered,
    do_reopen,
)
from kefu.errors import Conflict, NotFound
from kefu.kb.read import learning_public
from kefu.models.kb import KbEntry, KbLearningItem, LearningReason, LearningStatus
from kefu.schemas.kb import KbEntryCreate, LearningCreateEntry
from tests.kb.conftest import Kb


def record(kb: Kb, text: str, candidates: list[int] | None = None, reason: str = "unanswered") -> KbLearningItem:
    item = do_record_unanswered(kb.db, kb.tenant_id, text, None, candidates or [], reason)
    assert item is not None
    return item


def test_the_same_question_is_counted_once_per_ask(kb: Kb) -> None:
    e = do_create_entry(kb.db, kb.admin, KbEntryCreate(standard_question="怎么退货", answer="a"))
    foreign = do_create_entry(kb.db, kb.other_admin, KbEntryCreate(standard_question="别家的", answer="a"))
    first = record(kb, "能退货吗？", [e.id, foreign.id, 999_999])
    record(kb, "能 退货 吗", [e.id])
    last = record(kb, "能退货吗!!", [], reason="unhelpful")
    assert first.id == last.id
    assert last.ask_count == 3 and last.unhelpful_count == 1 and last.last_reason is LearningReason.unhelpful
    assert last.text == "能退货吗？" and last.samples == ["能退货吗？", "能 退货 吗", "能退货吗!!"]
    assert last.first_asked_at <= last.last_asked_at
    assert first.candidates == [e.id]  # other tenants' and unknown ids are never stored
    other = record(kb, "发票怎么开")
    assert other.id != first.id and other.ask_count == 1
    assert do_record_unanswered(kb.db, kb.tenant_id, "？？？", None, [], "unanswered") is None
    events = kb.events("kb.learning_recorded")
    assert [ev.payload["ask_count"] for ev in events] == [1, 2, 3, 1]
    # The other tenant's queue is its own.
    theirs = do_record_unanswered(kb.db, kb.other_tenant_id, "能退货吗", None, [], "unanswered")
    assert theirs is not None and theirs.id != first.id and theirs.ask_count == 1


def test_samples_are_bounded(kb: Kb) -> None:
    for i in range(8):
        item = record(kb, "能退货吗" + "?" * i)
    assert item.ask_count == 8 and len(item.samples) == 5 and item.samples[-1] == "能退货吗???????"


def test_attach_adds_a_similar_question_and_tells_the_matcher(kb: Kb) -> None:
    e = do_create_entry(kb.db, kb.admin, KbEntryCreate(standard_question="怎么退货", answer="a"))
    item = record(kb, "东西不想要了咋办", [e.id])
    do_attach_to_entry(kb.db, kb.admin, item.id, e.id)
    assert item.status is LearningStatus.attached and item.entry_id == e.id and item.resolved_by == kb.admin.user_id
    updated = kb.events("kb.entry_updated")[-1].payload
    assert updated["entry_id"] == e.id and updated["similar_questions"] == ["东西不想要了咋办"]
    assert kb.events("kb.learning_resolved")[-1].payload["status"] == "attached"
    with pytest.raises(Conflict):
        do_attach_to_entry(kb.db, kb.admin, item.id, e.id)
    # The bot missed it again: it opens again.
    again = record(kb, "东西不想要了咋办")
    assert again.status is LearningStatus.open and again.entry_id is None and again.ask_count == 2


def test_attach_refuses_a_wording_of_another_entry(kb: Kb) -> None:
    a = do_create_entry(kb.db, kb.admin, KbEntryCreate(standard_question="怎么退货", answer="a"))
    b = do_create_entry(kb.db, kb.admin, KbEntryCreate(standard_question="怎么换货", answer="b"))
    item = record(kb, "怎么换货？")
    with pytest.raises(Conflict):
        do_attach_to_entry(kb.db, kb.admin, item.id, a.id)
    kb.db.refresh(item)
    assert item.status is LearningStatus.open
    do_attach_to_entry(kb.db, kb.admin, item.id, b.id)  # the entry it already belongs to: no new row
    assert kb.db.get(KbEntry, b.id).similar == []  # type: ignore[union-attr]


def test_create_an_entry_from_a_question(kb: Kb) -> None:
    item = record(kb, "可以开增值税专用发票吗")
    item, entry = do_create_entry_from_question(
        kb.db, kb.admin, item.id, LearningCreateEntry(answer="可以，请联系客服")
    )
    assert entry.standard_question == "可以开增值税专用发票吗" and item.status is LearningStatus.created
    assert item.entry_id == entry.id
    assert kb.events("kb.entry_created")[-1].payload["entry_id"] == entry.id
    # Deleting the entry keeps the item's history.
    do_delete_entry(kb.db, kb.admin, entry.id)
    kb.db.expire_all()
    assert kb.db.get(KbLearningItem, item.id).entry_id is None  # type: ignore[union-attr]


def test_ignore_and_reopen(kb: Kb) -> None:
    item = record(kb, "你好")
    do_ignore(kb.db, kb.admin, item.id)
    again = record(kb, "你好！")
    assert again.status is LearningStatus.ignored and again.ask_count == 2  # stays ignored, still counted
    do_reopen(kb.db, kb.admin, item.id)
    assert item.status is LearningStatus.open and item.resolved_at is None
    with pytest.raises(NotFound):
        do_ignore(kb.db, kb.other_admin, item.id)


def test_public_form_names_the_candidates(kb: Kb) -> None:
    e = do_create_entry(kb.db, kb.admin, KbEntryCreate(standard_question="怎么退货", answer="a"))
    record(kb, "能退吗", [e.id])
    items = kb.db.scalars(select(KbLearningItem)).all()
    (public,) = learning_public(kb.db, kb.tenant_id, items)
    assert public.candidates == [e.id] and public.candidate_questions == ["怎么退货"]
    do_delete_entry(kb.db, kb.admin, e.id)
    (public,) = learning_public(kb.db, kb.tenant_id, items)
    assert public.candidates == []


def test_concurrent_records_of_one_question_are_all_counted(database, kb: Kb) -> None:  # type: ignore[no-untyped-def]
    """Many conversations miss the same question at once: INSERT … ON CONFLICT counts every one."""
    from concurrent.futures import ThreadPoolExecutor

    kb.db.commit()

    def ask(n: int) -> None:
        with database.session() as db:
            for _ in range(5):
                do_record_unanswered(db, kb.tenant_id, f"同时问的问题{'？' * n}", None, [], "unanswered")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(ask, range(8)))
    items = kb.db.scalars(select(KbLearningItem).where(KbLearningItem.tenant_id == kb.tenant_id)).all()
    assert [(i.ask_count, len(i.samples)) for i in items] == [(40, 5)]


def test_a_visitor_picking_a_suggestion_is_counted_on_the_question(kb: Kb) -> None:
    refund = do_create_entry(kb.db, kb.admin, KbEntryCreate(standard_question="怎么退货", answer="a"))
    swap = do_create_entry(kb.db, kb.admin, KbEntryCreate(standard_question="怎么换货", answer="b"))
    foreign = do_create_entry(kb.db, kb.other_admin, KbEntryCreate(standard_question="别家的", answer="c"))
    item = record(kb, "东西不想要了咋办", [swap.id, refund.id])
    for entry, wording in [(refund, "东西不想要了咋办"), (refund, "东西不想要了 咋办？"), (swap, "东西不想要了咋办")]:
        assert do_record_pick(kb.db, kb.tenant_id, wording, entry.id) is not None
    kb.db.refresh(item)
    assert item.picks == {str(refund.id): 2, str(swap.id): 1}
    assert [e.payload["picks"] for e in kb.events("kb.learning_picked")] == [1, 2, 1]
    # Nothing is counted for a question never recorded, nor for another tenant's entry.
    assert do_record_pick(kb.db, kb.tenant_id, "从没问过的问题", refund.id) is None
    assert do_record_pick(kb.db, kb.tenant_id, "东西不想要了咋办", foreign.id) is None
    assert do_record_pick(kb.db, kb.other_tenant_id, "东西不想要了咋办", refund.id) is None
    # The queue shows the picks, most picked first, beside the bot's own proposal.
    (public,) = learning_public(kb.db, kb.tenant_id, [item])
    assert public.candidates == [swap.id, refund.id]
    assert [(p.entry_id, p.question, p.count) for p in public.picks] == [
        (refund.id, "怎么退货", 2),
        (swap.id, "怎么换货", 1),
    ]
    do_delete_entry(kb.db, kb.admin, refund.id)
    (public,) = learning_public(kb.db, kb.tenant_id, [item])
    assert [p.entry_id for p in public.picks] == [swap.id]


def test_concurrent_picks_are_all_counted(database, kb: Kb) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    e = do_create_entry(kb.db, kb.admin, KbEntryCreate(standard_question="怎么退货", answer="a"))
    item = record(kb, "东西不想要了咋办", [e.id])
    kb.db.commit()

    def pick(_: int) -> None:
        with database.session() as db:
            for _ in range(5):
                do_record_pick(db, kb.tenant_id, "东西不想要了咋办", e.id)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(pick, range(8)))
    kb.db.refresh(item)
    assert item.picks == {str(e.id): 40}
