"""Entries, similar questions, categories, dictionary and synonyms: the actions and their events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kefu.actions.kb import (
    do_add_dictionary_words,
    do_add_similar_question,
    do_create_category,
    do_create_entry,
    do_create_synonym_set,
    do_delete_category,
    do_delete_entry,
    do_merge_entries,
    do_remove_dictionary_word,
    do_remove_similar_question,
    do_update_category,
    do_update_entry,
    do_update_synonym_set,
)
from kefu.errors import Conflict, Forbidden, Invalid, NotFound
from kefu.models.kb import KbEntry, KbSimilarQuestion
from kefu.models.staff import Role
from kefu.schemas.kb import KbCategoryCreate, KbCategoryUpdate, KbEntryCreate, KbEntryUpdate
from tests.factories import make_user
from tests.kb.conftest import Kb


def entry(kb: Kb, question: str, *similar: str, **fields: object) -> KbEntry:
    data = KbEntryCreate(standard_question=question, similar_questions=list(similar), answer="答案", **fields)  # type: ignore[arg-type]
    return do_create_entry(kb.db, kb.admin, data)


def test_created_entry_event_carries_what_the_matcher_needs(kb: Kb) -> None:
    until = datetime(2030, 1, 1, tzinfo=UTC)
    e = entry(kb, "怎么退货", "我想退货", "退货流程", "怎么退货？", "我想 退货", valid_until=until)
    assert [s.question for s in e.similar] == ["我想退货", "退货流程"]  # its own standard question and repeats dropped
    (event,) = kb.events()
    assert event.type == "kb.entry_created" and event.team_id is None
    assert event.payload == {
        "entry_id": e.id,
        "standard_question": "怎么退货",
        "similar_questions": ["我想退货", "退货流程"],
        "category_id": None,
        "enabled": True,
        "valid_from": None,
        "valid_until": until.isoformat(),
    }


def test_a_question_leads_to_one_entry_only(kb: Kb) -> None:
    first = entry(kb, "怎么退货", "我想退货")
    with pytest.raises(Conflict) as taken:
        entry(kb, "怎么 退货！")
    assert taken.value.code == "kb.question_taken" and "标准问题" in taken.value.msg.zh
    with pytest.raises(Conflict) as similar:
        entry(kb, "我想退货")
    assert "相似问题" in similar.value.msg.zh
    with pytest.raises(Conflict):
        entry(kb, "怎么换货", "我想退货！")
    with pytest.raises(Invalid):
        entry(kb, "？？？")
    # Another tenant may of course have the same question.
    theirs = do_create_entry(kb.db, kb.other_admin, KbEntryCreate(standard_question="怎么退货", answer="他们的答案"))
    assert theirs.tenant_id == kb.other_tenant_id and theirs.id != first.id


def test_update_names_what_changed_and_keeps_similar_rows(kb: Kb) -> None:
    e = entry(kb, "怎么退货", "我想退货", "退货流程")
    keep = {s.question: s.id for s in e.similar}["我想退货"]
    do_update_entry(
        kb.db,
        kb.admin,
        e.id,
        KbEntryUpdate(
            similar_questions=["我想退货", "如何退货"], answer="<b>新答案</b><script>x</script>", enabled=False
        ),
    )
    got = kb.db.get(KbEntry, e.id)
    assert got is not None and got.answer == "<b>新答案</b>"
    assert {s.question: s.id for s in got.similar}["我想退货"] == keep
    last = kb.events()[-1]
    assert last.type == "kb.entry_updated"
    assert last.payload["changed"] == ["similar_questions", "answer", "enabled"]
    assert last.payload["similar_questions"] == ["我想退货", "如何退货"] and last.payload["enabled"] is False
    # Nothing changed: no event.
    before = len(kb.events())
    do_update_entry(kb.db, kb.admin, e.id, KbEntryUpdate(enabled=False))
    assert len(kb.events()) == before


def test_a_similar_question_can_become_the_standard_question(kb: Kb) -> None:
    e = entry(kb, "怎么退货", "我想退货")
    do_update_entry(kb.db, kb.admin, e.id, KbEntryUpdate(standard_question="我想退货"))
    got = kb.db.get(KbEntry, e.id)
    assert got is not None and got.standard_question == "我想退货" and got.similar == []


def test_validity_must_be_an_interval(kb: Kb) -> None:
    now = datetime.now(UTC)
    with pytest.raises(Invalid):
        entry(kb, "双11", valid_from=now, valid_until=now - timedelta(days=1))
    e = entry(kb, "双11", valid_from=now + timedelta(days=1))
    assert not e.in_effect(now) and e.in_effect(now + timedelta(days=2))
    do_update_entry(kb.db, kb.admin, e.id, KbEntryUpdate(valid_from=None))
    assert kb.events()[-1].payload["valid_from"] is None


def test_similar_questions_are_added_and_removed_with_events(kb: Kb) -> None:
    e = entry(kb, "怎么退货")
    do_add_similar_question(kb.db, kb.admin, e.id, "退货怎么弄")
    do_add_similar_question(kb.db, kb.admin, e.id, "退货 怎么弄？")  # the same question: nothing happens
    rows = kb.db.query(KbSimilarQuestion).filter_by(entry_id=e.id).all()
    assert [r.question for r in rows] == ["退货怎么弄"]
    do_remove_similar_question(kb.db, kb.admin, e.id, rows[0].id)
    updates = [ev.payload["similar_questions"] for ev in kb.events("kb.entry_updated")]
    assert updates == [["退货怎么弄"], []]
    with pytest.raises(NotFound):
        do_remove_similar_question(kb.db, kb.admin, e.id, rows[0].id)


def test_delete_entry(kb: Kb) -> None:
    e = entry(kb, "怎么退货", "我想退货")
    do_delete_entry(kb.db, kb.admin, e.id)
    assert kb.db.query(KbSimilarQuestion).count() == 0
    assert kb.events()[-1].payload == {"entry_id": e.id, "standard_question": "怎么退货"}
    entry(kb, "我想退货")  # its questions are free again


def test_merge_moves_the_questions_and_deletes_the_merged_entry(kb: Kb) -> None:
    kept = entry(kb, "怎样申请花呗收款码", "花呗收款码在哪申请")
    merged = entry(kb, "花呗收款码怎样申请", "怎么申请花呗收款码", "收款码怎么弄")
    before = len(kb.events())
    do_merge_entries(kb.db, kb.admin, kept.id, merged.id)
    assert kb.db.get(KbEntry, merged.id) is None
    assert [s.question for s in kept.similar] == [
        "花呗收款码在哪申请",
        "花呗收款码怎样申请",
        "怎么申请花呗收款码",
        "收款码怎么弄",
    ]
    deleted, updated = kb.events()[before:]
    assert deleted.type == "kb.entry_deleted" and deleted.payload["merged_into"] == kept.id
    assert updated.type == "kb.entry_updated" and updated.payload["merged"] == merged.id
    assert updated.payload["similar_questions"] == [s.question for s in kept.similar]
    # the merged entry's questions now lead to the kept entry: a new entry cannot take them
    with pytest.raises(Conflict):
        entry(kb, "收款码怎么弄")


def test_a_merge_that_cannot_be_done_changes_nothing(kb: Kb) -> None:
    from kefu.schemas.kb import MAX_SIMILAR_PER_ENTRY

    full = entry(kb, "问题", *(f"问法{i}" for i in range(MAX_SIMILAR_PER_ENTRY)))
    other = entry(kb, "另一个问题", "再一个问法")
    before = len(kb.events())
    with pytest.raises(Invalid) as too_many:
        do_merge_entries(kb.db, kb.admin, full.id, other.id)
    assert too_many.value.code == "kb.too_many_similar"
    assert kb.db.get(KbEntry, other.id) is not None and len(kb.events()) == before
    with pytest.raises(Invalid) as itself:
        do_merge_entries(kb.db, kb.admin, other.id, other.id)
    assert itself.value.code == "kb.merge_self"
    theirs = do_create_entry(kb.db, kb.other_admin, KbEntryCreate(standard_question="他们的问题", answer="a"))
    with pytest.raises(NotFound):
        do_merge_entries(kb.db, kb.admin, other.id, theirs.id)


def test_categories_form_a_tree_without_cycles(kb: Kb) -> None:
    after_sales = do_create_category(kb.db, kb.admin, KbCategoryCreate(name="售后"))
    returns = do_create_category(kb.db, kb.admin, KbCategoryCreate(name="退货", parent_id=after_sales.id))
    with pytest.raises(Conflict):
        do_create_category(kb.db, kb.admin, KbCategoryCreate(name="售后"))
    with pytest.raises(Invalid) as cycle:
        do_update_category(kb.db, kb.admin, after_sales.id, KbCategoryUpdate(parent_id=returns.id))
    assert cycle.value.code == "kb.category_cycle"
    parent = returns.id
    for i in range(3):
        parent = do_create_category(kb.db, kb.admin, KbCategoryCreate(name=f"层{i}", parent_id=parent)).id
    with pytest.raises(Invalid):
        do_create_category(kb.db, kb.admin, KbCategoryCreate(name="太深", parent_id=parent))
    e = entry(kb, "怎么退货", category_id=returns.id)
    with pytest.raises(Conflict):
        do_delete_category(kb.db, kb.admin, returns.id)
    do_update_entry(kb.db, kb.admin, e.id, KbEntryUpdate(category_id=None))
    with pytest.raises(Conflict):  # still has sub-categories
        do_delete_category(kb.db, kb.admin, returns.id)
    with pytest.raises(NotFound):
        entry(kb, "别的", category_id=999_999)


def test_dictionary_and_synonyms(kb: Kb) -> None:
    added = do_add_dictionary_words(kb.db, kb.admin, ["小米14", "华为Mate60", "小米14"])
    assert [w.word for w in added] == ["小米14", "华为Mate60"]
    assert do_add_dictionary_words(kb.db, kb.admin, ["小米14"]) == []
    do_remove_dictionary_word(kb.db, kb.admin, added[0].id)
    changes = [(e.payload["added"], e.payload["removed"]) for e in kb.events("kb.dictionary_changed")]
    assert changes == [(["小米14", "华为Mate60"], []), ([], ["小米14"])]

    s = do_create_synonym_set(kb.db, kb.admin, ["退款", "退钱", "退款"])
    assert s.words == ["退款", "退钱"]
    with pytest.raises(Conflict) as taken:
        do_create_synonym_set(kb.db, kb.admin, ["返款", "退钱"])
    assert "退钱" in taken.value.msg.zh
    with pytest.raises(Invalid):
        do_create_synonym_set(kb.db, kb.admin, ["一样", "一样"])
    do_update_synonym_set(kb.db, kb.admin, s.id, ["退款", "退钱", "返款"])
    assert kb.events("kb.synonyms_changed")[-1].payload == {
        "synonym_set_id": s.id,
        "words": ["退款", "退钱", "返款"],
        "previous": ["退款", "退钱"],
    }


def test_only_an_administrator_changes_the_knowledge_base(kb: Kb) -> None:
    from kefu.access.scope import caller_for

    agent = caller_for(kb.db, make_user(kb.db, kb.admin, "agent1", Role.agent, []))
    with pytest.raises(Forbidden):
        do_create_entry(kb.db, agent, KbEntryCreate(standard_question="q", answer="a"))
    assert kb.events() == []
