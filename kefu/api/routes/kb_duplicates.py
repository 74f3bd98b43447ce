"""疑似重复: knowledge-base entries that ask the same thing, and the pairs marked 不是重复 (not duplicates).

Readable by administrators, supervisors and inspectors, like the learning queue; marking and unmarking
are for administrators (``kefu.actions.kb_duplicates``). Merging a pair is ``POST /kb/entries/{id}/merge``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kefu.actions.kb import require_kb_staff
from kefu.actions.kb_duplicates import dismissed_pairs, do_dismiss_duplicate, do_restore_duplicate
from kefu.api.deps import CallerDep, DbDep
from kefu.api.params import PathId
from kefu.bot.matcher import DUPLICATE_FLOOR
from kefu.errors import not_found
from kefu.kb.read import category_paths
from kefu.models.kb import KbDuplicateDismissal, KbEntry, KbSimilarQuestion
from kefu.models.staff import User
from kefu.schemas.kb import DismissedPairPublic, DuplicateDismiss, DuplicatePairPublic, DuplicateSide, EntryBrief

router = APIRouter(prefix="/kb/duplicates", tags=["知识库 knowledge base"])


def _briefs(db: Session, tenant_id: int, ids: Iterable[int]) -> dict[int, EntryBrief]:
    """The tenant's entries among ``ids`` (a deleted or foreign id is simply absent)."""
    similar_count = func.count(KbSimilarQuestion.id)
    rows = list(
        db.execute(
            select(KbEntry.id, KbEntry.standard_question, KbEntry.category_id, similar_count.label("similar_count"))
            .outerjoin(KbSimilarQuestion, KbSimilarQuestion.entry_id == KbEntry.id)
            .where(KbEntry.tenant_id == tenant_id, KbEntry.id.in_(set(ids)))
            .group_by(KbEntry.id)
        )
    )
    paths = category_paths(db, tenant_id) if rows else {}
    return {
        r.id: EntryBrief(
            id=r.id,
            standard_question=r.standard_question,
            similar_count=r.similar_count,
            category_path=paths.get(r.category_id) if r.category_id is not None else None,
        )
        for r in rows
    }


@router.get(
    "",
    response_model=list[DuplicatePairPublic],
    summary="疑似重复条目 / entries that ask the same thing (administrators, supervisors, inspectors)",
    description="按机器人当前的索引找出问法几乎相同的两个条目，最像的在前；合并后机器人才能明确回答。"
    "标记为“不是重复”的条目对不再列出。"
    " / Pairs of entries whose questions say the same thing, by the bot's index as it is now, most alike "
    "first: visitors' questions split between them and the bot answers neither until they are merged. "
    "Pairs marked not duplicates are left out.",
)
def list_duplicates(
    request: Request,
    caller: CallerDep,
    db: DbDep,
    min_score: Annotated[float, Query(ge=DUPLICATE_FLOOR, le=1.0, description="最低相似度 / lowest score")] = 0.8,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DuplicatePairPublic]:
    require_kb_staff(caller)
    bot = request.app.state.live.bot.registry.bot_for(caller.tenant_id)
    pairs = bot.matcher.near_duplicates(min_score, limit, exclude=dismissed_pairs(db, caller.tenant_id))
    briefs = _briefs(db, caller.tenant_id, (int(i) for p in pairs for i in (p.first, p.second)))
    out = []
    for pair in pairs:
        first, second = briefs.get(int(pair.first)), briefs.get(int(pair.second))
        if first is None or second is None:  # deleted since the bot last heard
            continue
        out.append(
            DuplicatePairPublic(
                score=pair.score,
                first=DuplicateSide(**first.model_dump(), matched_question=pair.first_question),
                second=DuplicateSide(**second.model_dump(), matched_question=pair.second_question),
            )
        )
    return out


def _dismissed_out(db: Session, tenant_id: int, rows: list[KbDuplicateDismissal]) -> list[DismissedPairPublic]:
    briefs = _briefs(db, tenant_id, (i for r in rows for i in (r.entry_id, r.other_entry_id)))
    user_ids = {r.dismissed_by for r in rows if r.dismissed_by is not None}
    names = {u.id: u.display_name for u in db.execute(select(User.id, User.display_name).where(User.id.in_(user_ids)))}
    return [
        DismissedPairPublic(
            id=r.id,
            first=briefs[r.entry_id],
            second=briefs[r.other_entry_id],
            dismissed_by=names.get(r.dismissed_by) if r.dismissed_by is not None else None,
            dismissed_at=r.created_at,
        )
        for r in rows
        if r.entry_id in briefs and r.other_entry_id in briefs  # else deleted a moment ago, and the mark with it
    ]


@router.get(
    "/dismissals",
    response_model=list[DismissedPairPublic],
    summary="标记为不是重复的条目对 / pairs marked not duplicates (administrators, supervisors, inspectors)",
)
def list_dismissals(caller: CallerDep, db: DbDep) -> list[DismissedPairPublic]:
    require_kb_staff(caller)
    rows = list(
        db.scalars(
            select(KbDuplicateDismissal)
            .where(KbDuplicateDismissal.tenant_id == caller.tenant_id)
            .order_by(KbDuplicateDismissal.created_at.desc(), KbDuplicateDismissal.id.desc())
        )
    )
    return _dismissed_out(db, caller.tenant_id, rows)


@router.post(
    "/dismissals",
    response_model=DismissedPairPublic,
    status_code=201,
    summary="标记为不是重复 / mark a pair as not duplicates (administrators)",
    description="两个条目问的是不同的事：疑似重复列表不再列出这一对，直到撤销标记；已标记的再标记一次不改变什么。"
    " / The two entries ask different things: the duplicate list leaves the pair out until the mark is "
    "taken back; marking a marked pair again changes nothing.",
)
def dismiss(data: DuplicateDismiss, caller: CallerDep, db: DbDep) -> DismissedPairPublic:
    row = do_dismiss_duplicate(db, caller, data.entry_id, data.other_entry_id)
    out = _dismissed_out(db, caller.tenant_id, [row])
    if not out:  # one of the entries was deleted right after the mark was stored
        raise not_found("知识库条目", "knowledge-base entry")
    return out[0]


@router.delete(
    "/dismissals/{dismissal_id}",
    status_code=204,
    summary="撤销不是重复的标记 / take a not-duplicates mark back (administrators)",
)
def restore(dismissal_id: PathId, caller: CallerDep, db: DbDep) -> Response:
    do_restore_duplicate(db, caller, dismissal_id)
    return Response(status_code=204)
