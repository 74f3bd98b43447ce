"""Knowledge-base rows of tenant A for the route-table access probe (tests/access)."""

from __future__ import annotations

from sqlalchemy import select

from kefu.access.scope import caller_for
from kefu.actions.kb import (
    do_add_dictionary_words,
    do_create_category,
    do_create_entry,
    do_create_synonym_set,
    do_record_unanswered,
)
from kefu.actions.kb_duplicates import do_dismiss_duplicate
from kefu.db.session import Database
from kefu.models.kb import KbSimilarQuestion
from kefu.schemas.kb import KbCategoryCreate, KbEntryCreate
from tests.factories import World


def tenant_a_kb(database: Database, world: World) -> dict[str, int]:
    """One of each kind of row, named by the path parameters of the /kb routes."""
    with database.session() as db:
        admin = caller_for(db, world.users["admin_a"])
        category = do_create_category(db, admin, KbCategoryCreate(name="售后")).id
        entry = do_create_entry(
            db,
            admin,
            KbEntryCreate(
                standard_question="怎么退货",
                similar_questions=["我想退货"],
                answer="签收后 7 天内可退",
                category_id=category,
            ),
        ).id
        # the other entry of a pair marked not duplicates; its id is left out of the returned ids, which the
        # probe's leak check takes as tenant A's rows of every kb table alike (tenant B's dictionary word 2)
        other = do_create_entry(db, admin, KbEntryCreate(standard_question="怎么换货", answer="七天内可换")).id
        dismissal = do_dismiss_duplicate(db, admin, entry, other).id
        similar = db.scalars(select(KbSimilarQuestion.id).where(KbSimilarQuestion.entry_id == entry)).one()
        word = do_add_dictionary_words(db, admin, ["小米14"])[0].id
        synonyms = do_create_synonym_set(db, admin, ["退款", "退钱"]).id
        item = do_record_unanswered(db, world.tenant_a, "东西坏了能退吗", None, [entry], "unanswered")
        assert item is not None
        return {
            "entry_id": entry,
            "similar_id": similar,
            "category_id": category,
            "word_id": word,
            "synonym_set_id": synonyms,
            "item_id": item.id,
            "dismissal_id": dismissal,
        }
