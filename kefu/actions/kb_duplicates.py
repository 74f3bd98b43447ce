"""Duplicate entries (疑似重复) an administrator has looked at and found not to be duplicates (不是重复).

The duplicate list (``GET /api/v1/kb/duplicates``, ``Matcher.near_duplicates``) pairs entries whose
questions look alike. Some pairs are alike in words only — 花呗怎么还款 / 花呗怎么退款 — and an
administrator who has decided so should not see them again every day; dismissing a pair stores that
decision, and restoring it takes it back. Merging is ``kefu.actions.kb.do_merge_entries``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.access.caller import Caller
from kefu.actions.kb import _lock_tenant, access_entry, require_kb_admin
from kefu.db.session import action
from kefu.errors import Invalid, Msg, not_found
from kefu.events.record import emit
from kefu.models.kb import KbDuplicateDismissal

__all__ = ["dismissed_pairs", "do_dismiss_duplicate", "do_restore_duplicate"]


def _ordered(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def dismissed_pairs(db: Session, tenant_id: int) -> set[frozenset[str]]:
    """The tenant's dismissed pairs as the matcher names entries (ids as text)."""
    rows = db.execute(
        select(KbDuplicateDismissal.entry_id, KbDuplicateDismissal.other_entry_id).where(
            KbDuplicateDismissal.tenant_id == tenant_id
        )
    )
    return {frozenset((str(a), str(b))) for a, b in rows}


@action
def do_dismiss_duplicate(db: Session, caller: Caller, entry_id: int, other_entry_id: int) -> KbDuplicateDismissal:
    """不是重复: the two entries ask different things; the duplicate list leaves the pair out from now on.
    Dismissing a pair that is dismissed already changes nothing and returns the stored decision."""
    require_kb_admin(caller)
    # The tenant lock serialises markers (two administrators marking the same pair store it once) and, as
    # in every kb writer, comes before the entries' row locks, which keep them from being deleted meanwhile.
    _lock_tenant(db, caller.tenant_id)
    access_entry(db, caller, entry_id, for_update=True)  # another tenant's entry is a 404, before all else
    if entry_id == other_entry_id:
        raise Invalid(
            Msg("同一个条目不能和自己比较", "an entry cannot be compared with itself"), code="kb.dismiss_self"
        )
    access_entry(db, caller, other_entry_id, for_update=True)
    low, high = _ordered(entry_id, other_entry_id)
    existing = db.scalar(
        select(KbDuplicateDismissal).where(
            KbDuplicateDismissal.tenant_id == caller.tenant_id,
            KbDuplicateDismissal.entry_id == low,
            KbDuplicateDismissal.other_entry_id == high,
        )
    )
    if existing is not None:
        return existing
    row = KbDuplicateDismissal(
        tenant_id=caller.tenant_id, entry_id=low, other_entry_id=high, dismissed_by=caller.user_id
    )
    db.add(row)
    db.flush()
    emit(
        db,
        "kb.duplicate_dismissed",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        payload={"dismissal_id": row.id, "entry_ids": [low, high]},
    )
    return row


@action
def do_restore_duplicate(db: Session, caller: Caller, dismissal_id: int) -> None:
    """Take a 不是重复 decision back: the pair is listed again whenever its entries look alike."""
    require_kb_admin(caller)
    row = db.scalar(
        select(KbDuplicateDismissal).where(
            KbDuplicateDismissal.id == dismissal_id, KbDuplicateDismissal.tenant_id == caller.tenant_id
        )
    )
    if row is None:
        raise not_found("不是重复的标记", "not-a-duplicate mark")
    emit(
        db,
        "kb.duplicate_restored",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        payload={"dismissal_id": row.id, "entry_ids": [row.entry_id, row.other_entry_id]},
    )
    db.delete(row)
    db.flush()
