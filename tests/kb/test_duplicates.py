"""不是重复: marking a pair of entries as not duplicates, and taking the mark back (the actions and events)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kefu.access.scope import caller_for
from kefu.actions.kb import do_create_entry, do_delete_entry, do_merge_entries
from kefu.actions.kb_duplicates import dismissed_pairs, do_dismiss_duplicate, do_restore_duplicate
from kefu.errors import Forbidden, Invalid, NotFound
from kefu.models.kb import KbDuplicateDismissal, KbEntry
from kefu.models.staff import Role
from kefu.schemas.kb import KbEntryCreate
from tests.factories import make_user
from tests.kb.conftest import Kb


def entry(kb: Kb, question: str, *similar: str) -> KbEntry:
    data = KbEntryCreate(standard_question=question, similar_questions=list(similar), answer="答案")
    return do_create_entry(kb.db, kb.admin, data)


def marks(kb: Kb) -> list[tuple[int, int]]:
    rows = kb.db.execute(select(KbDuplicateDismissal.entry_id, KbDuplicateDismissal.other_entry_id))
    return [(a, b) for a, b in rows]


def test_a_pair_is_marked_once_whichever_entry_comes_first(kb: Kb) -> None:
    repay, refund = entry(kb, "花呗怎么还款"), entry(kb, "花呗怎么退款")
    row = do_dismiss_duplicate(kb.db, kb.admin, refund.id, repay.id)
    assert (row.entry_id, row.other_entry_id) == (repay.id, refund.id) and row.dismissed_by == kb.admin.user_id
    (event,) = kb.events("kb.duplicate")
    assert event.type == "kb.duplicate_dismissed" and event.team_id is None
    assert event.payload == {"dismissal_id": row.id, "entry_ids": [repay.id, refund.id]}
    again = do_dismiss_duplicate(kb.db, kb.admin, repay.id, refund.id)
    assert again.id == row.id and len(kb.events("kb.duplicate")) == 1  # nothing new to say
    assert dismissed_pairs(kb.db, kb.tenant_id) == {frozenset((str(repay.id), str(refund.id)))}
    assert dismissed_pairs(kb.db, kb.other_tenant_id) == set()


def test_restoring_a_mark_lists_the_pair_again(kb: Kb) -> None:
    a, b = entry(kb, "花呗怎么还款"), entry(kb, "花呗怎么退款")
    row = do_dismiss_duplicate(kb.db, kb.admin, a.id, b.id)
    do_restore_duplicate(kb.db, kb.admin, row.id)
    assert marks(kb) == []
    restored = kb.events("kb.duplicate")[-1]
    assert restored.type == "kb.duplicate_restored" and restored.payload["entry_ids"] == [a.id, b.id]
    with pytest.raises(NotFound):
        do_restore_duplicate(kb.db, kb.admin, row.id)


def test_who_may_mark_and_what_is_refused(kb: Kb) -> None:
    a, b = entry(kb, "花呗怎么还款"), entry(kb, "花呗怎么退款")
    with pytest.raises(Invalid) as itself:
        do_dismiss_duplicate(kb.db, kb.admin, a.id, a.id)
    assert itself.value.code == "kb.dismiss_self"
    theirs = do_create_entry(kb.db, kb.other_admin, KbEntryCreate(standard_question="花呗怎么还款", answer="a"))
    for first, second in ((a.id, theirs.id), (theirs.id, a.id), (theirs.id, theirs.id)):
        with pytest.raises(NotFound):
            do_dismiss_duplicate(kb.db, kb.admin, first, second)
    supervisor = make_user(kb.db, kb.admin, "sup", Role.supervisor, [])
    with pytest.raises(Forbidden):
        do_dismiss_duplicate(kb.db, caller_for(kb.db, supervisor), a.id, b.id)
    row = do_dismiss_duplicate(kb.db, kb.admin, a.id, b.id)
    with pytest.raises(NotFound):  # another tenant's administrator cannot even name it
        do_restore_duplicate(kb.db, kb.other_admin, row.id)
    with pytest.raises(Forbidden):
        do_restore_duplicate(kb.db, caller_for(kb.db, supervisor), row.id)
    assert marks(kb) == [(a.id, b.id)] and len(kb.events("kb.duplicate")) == 1


def test_a_mark_goes_with_its_entries(kb: Kb) -> None:
    a, b, c = entry(kb, "花呗怎么还款"), entry(kb, "花呗怎么退款"), entry(kb, "怎么还花呗")
    do_dismiss_duplicate(kb.db, kb.admin, a.id, b.id)
    do_dismiss_duplicate(kb.db, kb.admin, a.id, c.id)
    do_delete_entry(kb.db, kb.admin, b.id)
    kb.db.expire_all()
    assert marks(kb) == [(a.id, c.id)]
    do_merge_entries(kb.db, kb.admin, a.id, c.id)  # merged after all: the mark is gone with the merged entry
    kb.db.expire_all()
    assert marks(kb) == []


def test_administrators_marking_one_pair_at_once_store_it_once(database, kb: Kb) -> None:  # type: ignore[no-untyped-def]
    """The tenant lock serialises markers: without it, PostgreSQL lets two of them insert the same pair and
    one fails on the unique constraint instead of getting the stored mark."""
    from concurrent.futures import ThreadPoolExecutor

    a, b = entry(kb, "花呗怎么还款"), entry(kb, "花呗怎么退款")
    kb.db.commit()

    def mark(n: int) -> int:
        with database.session() as db:
            first, second = (a.id, b.id) if n % 2 else (b.id, a.id)
            return do_dismiss_duplicate(db, kb.admin, first, second).id

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = set(pool.map(mark, range(8)))
    assert len(ids) == 1 and marks(kb) == [(a.id, b.id)]
    assert len(kb.events("kb.duplicate_dismissed")) == 1
