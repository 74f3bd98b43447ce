"""The knowledge base (知识库): entries, similar questions, categories, dictionary words, synonym sets, the
import, and the learning queue.

Who may do what: the tenant's administrators change the knowledge base; every member of staff may read
and search entries and categories (agents search them while chatting); administrators, supervisors and
inspectors also read the dictionary, the synonyms, the learning queue and the export. The knowledge base
belongs to the whole tenant, not to a team, so its events carry no ``team_id`` (administrators see them).

Every change to an entry emits ``kb.entry_created`` / ``kb.entry_updated`` with the entry's whole
matching state (``entry_state``), so that the bot's matcher updates its index from the event alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.orm import Session, selectinload

from kefu.access.caller import Caller
from kefu.db.base import utcnow
from kefu.db.session import action
from kefu.errors import Conflict, Forbidden, Invalid, Msg, not_found
from kefu.events.record import emit
from kefu.kb.io import (
    CATEGORY,
    ENABLED,
    MODES,
    SIMILAR,
    VALID_FROM,
    VALID_UNTIL,
    ImportRejected,
    ImportTable,
    Mode,
    PlannedEntry,
    plan_import,
)
from kefu.kb.normalise import normalise
from kefu.kb.richtext import answer_html
from kefu.models.kb import (
    KbCategory,
    KbDictionaryWord,
    KbEntry,
    KbLearningItem,
    KbSimilarQuestion,
    KbSynonymSet,
    LearningReason,
    LearningStatus,
)
from kefu.models.staff import Role
from kefu.models.tenant import Tenant
from kefu.schemas.kb import (
    MAX_ANSWER_LEN,
    MAX_CATEGORY_DEPTH,
    MAX_QUESTION_LEN,
    MAX_SIMILAR_PER_ENTRY,
    KbCategoryCreate,
    KbCategoryUpdate,
    KbEntryCreate,
    KbEntryUpdate,
    LearningCreateEntry,
)

#: Raw wordings kept per learning-queue item.
MAX_SAMPLES = 5
MAX_LEARNING_TEXT = 500
MAX_CANDIDATES = 3

# --- who may do what -------------------------------------------------------------------------------------


def require_kb_admin(caller: Caller) -> None:
    if not caller.is_admin:
        raise Forbidden(
            Msg("只有管理员可以修改知识库", "only an administrator can change the knowledge base"),
            code="kb.admin_only",
        )


def require_kb_staff(caller: Caller) -> None:
    """The dictionary, synonyms, learning queue and export: not for agents."""
    if caller.role is Role.agent:
        raise Forbidden(
            Msg("坐席只能查询知识库条目", "agents may only read and search knowledge-base entries"),
            code="kb.staff_only",
        )


def access_entry(db: Session, caller: Caller, entry_id: int, *, for_update: bool = False) -> KbEntry:
    """An entry of the caller's tenant (any member of staff may read one). The same 404 for a missing entry
    and one of another tenant."""
    query = (
        select(KbEntry)
        .where(KbEntry.id == entry_id, KbEntry.tenant_id == caller.tenant_id)
        .options(selectinload(KbEntry.similar))
    )
    entry = db.scalar(query.with_for_update() if for_update else query)
    if entry is None:
        raise not_found("知识库条目", "knowledge-base entry")
    return entry


def access_category(db: Session, caller: Caller, category_id: int) -> KbCategory:
    category = db.scalar(
        select(KbCategory).where(KbCategory.id == category_id, KbCategory.tenant_id == caller.tenant_id)
    )
    if category is None:
        raise not_found("知识库分类", "knowledge-base category")
    return category


def access_learning_item(db: Session, caller: Caller, item_id: int) -> KbLearningItem:
    require_kb_staff(caller)
    item = db.scalar(
        select(KbLearningItem).where(KbLearningItem.id == item_id, KbLearningItem.tenant_id == caller.tenant_id)
    )
    if item is None:
        raise not_found("待学习问题", "learning-queue item")
    return item


def _lock_tenant(db: Session, tenant_id: int) -> None:
    """Serialise the writers that check uniqueness across rows (a question must not be both an entry's
    standard question and another's similar question; a word must not be in two synonym sets). SQLite
    writers are serialised anyway (BEGIN IMMEDIATE); on PostgreSQL this is the tenant row FOR UPDATE.
    Always taken before an entry's row lock, so that two writers never wait for each other in a circle."""
    db.scalar(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())


# --- entries ---------------------------------------------------------------------------------------------


def entry_state(entry: KbEntry) -> dict[str, Any]:
    """What a matcher needs to index an entry, as carried by ``kb.entry_created`` and ``kb.entry_updated``."""
    return {
        "entry_id": entry.id,
        "standard_question": entry.standard_question,
        "similar_questions": [s.question for s in entry.similar],
        "category_id": entry.category_id,
        "enabled": entry.enabled,
        "valid_from": entry.valid_from.isoformat() if entry.valid_from else None,
        "valid_until": entry.valid_until.isoformat() if entry.valid_until else None,
    }


def question_key(text: str) -> str:
    key = normalise(text)
    if not key:
        raise Invalid(
            Msg(f"问题“{text}”只有标点或空白", f"the question {text!r} holds nothing but punctuation or spaces"),
            code="kb.question_empty",
        )
    return key


def _owner_of_key(db: Session, tenant_id: int, key: str) -> tuple[int, str, bool] | None:
    """(entry id, its standard question, whether the key is its standard question) of the entry that uses a
    question key, if any."""
    row = db.execute(
        select(KbEntry.id, KbEntry.standard_question).where(KbEntry.tenant_id == tenant_id, KbEntry.question_key == key)
    ).first()
    if row is not None:
        return row.id, row.standard_question, True
    row = db.execute(
        select(KbEntry.id, KbEntry.standard_question)
        .join(KbSimilarQuestion, KbSimilarQuestion.entry_id == KbEntry.id)
        .where(KbSimilarQuestion.tenant_id == tenant_id, KbSimilarQuestion.question_key == key)
    ).first()
    return (row.id, row.standard_question, False) if row is not None else None


def _check_key_free(db: Session, tenant_id: int, key: str, text: str, own_entry_id: int | None) -> None:
    owner = _owner_of_key(db, tenant_id, key)
    if owner is None or owner[0] == own_entry_id:
        return
    entry_id, standard, is_standard = owner
    if is_standard:
        raise Conflict(
            Msg(
                f"问题“{text}”已是知识库条目“{standard}”的标准问题",
                f"{text!r} is already the standard question of the entry {standard!r}",
            ),
            code="kb.question_taken",
            entry_id=entry_id,
        )
    raise Conflict(
        Msg(
            f"问题“{text}”已是知识库条目“{standard}”的相似问题",
            f"{text!r} is already a similar question of the entry {standard!r}",
        ),
        code="kb.question_taken",
        entry_id=entry_id,
    )


def _check_category(db: Session, tenant_id: int, category_id: int | None) -> None:
    if category_id is None:
        return
    if db.scalar(select(KbCategory.id).where(KbCategory.id == category_id, KbCategory.tenant_id == tenant_id)) is None:
        raise not_found("知识库分类", "knowledge-base category")


def _check_validity(valid_from: datetime | None, valid_until: datetime | None) -> None:
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        raise Invalid(
            Msg("失效时间必须晚于生效时间", "valid_until must be later than valid_from"), code="kb.validity_invalid"
        )


def _answer(text: str) -> str:
    html = answer_html(text)
    if not html:
        raise Invalid(
            Msg("答案清理后为空（只允许安全的 HTML）", "the answer is empty once sanitised (only safe HTML is kept)"),
            code="kb.answer_empty",
        )
    if len(html) > MAX_ANSWER_LEN:
        raise Invalid(
            Msg(f"答案过长（超过 {MAX_ANSWER_LEN} 字符）", f"the answer is longer than {MAX_ANSWER_LEN} characters"),
            code="kb.answer_too_long",
        )
    return html


def _set_similar(db: Session, entry: KbEntry, questions: Iterable[str]) -> bool:
    """Make the entry's similar questions exactly ``questions`` (duplicates and the standard question itself
    dropped); rows of questions kept keep their ids. Returns whether anything changed."""
    wanted: dict[str, str] = {}
    for q in questions:
        key = question_key(q)
        if key != entry.question_key and key not in wanted:
            wanted[key] = q
    if len(wanted) > MAX_SIMILAR_PER_ENTRY:
        raise Invalid(
            Msg(f"相似问题最多 {MAX_SIMILAR_PER_ENTRY} 个", f"at most {MAX_SIMILAR_PER_ENTRY} similar questions"),
            code="kb.too_many_similar",
        )
    changed = False
    for row in list(entry.similar):
        if row.question_key not in wanted:
            entry.similar.remove(row)
            changed = True
        elif wanted[row.question_key] != row.question:
            row.question = wanted.pop(row.question_key)
            changed = True
        else:
            wanted.pop(row.question_key)
    for key, q in wanted.items():
        _check_key_free(db, entry.tenant_id, key, q, entry.id)
        entry.similar.append(KbSimilarQuestion(tenant_id=entry.tenant_id, question=q, question_key=key))
        changed = True
    return changed


def _create_entry(db: Session, tenant_id: int, actor_id: int | None, data: KbEntryCreate) -> KbEntry:
    _lock_tenant(db, tenant_id)
    key = question_key(data.standard_question)
    _check_key_free(db, tenant_id, key, data.standard_question, None)
    _check_category(db, tenant_id, data.category_id)
    _check_validity(data.valid_from, data.valid_until)
    entry = KbEntry(
        tenant_id=tenant_id,
        category_id=data.category_id,
        standard_question=data.standard_question,
        question_key=key,
        answer=_answer(data.answer),
        enabled=data.enabled,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
        similar=[],
    )
    db.add(entry)
    db.flush()
    _set_similar(db, entry, data.similar_questions)
    db.flush()
    emit(db, "kb.entry_created", tenant_id=tenant_id, actor_id=actor_id, payload=entry_state(entry))
    return entry


@action
def do_create_entry(db: Session, caller: Caller, data: KbEntryCreate) -> KbEntry:
    require_kb_admin(caller)
    return _create_entry(db, caller.tenant_id, caller.user_id, data)


@action
def do_update_entry(db: Session, caller: Caller, entry_id: int, data: KbEntryUpdate) -> KbEntry:
    """Everything is checked before the event is appended; ``kb.entry_updated`` names what changed in
    ``changed`` and carries the entry's whole matching state."""
    require_kb_admin(caller)
    _lock_tenant(db, caller.tenant_id)
    entry = access_entry(db, caller, entry_id, for_update=True)
    sent = data.model_fields_set
    changed: list[str] = []
    if data.standard_question is not None and data.standard_question != entry.standard_question:
        key = question_key(data.standard_question)
        _check_key_free(db, caller.tenant_id, key, data.standard_question, entry.id)
        own_similar = next((s for s in entry.similar if s.question_key == key), None)
        if own_similar is not None:  # promoted from a similar question of this very entry
            entry.similar.remove(own_similar)
            db.flush()
        entry.standard_question, entry.question_key = data.standard_question, key
        changed.append("standard_question")
    if data.similar_questions is not None and _set_similar(db, entry, data.similar_questions):
        changed.append("similar_questions")
    if data.answer is not None:
        html = _answer(data.answer)
        if html != entry.answer:
            entry.answer = html
            changed.append("answer")
    if "category_id" in sent and data.category_id != entry.category_id:
        _check_category(db, caller.tenant_id, data.category_id)
        entry.category_id = data.category_id
        changed.append("category_id")
    if data.enabled is not None and data.enabled != entry.enabled:
        entry.enabled = data.enabled
        changed.append("enabled")
    valid_from = data.valid_from if "valid_from" in sent else entry.valid_from
    valid_until = data.valid_until if "valid_until" in sent else entry.valid_until
    _check_validity(valid_from, valid_until)
    if valid_from != entry.valid_from:
        entry.valid_from = valid_from
        changed.append("valid_from")
    if valid_until != entry.valid_until:
        entry.valid_until = valid_until
        changed.append("valid_until")
    if changed:
        entry.updated_at = utcnow()
        db.flush()
        emit(
            db,
            "kb.entry_updated",
            tenant_id=caller.tenant_id,
            actor_id=caller.user_id,
            payload={**entry_state(entry), "changed": changed},
        )
    return entry


@action
def do_delete_entry(db: Session, caller: Caller, entry_id: int) -> None:
    require_kb_admin(caller)
    entry = access_entry(db, caller, entry_id, for_update=True)
    emit(
        db,
        "kb.entry_deleted",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        payload={"entry_id": entry.id, "standard_question": entry.standard_question},
    )
    db.delete(entry)


def _add_similar(db: Session, entry: KbEntry, question: str, actor_id: int | None) -> KbSimilarQuestion | None:
    """Add one similar question; None when the entry already has it (or it is its standard question)."""
    _lock_tenant(db, entry.tenant_id)
    key = question_key(question)
    if key == entry.question_key or any(s.question_key == key for s in entry.similar):
        return None
    if len(entry.similar) >= MAX_SIMILAR_PER_ENTRY:
        raise Invalid(
            Msg(f"相似问题最多 {MAX_SIMILAR_PER_ENTRY} 个", f"at most {MAX_SIMILAR_PER_ENTRY} similar questions"),
            code="kb.too_many_similar",
        )
    _check_key_free(db, entry.tenant_id, key, question, entry.id)
    row = KbSimilarQuestion(tenant_id=entry.tenant_id, question=question, question_key=key)
    entry.similar.append(row)
    entry.updated_at = utcnow()
    db.flush()
    emit(
        db,
        "kb.entry_updated",
        tenant_id=entry.tenant_id,
        actor_id=actor_id,
        payload={**entry_state(entry), "changed": ["similar_questions"]},
    )
    return row


@action
def do_add_similar_question(db: Session, caller: Caller, entry_id: int, question: str) -> KbEntry:
    """Idempotent: a question the entry already has (by normalised text) changes nothing."""
    require_kb_admin(caller)
    _lock_tenant(db, caller.tenant_id)  # before the entry: the order every writer takes them in
    entry = access_entry(db, caller, entry_id, for_update=True)
    _add_similar(db, entry, question, caller.user_id)
    return entry


@action
def do_remove_similar_question(db: Session, caller: Caller, entry_id: int, similar_id: int) -> KbEntry:
    require_kb_admin(caller)
    entry = access_entry(db, caller, entry_id, for_update=True)
    row = next((s for s in entry.similar if s.id == similar_id), None)
    if row is None:
        raise not_found("相似问题", "similar question")
    entry.similar.remove(row)
    entry.updated_at = utcnow()
    db.flush()
    emit(
        db,
        "kb.entry_updated",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        payload={**entry_state(entry), "changed": ["similar_questions"]},
    )
    return entry


@action
def do_merge_entries(db: Session, caller: Caller, entry_id: int, merged_entry_id: int) -> KbEntry:
    """合并条目: two entries that ask the same thing become one. The merged entry's standard and similar
    questions become similar questions of ``entry_id`` and the merged entry is deleted — its answer,
    category and validity go with it: the administrator keeps the answer by choosing which entry to keep.
    One transaction: if the kept entry would exceed its similar-question limit, nothing changes."""
    require_kb_admin(caller)
    _lock_tenant(db, caller.tenant_id)
    kept = access_entry(db, caller, entry_id, for_update=True)  # first: another tenant's entry is a 404
    if entry_id == merged_entry_id:
        raise Invalid(Msg("不能把条目合并到它自己", "an entry cannot be merged into itself"), code="kb.merge_self")
    merged = access_entry(db, caller, merged_entry_id, for_update=True)
    moved = [merged.standard_question, *(s.question for s in merged.similar)]
    emit(
        db,
        "kb.entry_deleted",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        payload={"entry_id": merged.id, "standard_question": merged.standard_question, "merged_into": kept.id},
    )
    db.delete(merged)
    db.flush()  # its questions are free to move now
    _set_similar(db, kept, [*(s.question for s in kept.similar), *moved])
    kept.updated_at = utcnow()
    db.flush()
    emit(
        db,
        "kb.entry_updated",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        payload={**entry_state(kept), "changed": ["similar_questions"], "merged": merged_entry_id},
    )
    return kept


# --- categories ------------------------------------------------------------------------------------------


def _check_category_name_free(
    db: Session, tenant_id: int, parent_id: int | None, name: str, exclude: int | None
) -> None:
    q = select(KbCategory.id).where(
        KbCategory.tenant_id == tenant_id,
        KbCategory.parent_id.is_(None) if parent_id is None else KbCategory.parent_id == parent_id,
        func.lower(KbCategory.name) == name.lower(),
    )
    if exclude is not None:
        q = q.where(KbCategory.id != exclude)
    if db.scalar(q) is not None:
        raise Conflict(
            Msg(f"同一级下已有分类“{name}”", f"a category named {name!r} already exists at this level"),
            code="kb.category_name_taken",
        )


def _depth_below(db: Session, tenant_id: int, category_id: int) -> int:
    """Levels under a category (0 for a leaf)."""
    rows = db.execute(select(KbCategory.id, KbCategory.parent_id).where(KbCategory.tenant_id == tenant_id)).all()
    children: dict[int | None, list[int]] = {}
    for r in rows:
        children.setdefault(r.parent_id, []).append(r.id)

    def depth(node: int, seen: frozenset[int]) -> int:
        kids = [c for c in children.get(node, []) if c not in seen]
        return 1 + max(depth(c, seen | {c}) for c in kids) if kids else 0

    return depth(category_id, frozenset({category_id}))


def _ancestors(db: Session, tenant_id: int, category_id: int) -> list[int]:
    """The category and the ones above it, nearest first."""
    chain: list[int] = []
    node: int | None = category_id
    while node is not None and node not in chain:
        chain.append(node)
        node = db.scalar(select(KbCategory.parent_id).where(KbCategory.id == node, KbCategory.tenant_id == tenant_id))
    return chain


def _too_deep() -> Invalid:
    return Invalid(
        Msg(f"分类最多 {MAX_CATEGORY_DEPTH} 级", f"categories nest at most {MAX_CATEGORY_DEPTH} levels deep"),
        code="kb.category_too_deep",
    )


@action
def do_create_category(db: Session, caller: Caller, data: KbCategoryCreate) -> KbCategory:
    require_kb_admin(caller)
    _lock_tenant(db, caller.tenant_id)
    if data.parent_id is not None:
        access_category(db, caller, data.parent_id)
        if len(_ancestors(db, caller.tenant_id, data.parent_id)) >= MAX_CATEGORY_DEPTH:
            raise _too_deep()
    _check_category_name_free(db, caller.tenant_id, data.parent_id, data.name, None)
    category = KbCategory(tenant_id=caller.tenant_id, parent_id=data.parent_id, name=data.name)
    db.add(category)
    db.flush()
    emit(
        db,
        "kb.category_created",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        payload={"category_id": category.id, "name": category.name, "parent_id": category.parent_id},
    )
    return category


@action
def do_update_category(db: Session, caller: Caller, category_id: int, data: KbCategoryUpdate) -> KbCategory:
    """Rename or move a category (with everything below it); a move under its own subtree is refused."""
    require_kb_admin(caller)
    _lock_tenant(db, caller.tenant_id)
    category = access_category(db, caller, category_id)
    changed: dict[str, Any] = {}
    parent_id = data.parent_id if "parent_id" in data.model_fields_set else category.parent_id
    name = data.name if data.name is not None else category.name
    if parent_id != category.parent_id:
        if parent_id is not None:
            access_category(db, caller, parent_id)
            above = _ancestors(db, caller.tenant_id, parent_id)
            if category.id in above:
                raise Invalid(
                    Msg("不能把分类移到它自己或它的下级分类下", "a category cannot move under itself or below it"),
                    code="kb.category_cycle",
                )
            if len(above) + 1 + _depth_below(db, caller.tenant_id, category.id) > MAX_CATEGORY_DEPTH:
                raise _too_deep()
        changed["parent_id"] = parent_id
    if name != category.name:
        changed["name"] = name
    if changed:
        _check_category_name_free(db, caller.tenant_id, parent_id, name, category.id)
        category.parent_id, category.name = parent_id, name
        emit(
            db,
            "kb.category_updated",
            tenant_id=caller.tenant_id,
            actor_id=caller.user_id,
            payload={"category_id": category.id, "changed": changed},
        )
    return category


@action
def do_delete_category(db: Session, caller: Caller, category_id: int) -> None:
    """Only an empty category (no entries, no sub-categories) can be deleted: entries never lose their
    category by accident."""
    require_kb_admin(caller)
    category = access_category(db, caller, category_id)
    entries = db.scalar(select(func.count()).where(KbEntry.category_id == category.id)) or 0
    children = db.scalar(select(func.count()).where(KbCategory.parent_id == category.id)) or 0
    if entries or children:
        raise Conflict(
            Msg(
                f"分类“{category.name}”下还有 {entries} 个条目和 {children} 个子分类，移走后才能删除",
                f"the category {category.name!r} still holds {entries} entries and {children} sub-categories; "
                "move them first",
            ),
            code="kb.category_not_empty",
        )
    emit(
        db,
        "kb.category_deleted",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        payload={"category_id": category.id, "name": category.name, "parent_id": category.parent_id},
    )
    db.delete(category)


def ensure_category_path(db: Session, tenant_id: int, parts: list[str]) -> tuple[int, list[KbCategory]]:
    """The id of the category at ``parts`` (["售后", "退货"]), creating missing levels; returns the new
    categories too. Names match without regard to case. The caller holds the tenant lock."""
    parent: int | None = None
    created: list[KbCategory] = []
    for name in parts:
        found = db.scalar(
            select(KbCategory.id).where(
                KbCategory.tenant_id == tenant_id,
                KbCategory.parent_id.is_(None) if parent is None else KbCategory.parent_id == parent,
                func.lower(KbCategory.name) == name.lower(),
            )
        )
        if found is None:
            category = KbCategory(tenant_id=tenant_id, parent_id=parent, name=name)
            db.add(category)
            db.flush()
            created.append(category)
            found = category.id
        parent = found
    assert parent is not None
    return parent, created


# --- dictionary and synonyms -----------------------------------------------------------------------------


@action
def do_add_dictionary_words(db: Session, caller: Caller, words: list[str]) -> list[KbDictionaryWord]:
    """Add words; words already in the dictionary are skipped. ``kb.dictionary_changed`` lists the ones added."""
    require_kb_admin(caller)
    wanted = list(dict.fromkeys(words))
    have = set(
        db.scalars(
            select(KbDictionaryWord.word).where(
                KbDictionaryWord.tenant_id == caller.tenant_id, KbDictionaryWord.word.in_(wanted)
            )
        )
    )
    rows = [KbDictionaryWord(tenant_id=caller.tenant_id, word=w) for w in wanted if w not in have]
    if rows:
        db.add_all(rows)
        db.flush()
        emit(
            db,
            "kb.dictionary_changed",
            tenant_id=caller.tenant_id,
            actor_id=caller.user_id,
            payload={"added": [r.word for r in rows], "removed": []},
        )
    return rows


@action
def do_remove_dictionary_word(db: Session, caller: Caller, word_id: int) -> None:
    require_kb_admin(caller)
    row = db.scalar(
        select(KbDictionaryWord).where(KbDictionaryWord.id == word_id, KbDictionaryWord.tenant_id == caller.tenant_id)
    )
    if row is None:
        raise not_found("词典词语", "dictionary word")
    emit(
        db,
        "kb.dictionary_changed",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        payload={"added": [], "removed": [row.word]},
    )
    db.delete(row)


def access_synonym_set(db: Session, caller: Caller, synonym_set_id: int) -> KbSynonymSet:
    require_kb_staff(caller)
    row = db.scalar(
        select(KbSynonymSet).where(KbSynonymSet.id == synonym_set_id, KbSynonymSet.tenant_id == caller.tenant_id)
    )
    if row is None:
        raise not_found("同义词组", "synonym set")
    return row


def _synonym_words(db: Session, tenant_id: int, words: list[str], exclude: int | None) -> list[str]:
    """The set's words without duplicates; refuses a word that is already in another set."""
    unique = list(dict.fromkeys(words))
    if len(unique) < 2:
        raise Invalid(
            Msg("同义词组至少要有两个不同的词", "a synonym set needs two different words or more"),
            code="kb.synonyms_too_few",
        )
    _lock_tenant(db, tenant_id)
    taken: dict[str, list[str]] = {}
    for other in db.scalars(select(KbSynonymSet).where(KbSynonymSet.tenant_id == tenant_id)):
        if other.id != exclude:
            for w in other.words:
                taken[w] = other.words
    clash = [w for w in unique if w in taken]
    if clash:
        w = clash[0]
        group = "、".join(taken[w])
        raise Conflict(
            Msg(f"“{w}”已在同义词组（{group}）中", f"{w!r} is already in the synonym set ({', '.join(taken[w])})"),
            code="kb.synonym_taken",
        )
    return unique


@action
def do_create_synonym_set(db: Session, caller: Caller, words: list[str]) -> KbSynonymSet:
    require_kb_admin(caller)
    row = KbSynonymSet(tenant_id=caller.tenant_id, words=_synonym_words(db, caller.tenant_id, words, None))
    db.add(row)
    db.flush()
    emit(
        db,
        "kb.synonyms_changed",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        payload={"synonym_set_id": row.id, "words": row.words, "previous": []},
    )
    return row


@action
def do_update_synonym_set(db: Session, caller: Caller, synonym_set_id: int, words: list[str]) -> KbSynonymSet:
    require_kb_admin(caller)
    row = access_synonym_set(db, caller, synonym_set_id)
    new = _synonym_words(db, caller.tenant_id, words, row.id)
    if new != row.words:
        previous = row.words
        row.words = new
        emit(
            db,
            "kb.synonyms_changed",
            tenant_id=caller.tenant_id,
            actor_id=caller.user_id,
            payload={"synonym_set_id": row.id, "words": new, "previous": previous},
        )
    return row


@action
def do_delete_synonym_set(db: Session, caller: Caller, synonym_set_id: int) -> None:
    require_kb_admin(caller)
    row = access_synonym_set(db, caller, synonym_set_id)
    emit(
        db,
        "kb.synonyms_changed",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        payload={"synonym_set_id": row.id, "words": [], "previous": row.words},
    )
    db.delete(row)


# --- import ----------------------------------------------------------------------------------------------

#: Called as progress(phase, done, total) while an import runs; phase is "validate" or "write".
Progress = Callable[[str, int, int], None]

#: Rows written per statement: large enough for speed, small enough for progress and parameter limits.
CHUNK = 1000


@dataclass
class ImportResult:
    mode: str
    rows: int
    dry_run: bool = False
    created: int = 0
    updated: int = 0
    deleted: int = 0
    categories_created: int = 0


@action
def do_import_kb(
    db: Session,
    tenant_id: int,
    table: ImportTable,
    *,
    mode: Mode,
    actor_id: int | None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Import a file read by ``kefu.kb.io.read_table``: validate every row (``plan_import``), and raise
    ``ImportRejected`` with every bad row — nothing written — if any is bad; else write it all in this one
    transaction (``dry_run``: only validate, and report what would change).

    In ``upsert`` mode a column the file leaves out keeps its value in the entries it updates. One
    ``kb.imported`` event tells the matcher to reload the tenant's knowledge base (cheaper than thousands
    of per-entry events); new categories get their own ``kb.category_created``."""
    if mode not in MODES:
        raise Invalid(
            Msg(
                f"未知的导入模式“{mode}”（append、upsert、replace）",
                f"unknown import mode {mode!r} (append, upsert, replace)",
            ),
            code="kb.import_mode",
        )
    _lock_tenant(db, tenant_id)
    planned, errors = plan_import(db, tenant_id, table, mode, progress)
    if errors:
        raise ImportRejected(errors, rows=len(table.rows))
    columns = frozenset(table.columns)
    result = ImportResult(mode=mode, rows=len(planned), dry_run=dry_run)
    if dry_run:
        result.updated = sum(1 for p in planned if p.existing_id is not None)
        result.created = len(planned) - result.updated
        if mode == "replace":
            result.deleted = db.scalar(select(func.count()).where(KbEntry.tenant_id == tenant_id)) or 0
        return result
    _write_import(db, tenant_id, planned, result, columns, actor_id, progress)
    return result


def _write_import(
    db: Session,
    tenant_id: int,
    planned: list[PlannedEntry],
    counts: ImportResult,
    columns: frozenset[str],
    actor_id: int | None,
    progress: Progress | None,
) -> None:
    """Bulk statements of ``CHUNK`` rows, never a flush per row."""
    now = utcnow()
    total = len(planned)
    if progress:
        progress("write", 0, total)
    categories: dict[tuple[str, ...], int] = {}
    for p in planned:
        if p.category and tuple(p.category) not in categories:
            cid, created = ensure_category_path(db, tenant_id, p.category)
            categories[tuple(p.category)] = cid
            for c in created:
                counts.categories_created += 1
                emit(
                    db,
                    "kb.category_created",
                    tenant_id=tenant_id,
                    actor_id=actor_id,
                    payload={"category_id": c.id, "name": c.name, "parent_id": c.parent_id},
                )
    if counts.mode == "replace":
        counts.deleted = db.scalar(select(func.count()).where(KbEntry.tenant_id == tenant_id)) or 0
        # Similar questions go with their entries (ON DELETE CASCADE); learning-queue items keep their
        # history with entry_id set to NULL.
        db.execute(
            delete(KbEntry).where(KbEntry.tenant_id == tenant_id), execution_options={"synchronize_session": False}
        )

    def category_of(p: PlannedEntry) -> int | None:
        return categories[tuple(p.category)] if p.category else None

    if SIMILAR in columns:
        # All at once before any insert: a question may move from one updated entry to another.
        rewritten = [p.existing_id for p in planned if p.existing_id is not None]
        for start in range(0, len(rewritten), CHUNK):
            db.execute(
                delete(KbSimilarQuestion).where(KbSimilarQuestion.entry_id.in_(rewritten[start : start + CHUNK])),
                execution_options={"synchronize_session": False},
            )
    done = 0
    for start in range(0, total, CHUNK):
        chunk = planned[start : start + CHUNK]
        updates = [p for p in chunk if p.existing_id is not None]
        inserts = [p for p in chunk if p.existing_id is None]
        if updates:
            values: list[dict[str, Any]] = []
            for p in updates:
                row: dict[str, Any] = {
                    "id": p.existing_id,
                    "standard_question": p.standard_question,
                    "answer": p.answer,
                    "updated_at": now,
                }
                if CATEGORY in columns:
                    row["category_id"] = category_of(p)
                if ENABLED in columns:
                    row["enabled"] = p.enabled
                if VALID_FROM in columns:
                    row["valid_from"] = p.valid_from
                if VALID_UNTIL in columns:
                    row["valid_until"] = p.valid_until
                values.append(row)
            # Grouped by the keys they set: one executemany per shape.
            for shape in {tuple(sorted(v)) for v in values}:
                db.execute(update(KbEntry), [v for v in values if tuple(sorted(v)) == shape])
            counts.updated += len(updates)
        ids: list[int] = []
        if inserts:
            # Core statements (the table, not the class): plain executemany, without the ORM's per-row work.
            db.execute(
                insert(cast(Table, KbEntry.__table__)),
                [
                    {
                        "tenant_id": tenant_id,
                        "category_id": category_of(p),
                        "standard_question": p.standard_question,
                        "question_key": p.key,
                        "answer": p.answer,
                        "enabled": p.enabled,
                        "valid_from": p.valid_from,
                        "valid_until": p.valid_until,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for p in inserts
                ],
            )
            # Ids by key, not by RETURNING: SQLite falls back to a statement per row for an ordered RETURNING.
            by_key = dict(
                db.execute(
                    select(KbEntry.question_key, KbEntry.id).where(
                        KbEntry.tenant_id == tenant_id, KbEntry.question_key.in_([p.key for p in inserts])
                    )
                ).all()
            )
            ids = [by_key[p.key] for p in inserts]
            counts.created += len(inserts)
        similar_rows = [
            {"tenant_id": tenant_id, "entry_id": entry_id, "question": q, "question_key": k, "created_at": now}
            for p, entry_id in [
                *((p, p.existing_id) for p in updates if SIMILAR in columns),
                *zip(inserts, ids, strict=True),
            ]
            for q, k in p.similar
        ]
        if similar_rows:
            db.execute(insert(cast(Table, KbSimilarQuestion.__table__)), similar_rows)
        done += len(chunk)
        if progress:
            progress("write", done, total)
    emit(
        db,
        "kb.imported",
        tenant_id=tenant_id,
        actor_id=actor_id,
        payload={
            "mode": counts.mode,
            "rows": total,
            "created": counts.created,
            "updated": counts.updated,
            "deleted": counts.deleted,
            "categories_created": counts.categories_created,
        },
    )
    # The bulk statements bypassed the identity map: entries loaded before are stale. (Not expire_all: the
    # events' ids must stay readable for publishing after the commit.)
    for obj in list(db.identity_map.values()):
        if isinstance(obj, (KbEntry, KbSimilarQuestion)):
            db.expire(obj)


# --- learning queue --------------------------------------------------------------------------------------


def _upsert_learning(db: Session, values: dict[str, Any]) -> int:
    """INSERT … ON CONFLICT (tenant_id, text_key) DO UPDATE ask_count + 1: concurrent records of the same
    question from many conversations count each one, on SQLite and PostgreSQL alike. The row stays locked
    by this transaction (PostgreSQL) so the caller may read and change it safely."""
    from sqlalchemy.dialects import postgresql, sqlite

    pg = db.get_bind().dialect.name == "postgresql"
    stmt = (postgresql.insert if pg else sqlite.insert)(KbLearningItem).values(**values)
    upsert = stmt.on_conflict_do_update(
        index_elements=[KbLearningItem.tenant_id, KbLearningItem.text_key],
        set_={
            "ask_count": KbLearningItem.ask_count + 1,
            "unhelpful_count": KbLearningItem.unhelpful_count + stmt.excluded.unhelpful_count,
            "last_reason": stmt.excluded.last_reason,
            "last_asked_at": stmt.excluded.last_asked_at,
        },
    ).returning(KbLearningItem.id)
    return int(db.execute(upsert).scalar_one())


@action
def do_record_unanswered(
    db: Session,
    tenant_id: int,
    text: str,
    normalised: str | None,
    candidates: list[int],
    reason: LearningReason | str = LearningReason.unanswered,
) -> KbLearningItem | None:
    """The bot could not answer ``text`` (or its answer was marked unhelpful): count it in the learning queue
    under its normalised form (``normalised``, or ``kefu.kb.normalise.normalise(text)`` when None), with
    the bot's best entry ids (``candidates``, best first; at most three are kept, and only entries of the
    tenant; an empty list keeps the previous proposal). Returns None for a text with nothing to learn (only
    punctuation or emoji).

    An item that was attached or made into an entry opens again: the bot still missed it. An ignored item
    stays ignored, but is counted."""
    reason = LearningReason(reason)
    raw = " ".join(text.split())[:MAX_LEARNING_TEXT]
    key = (normalised if normalised is not None else normalise(text))[:400]
    if not key or not raw:
        return None
    wanted = list(dict.fromkeys(c for c in candidates if isinstance(c, int)))[:MAX_CANDIDATES]
    known = (
        set(db.scalars(select(KbEntry.id).where(KbEntry.tenant_id == tenant_id, KbEntry.id.in_(wanted))))
        if wanted
        else set()
    )
    now = utcnow()
    item_id = _upsert_learning(
        db,
        {
            "tenant_id": tenant_id,
            "text_key": key,
            "text": raw,
            "samples": [raw],
            "ask_count": 1,
            "unhelpful_count": 1 if reason is LearningReason.unhelpful else 0,
            "last_reason": reason.value,
            "candidates": [c for c in wanted if c in known],
            "picks": {},
            "status": LearningStatus.open.value,
            "first_asked_at": now,
            "last_asked_at": now,
        },
    )
    item = db.scalars(
        select(KbLearningItem).where(KbLearningItem.id == item_id).execution_options(populate_existing=True)
    ).one()
    if known and item.candidates != [c for c in wanted if c in known]:
        item.candidates = [c for c in wanted if c in known]  # the latest proposal; none proposed keeps the last
    if raw not in item.samples:
        item.samples = [*item.samples, raw][-MAX_SAMPLES:]  # a new list, so the JSON column sees the change
    if item.status in (LearningStatus.attached, LearningStatus.created):
        item.status = LearningStatus.open
        item.entry_id = item.resolved_by = item.resolved_at = None
    db.flush()
    emit(
        db,
        "kb.learning_recorded",
        tenant_id=tenant_id,
        payload={
            "item_id": item.id,
            "text": raw,
            "reason": reason.value,
            "ask_count": item.ask_count,
            "status": item.status.value,
            "candidates": item.candidates,
        },
    )
    return item


@action
def do_record_pick(db: Session, tenant_id: int, text: str, entry_id: int) -> KbLearningItem | None:
    """A visitor who asked ``text`` and got suggestions (您是不是想问) picked entry ``entry_id``: count it on
    the question's learning-queue item, where the administrator sees which entry visitors chose. None when
    the question has no item (nothing was recorded for it) or the entry is not the tenant's."""
    key = normalise(text)[:400]
    if not key:
        return None
    item = db.scalar(
        select(KbLearningItem)
        .where(KbLearningItem.tenant_id == tenant_id, KbLearningItem.text_key == key)
        .with_for_update()
    )
    known = db.scalar(select(KbEntry.id).where(KbEntry.id == entry_id, KbEntry.tenant_id == tenant_id))
    if item is None or known is None:
        return None
    picks = dict(item.picks or {})
    picks[str(entry_id)] = picks.get(str(entry_id), 0) + 1
    item.picks = picks  # a new dict, so the JSON column sees the change
    emit(
        db,
        "kb.learning_picked",
        tenant_id=tenant_id,
        payload={"item_id": item.id, "text": item.text, "entry_id": entry_id, "picks": picks[str(entry_id)]},
    )
    return item


