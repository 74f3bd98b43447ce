"""Reading the knowledge base for the API: public forms of rows and the category tree."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kefu.models.kb import KbCategory, KbEntry, KbLearningItem
from kefu.schemas.kb import (
    KbCategoryPublic,
    KbEntryPublic,
    LearningItemPublic,
    LearningPick,
    SimilarQuestionPublic,
)


def category_paths(db: Session, tenant_id: int) -> dict[int, str]:
    """Every category of the tenant → its full path ("售后/退货"). A tenant has a few hundred categories at
    most, so one query and a walk in memory beat a recursive query per row."""
    rows = db.execute(
        select(KbCategory.id, KbCategory.parent_id, KbCategory.name).where(KbCategory.tenant_id == tenant_id)
    ).all()
    parent = {r.id: r.parent_id for r in rows}
    name = {r.id: r.name for r in rows}
    paths: dict[int, str] = {}

    def path(cid: int) -> str:
        if cid not in paths:
            parts: list[str] = []
            seen: set[int] = set()
            node: int | None = cid
            while node is not None and node not in seen and node in name:
                seen.add(node)
                parts.append(name[node])
                node = parent[node]
            paths[cid] = "/".join(reversed(parts))
        return paths[cid]

    for cid in name:
        path(cid)
    return paths


def category_subtree(db: Session, tenant_id: int, root: int) -> set[int]:
    rows = db.execute(select(KbCategory.id, KbCategory.parent_id).where(KbCategory.tenant_id == tenant_id)).all()
    children: dict[int | None, list[int]] = {}
    for r in rows:
        children.setdefault(r.parent_id, []).append(r.id)
    found = {root}
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def entry_public(entry: KbEntry, paths: dict[int, str], now: datetime) -> KbEntryPublic:
    return KbEntryPublic(
        id=entry.id,
        standard_question=entry.standard_question,
        similar_questions=[SimilarQuestionPublic.model_validate(s) for s in entry.similar],
        answer=entry.answer,
        category_id=entry.category_id,
        category_path=paths.get(entry.category_id) if entry.category_id is not None else None,
        enabled=entry.enabled,
        valid_from=entry.valid_from,
        valid_until=entry.valid_until,
        in_effect=entry.in_effect(now),
        created_at=entry.created_at,
        updated_at=entry.updated_at,
    )


def categories_public(db: Session, tenant_id: int, rows: Iterable[KbCategory]) -> list[KbCategoryPublic]:
    rows = list(rows)
    paths = category_paths(db, tenant_id)
    counts = dict(
        db.execute(
            select(KbEntry.category_id, func.count())
            .where(KbEntry.tenant_id == tenant_id, KbEntry.category_id.in_([c.id for c in rows]))
            .group_by(KbEntry.category_id)
        ).all()
    )
    return [
        KbCategoryPublic(
            id=c.id,
            parent_id=c.parent_id,
            name=c.name,
            path=paths.get(c.id, c.name),
            entry_count=counts.get(c.id, 0),
            created_at=c.created_at,
            updated_at=c.updated_at,
        )
        for c in rows
    ]


def learning_public(db: Session, tenant_id: int, items: Iterable[KbLearningItem]) -> list[LearningItemPublic]:
    items = list(items)
    wanted = {i for item in items for i in item.candidates or []}
    wanted |= {int(k) for item in items for k in item.picks or {}}
    questions = (
        dict(
            db.execute(
                select(KbEntry.id, KbEntry.standard_question).where(
                    KbEntry.tenant_id == tenant_id, KbEntry.id.in_(wanted)
                )
            ).all()
        )
        if wanted
        else {}
    )
    out = []
    for item in items:
        # An entry deleted since the bot proposed it is no longer a candidate.
        candidates = [i for i in item.candidates or [] if i in questions]
        picks = sorted(
            ((int(k), n) for k, n in (item.picks or {}).items() if int(k) in questions),
            key=lambda p: (-p[1], p[0]),
        )
        out.append(
            LearningItemPublic(
                id=item.id,
                text=item.text,
                samples=list(item.samples or []),
                ask_count=item.ask_count,
                unhelpful_count=item.unhelpful_count,
                last_reason=item.last_reason,
                candidates=candidates,
                candidate_questions=[questions[i] for i in candidates],
                picks=[LearningPick(entry_id=i, question=questions[i], count=n) for i, n in picks],
                status=item.status,
                entry_id=item.entry_id,
                first_asked_at=item.first_asked_at,
                last_asked_at=item.last_asked_at,
                resolved_at=item.resolved_at,
            )
        )
    return out
