"""Quick replies (快捷回复): who sees and who keeps them.

A personal reply is its owner's alone. A team reply belongs to a team: the members of that team and of
every team below it see it (an agent of 华东一组 sees the replies of 华东一组, 华东大区 and the head office);
the administrators and the supervisors whose subtree holds the team keep it.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import Session

from kefu.access.caller import Caller
from kefu.access.scope import access_team, require_manager
from kefu.db.session import action
from kefu.errors import Forbidden, Invalid, Msg, not_found
from kefu.events.record import emit
from kefu.models.quick_reply import QuickReply, QuickReplyScope
from kefu.models.staff import Role
from kefu.models.team import Team
from kefu.schemas.quick_reply import QuickReplyCreate, QuickReplyUpdate


def ancestor_ids(db: Session, tenant_id: int, team_ids: frozenset[int]) -> frozenset[int]:
    """The given teams and every team above them (one recursive query)."""
    if not team_ids:
        return frozenset()
    up = (
        select(Team.id, Team.parent_id)
        .where(Team.tenant_id == tenant_id, Team.id.in_(team_ids))
        .cte("ancestors", recursive=True)
    )
    up = up.union(select(Team.id, Team.parent_id).where(Team.tenant_id == tenant_id, Team.id == up.c.parent_id))
    return frozenset(db.scalars(select(up.c.id)))


def reply_teams(db: Session, caller: Caller) -> frozenset[int] | None:
    """The teams whose replies the caller sees: those above his own teams (inherited), plus — for a
    supervisor — the teams he keeps. None: every team of the tenant (administrators)."""
    if caller.is_admin:
        return None
    teams = ancestor_ids(db, caller.tenant_id, caller.team_ids)
    if caller.role is Role.supervisor and caller.visible_team_ids:
        teams |= caller.visible_team_ids
    return teams


def visible_clause(db: Session, caller: Caller) -> ColumnElement[bool]:
    teams = reply_teams(db, caller)
    mine = and_(QuickReply.scope == QuickReplyScope.personal, QuickReply.owner_id == caller.user_id)
    if teams is None:
        team_ok: ColumnElement[bool] = true()
    elif teams:
        team_ok = QuickReply.team_id.in_(teams)
    else:
        team_ok = false()
    return and_(
        QuickReply.tenant_id == caller.tenant_id, or_(mine, and_(QuickReply.scope == QuickReplyScope.team, team_ok))
    )


def can_edit(caller: Caller, reply: QuickReply) -> bool:
    if reply.scope is QuickReplyScope.personal:
        return reply.owner_id == caller.user_id
    if caller.role not in (Role.admin, Role.supervisor):
        return False
    return caller.sees_team(reply.team_id)


def access_quick_reply(db: Session, caller: Caller, quick_reply_id: int) -> QuickReply:
    reply = db.scalar(select(QuickReply).where(QuickReply.id == quick_reply_id, visible_clause(db, caller)))
    if reply is None:
        raise not_found("快捷回复", "quick reply")
    return reply


def _require_edit(caller: Caller, reply: QuickReply) -> None:
    if not can_edit(caller, reply):
        raise Forbidden(
            Msg(
                "团队快捷回复由该团队的主管和管理员维护",
                "a team's quick replies are kept by its supervisors and the administrators",
            ),
            code="quick_reply.forbidden",
        )


def _emit(db: Session, type: str, caller: Caller, reply: QuickReply, **extra: object) -> None:
    emit(
        db,
        type,
        tenant_id=reply.tenant_id,
        actor_id=caller.user_id,
        team_id=reply.team_id,
        user_id=reply.owner_id,
        payload={"quick_reply_id": reply.id, "scope": reply.scope.value, "title": reply.title, **extra},
    )


def _default_team(db: Session, caller: Caller) -> int:
    for team_id in sorted(caller.team_ids):
        if caller.sees_team(team_id):
            return team_id
    raise Invalid(
        Msg("请指定团队快捷回复所属的团队（team_id）", "name the team of a team reply (team_id)"),
        code="quick_reply.team_required",
    )


@action
def do_create_quick_reply(db: Session, caller: Caller, data: QuickReplyCreate) -> QuickReply:
    if data.scope is QuickReplyScope.personal:
        reply = QuickReply(tenant_id=caller.tenant_id, scope=data.scope, owner_id=caller.user_id)
    else:
        require_manager(caller)
        team_id = data.team_id if data.team_id is not None else _default_team(db, caller)
        team = access_team(db, caller, team_id)  # another tenant's or a team outside his subtree: 404
        reply = QuickReply(tenant_id=caller.tenant_id, scope=data.scope, team_id=team.id)
    reply.title = data.title
    reply.body = data.body
    reply.created_by = caller.user_id
    db.add(reply)
    db.flush()
    _emit(db, "quick_reply.created", caller, reply)
    return reply


@action
def do_update_quick_reply(db: Session, caller: Caller, quick_reply_id: int, data: QuickReplyUpdate) -> QuickReply:
    reply = access_quick_reply(db, caller, quick_reply_id)
    _require_edit(caller, reply)
    changed = []
    for field in ("title", "body"):
        value = getattr(data, field)
        if value is not None and value != getattr(reply, field):
            setattr(reply, field, value)
            changed.append(field)
    if changed:
        db.flush()
        _emit(db, "quick_reply.updated", caller, reply, changed=changed)
    return reply


@action
def do_delete_quick_reply(db: Session, caller: Caller, quick_reply_id: int) -> None:
    reply = access_quick_reply(db, caller, quick_reply_id)
    _require_edit(caller, reply)
    _emit(db, "quick_reply.deleted", caller, reply)
    db.delete(reply)
