from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from kefu.access.caller import Caller
from kefu.access.scope import access_user, require_manager
from kefu.auth.passwords import hash_password
from kefu.db.base import utcnow
from kefu.db.session import action
from kefu.errors import Conflict, Forbidden, Invalid, Msg, not_found
from kefu.events.record import emit
from kefu.models.skill_group import SkillGroupAgent
from kefu.models.staff import ApiToken, Role, StaffSession, User
from kefu.models.team import Team, TeamMembership
from kefu.schemas.user import UserCreate, UserUpdate

#: What anyone may change about himself; everything else needs a manager. (One's own password is changed
#: with ``kefu.actions.auth.do_change_own_password``, which checks the current one under the throttle.)
SELF_SERVICE_FIELDS = {"display_name", "email"}


def team_ids_of(db: Session, user_ids: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {uid: [] for uid in user_ids}
    if user_ids:
        rows = db.execute(
            select(TeamMembership.user_id, TeamMembership.team_id)
            .where(TeamMembership.user_id.in_(user_ids))
            .order_by(TeamMembership.team_id)
        )
        for uid, tid in rows:
            out[uid].append(tid)
    return out


def _check_teams(db: Session, caller: Caller, team_ids: list[int]) -> list[int]:
    wanted = sorted(set(team_ids))
    found = set(db.scalars(select(Team.id).where(Team.tenant_id == caller.tenant_id, Team.id.in_(wanted))))
    for tid in wanted:
        if tid not in found or not caller.sees_team(tid):
            raise not_found("团队", "team")
    return wanted


def _check_assignable_role(caller: Caller, role: Role) -> None:
    if not caller.is_admin and role is not Role.agent:
        raise Forbidden(Msg("主管只能创建坐席账号", "a supervisor may only create agents"), code="user.role_forbidden")


def _active_admins(db: Session, tenant_id: int) -> int:
    return (
        db.scalar(
            select(func.count()).where(
                User.tenant_id == tenant_id,
                User.role == Role.admin,
                User.is_active.is_(True),
                User.deleted_at.is_(None),
            )
        )
        or 0
    )


@action
def do_create_user(db: Session, caller: Caller, data: UserCreate, *, password_hash: str | None = None) -> User:
    """``password_hash`` as in ``do_update_user``."""
    require_manager(caller)
    _check_assignable_role(caller, data.role)
    if not caller.is_admin and not data.team_ids:
        raise Invalid(
            Msg("请为坐席选择至少一个团队", "choose at least one team for the agent"),
            code="user.team_required",
        )
    team_ids = _check_teams(db, caller, data.team_ids)
    if db.scalar(select(User.id).where(User.tenant_id == caller.tenant_id, User.username == data.username)):
        raise Conflict(
            Msg(f"用户名 {data.username} 已存在", f"the username {data.username} is taken"),
            code="user.username_taken",
        )
    user = User(
        tenant_id=caller.tenant_id,
        username=data.username,
        display_name=data.display_name,
        role=data.role,
        email=data.email,
        password_hash=password_hash or hash_password(data.password),
        max_concurrent=data.max_concurrent,
    )
    db.add(user)
    db.flush()
    db.add_all(TeamMembership(team_id=t, user_id=user.id, tenant_id=caller.tenant_id) for t in team_ids)
    emit(
        db,
        "user.created",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        user_id=user.id,
        team_id=team_ids[0] if team_ids else None,
        payload={"username": user.username, "role": user.role.value, "team_ids": team_ids},
    )
    return user


@action
def do_update_user(
    db: Session, caller: Caller, user_id: int, data: UserUpdate, *, password_hash: str | None = None
) -> User:
    """``password_hash``: the new password hashed by the caller before the transaction (argon2 is slow by
    design and should not run while holding a write lock); hashed here when not given."""
    user = access_user(db, caller, user_id)
    fields = {f for f in data.model_fields_set if getattr(data, f) is not None or f == "email"}
    is_self = user.id == caller.user_id
    if data.password is not None and is_self:
        raise Invalid(
            Msg(
                "修改自己的密码请使用 POST /api/v1/auth/password（需要当前密码）",
                "change your own password with POST /api/v1/auth/password (it needs the current one)",
            ),
            code="user.own_password",
        )
    if not (is_self and fields <= SELF_SERVICE_FIELDS):
        require_manager(caller)
        if not caller.is_admin and not is_self and user.role is not Role.agent:
            raise Forbidden(Msg("主管只能修改坐席账号", "a supervisor may only change agents"))
        if not is_self and fields - {"team_ids"}:
            _require_fully_managed(db, caller, user)
    if data.role is not None and data.role is not user.role:
        if not caller.is_admin:
            raise Forbidden(Msg("只有管理员可以修改角色", "only an administrator may change roles"))
        if user.role is Role.admin and _active_admins(db, caller.tenant_id) <= 1:
            raise Conflict(
                Msg("不能取消最后一位管理员", "the last administrator cannot be demoted"),
                code="user.last_admin",
            )
    if data.is_active is False and is_self:
        raise Forbidden(Msg("不能停用自己的账号", "you may not deactivate yourself"))

    changed: dict[str, object] = {}
    for name in ("display_name", "email", "max_concurrent", "is_active", "role"):
        if name in fields:
            value = getattr(data, name)
            if name != "email" and value is None:
                continue
            if getattr(user, name) != value:
                setattr(user, name, value)
                changed[name] = value.value if isinstance(value, Role) else value
    if data.password is not None:
        user.password_hash = password_hash or hash_password(data.password)
        changed["password"] = "***"  # noqa: S105 - a redaction marker, not a password
        # Whoever knew the old password is logged out everywhere.
        end_sessions(db, user.id)
    if data.team_ids is not None:
        team_ids = _replace_memberships(db, caller, user, data.team_ids)
        if team_ids is not None:
            changed["team_ids"] = team_ids
    if data.is_active is False:
        end_sessions(db, user.id)
    if changed:
        emit(
            db,
            "user.updated",
            tenant_id=caller.tenant_id,
            actor_id=caller.user_id,
            user_id=user.id,
            team_id=_primary_team(db, user.id),
            payload={"changed": changed},
        )
    return user


def _replace_memberships(db: Session, caller: Caller, user: User, team_ids: list[int]) -> list[int] | None:
    wanted = set(_check_teams(db, caller, team_ids))
    current = set(db.scalars(select(TeamMembership.team_id).where(TeamMembership.user_id == user.id)))
    # A supervisor only rearranges memberships inside his own subtree; the others stay as they are.
    if caller.visible_team_ids is not None:
        wanted |= {t for t in current if t not in caller.visible_team_ids}
    if wanted == current:
        return None
    if not wanted and not caller.is_admin:
        raise Invalid(Msg("坐席至少要属于一个团队", "an agent must belong to at least one team"))
    for tid in current - wanted:
        db.execute(delete(TeamMembership).where(TeamMembership.team_id == tid, TeamMembership.user_id == user.id))
    db.add_all(TeamMembership(team_id=t, user_id=user.id, tenant_id=caller.tenant_id) for t in wanted - current)
    return sorted(wanted)


def _primary_team(db: Session, user_id: int) -> int | None:
    return db.scalar(select(func.min(TeamMembership.team_id)).where(TeamMembership.user_id == user_id))


def end_sessions(db: Session, user_id: int, keep: str | None = None) -> None:
    query = update(StaffSession).where(StaffSession.user_id == user_id, StaffSession.ended_at.is_(None))
    if keep is not None:
        query = query.where(StaffSession.token_hash != keep)
    db.execute(query.values(ended_at=utcnow()))


def _require_fully_managed(db: Session, caller: Caller, user: User) -> None:
    """A supervisor changes an account only if every team of that person is in his subtree; an agent who
    also works for another team is that team's business too, so only an administrator changes him."""
    if caller.visible_team_ids is None:
        return
    teams = set(db.scalars(select(TeamMembership.team_id).where(TeamMembership.user_id == user.id)))
    if not teams <= caller.visible_team_ids:
        raise Forbidden(
            Msg(
                "该账号也属于您管理范围之外的团队，只有管理员可以修改",
                "the account also belongs to teams outside your scope; only an administrator may change it",
            ),
            code="user.outside_scope",
        )


@action
def do_delete_user(db: Session, caller: Caller, user_id: int) -> None:
    """Deletion keeps the row (conversations and events refer to it): the account is closed, its
    sessions end, its API tokens are revoked and it leaves its skill groups."""
    user = access_user(db, caller, user_id)
    require_manager(caller)
    if user.id == caller.user_id:
        raise Forbidden(Msg("不能删除自己的账号", "you may not delete yourself"))
    if not caller.is_admin and user.role is not Role.agent:
        raise Forbidden(Msg("主管只能删除坐席账号", "a supervisor may only delete agents"))
    _require_fully_managed(db, caller, user)
    if user.deleted_at is not None:
        return
    if user.role is Role.admin and user.is_active and _active_admins(db, caller.tenant_id) <= 1:
        raise Conflict(
            Msg("不能删除最后一位管理员", "the last administrator cannot be deleted"), code="user.last_admin"
        )
    now = utcnow()
    team_id = _primary_team(db, user.id)
    user.is_active = False
    user.deleted_at = now
    end_sessions(db, user.id)
    db.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=now)
    )
    db.execute(delete(SkillGroupAgent).where(SkillGroupAgent.user_id == user.id))
    emit(
        db,
        "user.deleted",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        user_id=user.id,
        team_id=team_id,
        payload={"username": user.username},
    )