def _resolve(db: Session, caller: Caller, item: KbLearningItem, status: LearningStatus, entry_id: int | None) -> None:
    item.status = status
    item.entry_id = entry_id
    item.resolved_by = caller.user_id
    item.resolved_at = utcnow()
    emit(
        db,
        "kb.learning_resolved",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        payload={"item_id": item.id, "status": status.value, "entry_id": entry_id, "text": item.text},
    )


def _require_unresolved(item: KbLearningItem) -> None:
    if item.status in (LearningStatus.attached, LearningStatus.created):
        raise Conflict(
            Msg("该问题已处理（已挂到条目或已新建条目）", "this question was already attached or made into an entry"),
            code="kb.learning_resolved",
        )


@action
def do_attach_to_entry(
    db: Session, caller: Caller, item_id: int, entry_id: int, question: str | None = None
) -> KbLearningItem:
    """Add the item's wording (or ``question``) to an entry as a similar question: the matcher gets
    ``kb.entry_updated`` and answers it from then on. Refused if the wording belongs to another entry."""
    require_kb_admin(caller)
    item = access_learning_item(db, caller, item_id)
    _require_unresolved(item)
    _lock_tenant(db, caller.tenant_id)  # before the entry: the order every writer takes them in
    entry = access_entry(db, caller, entry_id, for_update=True)
    _add_similar(db, entry, question or item.text, caller.user_id)
    _resolve(db, caller, item, LearningStatus.attached, entry.id)
    return item


