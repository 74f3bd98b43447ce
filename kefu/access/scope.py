"""Team-tree queries and the ``access_*`` helpers: fetch a row only if the caller may see it.

Every helper filters by the caller's tenant first, then by his visible teams. A row the caller may not
see gives the same 404 as a row that does not exist, so nothing leaks about other tenants or teams.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, exists, false, literal, or_, select, true
from sqlalchemy.orm import Session, aliased

from kefu.access.caller import Caller
from kefu.errors import Forbidden, Msg, not_found
from kefu.models.conversation import Conversation
from kefu.models.event import Event
from kefu.models.skill_group import SkillGroup, SkillGroupAgent
from kefu.models.staff import ApiToken, Role, User
from kefu.models.team import Team, TeamMembership


def subtree_ids(db: Session, tenant_id: int, roots: Iterable[int]) -> frozenset[int]:
    """The given teams and all teams below them (one recursive query, on SQLite and PostgreSQL)."""
    roots = list(roots)
    if not roots:
        return frozenset()
    tree = select(Team.id).where(Team.tenant_id == tenant_id, Team.id.in_(roots)).cte("subtree", recursive=True)
    tree = tree.union(select(Team.id).where(Team.tenant_id == tenant_id, Team.parent_id == tree.c.id))
    return frozenset(db.scalars(select(tree.c.id)))


def caller_for(db: Session, user: User, *, via: str = "session", session_digest: str | None = None) -> Caller:
    team_ids = frozenset(db.scalars(select(TeamMembership.team_id).where(TeamMembership.user_id == user.id)))
    visible: frozenset[int] | None
    if user.role is Role.admin:
        visible = None
    elif user.role in (Role.supervisor, Role.inspector):
        visible = subtree_ids(db, user.tenant_id, team_ids)
    else:
        visible = frozenset()
    return Caller(
        user_id=user.id,
        tenant_id=user.tenant_id,
        role=user.role,
        team_ids=team_ids,
        visible_team_ids=visible,
        via=via,
        session_digest=session_digest,
    )


def require_role(caller: Caller, *roles: Role) -> None:
    if caller.role not in roles:
        raise Forbidden(Msg("您的角色无权执行此操作", "your role may not do this"))


def require_manager(caller: Caller) -> None:
    """Administrators and supervisors change things; inspectors and agents only read."""
    require_role(caller, Role.admin, Role.supervisor)


# --- visibility as SQL conditions, for lists -------------------------------------------------------


def team_visible_clause(caller: Caller) -> ColumnElement[bool]:
    if caller.visible_team_ids is None:
        return true()
    if not caller.visible_team_ids:
        return false()
    return Team.id.in_(caller.visible_team_ids)


def user_visible_clause(caller: Caller) -> ColumnElement[bool]:
    """Staff in the caller's visible teams, and himself."""
    if caller.visible_team_ids is None:
        return true()
    is_self = User.id == literal(caller.user_id)
    if caller.role is Role.agent or not caller.visible_team_ids:
        return is_self
    # An alias, so the subquery correlates on User only, also inside queries that select memberships.
    tm = aliased(TeamMembership)
    in_scope = exists().where(tm.user_id == User.id, tm.team_id.in_(caller.visible_team_ids))
    return or_(is_self, in_scope)


def skill_group_visible_clause(caller: Caller) -> ColumnElement[bool]:
    if caller.visible_team_ids is None:
        return true()
    if caller.role is Role.agent:
        # An agent sees the groups he serves.
        sga = aliased(SkillGroupAgent)
        return exists().where(sga.skill_group_id == SkillGroup.id, sga.user_id == caller.user_id)
    if not caller.visible_team_ids:
        return false()
    return SkillGroup.team_id.in_(caller.visible_team_ids)


# --- fetch one row with the check --------------------------------------------------------------------


def access_team(db: Session, caller: Caller, team_id: int) -> Team:
    team = db.scalar(select(Team).where(Team.id == team_id, Team.tenant_id == caller.tenant_id))
    if team is None or not caller.sees_team(team.id):
        raise not_found("团队", "team")
    return team


def access_user(db: Session, caller: Caller, user_id: int) -> User:
    user = db.scalar(
        select(User).where(User.id == user_id, User.tenant_id == caller.tenant_id, user_visible_clause(caller))
    )
    if user is None:
        raise not_found("用户", "user")
    return user


def access_skill_group(db: Session, caller: Caller, skill_group_id: int) -> SkillGroup:
    group = db.scalar(
        select(SkillGroup).where(
            SkillGroup.id == skill_group_id,
            SkillGroup.tenant_id == caller.tenant_id,
            skill_group_visible_clause(caller),
        )
    )
    if group is None:
        raise not_found("技能组", "skill group")
    return group


def access_api_token(db: Session, caller: Caller, token_id: int) -> ApiToken:
    require_role(caller, Role.admin)
    token = db.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.tenant_id == caller.tenant_id))
    if token is None:
        raise not_found("API 令牌", "API token")
    return token


def require_manages_team(caller: Caller, team_id: int) -> None:
    """Changes inside a team need an administrator or a supervisor whose subtree holds it."""
    require_manager(caller)
    if not caller.sees_team(team_id):
        raise not_found("团队", "team")


def conversation_visible_clause(caller: Caller) -> ColumnElement[bool]:
    """Conversations of the caller's visible teams, and those he serves himself."""
    if caller.visible_team_ids is None:
        return true()
    mine = Conversation.agent_id == caller.user_id
    if caller.role is Role.agent or not caller.visible_team_ids:
        return mine
    return or_(mine, Conversation.team_id.in_(caller.visible_team_ids))


def access_conversation(db: Session, caller: Caller, conversation_id: int) -> Conversation:
    conv = db.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id,
            Conversation.tenant_id == caller.tenant_id,
            conversation_visible_clause(caller),
        )
    )
    if conv is None:
        raise not_found("会话", "conversation")
    return conv


def event_visible_clause(caller: Caller) -> ColumnElement[bool]:
    """SQL twin of ``Caller.event_visible``."""
    if caller.visible_team_ids is None:
        return true()
    own = or_(Event.user_id == caller.user_id, Event.actor_id == caller.user_id)
    if caller.role is Role.agent or not caller.visible_team_ids:
        return own
    return or_(own, and_(Event.team_id.is_not(None), Event.team_id.in_(caller.visible_team_ids)))