@action
def do_create_entry_from_question(
    db: Session, caller: Caller, item_id: int, data: LearningCreateEntry
) -> tuple[KbLearningItem, KbEntry]:
    """A new entry whose standard question is the item's wording (unless given)."""
    require_kb_admin(caller)
    item = access_learning_item(db, caller, item_id)
    _require_unresolved(item)
    try:
        create = KbEntryCreate(
            standard_question=data.standard_question or item.text[:MAX_QUESTION_LEN],
            answer=data.answer,
            category_id=data.category_id,
        )
    except ValidationError as e:
        raise Invalid(
            Msg("该问题不能直接作为标准问题，请填写 standard_question", "give a standard_question for this item"),
            code="kb.question_invalid",
        ) from e
    entry = _create_entry(db, caller.tenant_id, caller.user_id, create)
    _resolve(db, caller, item, LearningStatus.created, entry.id)
    return item, entry


@action
def do_ignore(db: Session, caller: Caller, item_id: int) -> KbLearningItem:
    require_kb_admin(caller)
    item = access_learning_item(db, caller, item_id)
    _require_unresolved(item)
    if item.status is not LearningStatus.ignored:
        _resolve(db, caller, item, LearningStatus.ignored, None)
    return item


@action
def do_reopen(db: Session, caller: Caller, item_id: int) -> KbLearningItem:
    """Back to the open queue (an ignored item, or one resolved by mistake; the similar question or entry
    made from it stays)."""
    require_kb_admin(caller)
    item = access_learning_item(db, caller, item_id)
    if item.status is not LearningStatus.open:
        _resolve(db, caller, item, LearningStatus.open, None)
        item.resolved_by = item.resolved_at = None
    return item
