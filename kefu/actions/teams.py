from __future__ import annotations

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from kefu.access.caller import Caller
from kefu.access.scope import access_team, access_user, require_manager, require_manages_team, subtree_ids
from kefu.db.session import action
from kefu.errors import Conflict, Forbidden, Invalid, Msg
from kefu.events.record import emit
from kefu.models.skill_group import SkillGroup
from kefu.models.staff import Role
from kefu.models.team import Team, TeamMembership
from kefu.schemas.team import TeamCreate, TeamUpdate


def _check_name_free(db: Session, tenant_id: int, parent_id: int | None, name: str, exclude: int | None) -> None:
    # Checked here rather than left to the unique constraint: NULL parents (top-level teams) are never
    # equal in SQL, so the constraint alone would allow two top-level teams with one name.
    q = select(Team.id).where(
        Team.tenant_id == tenant_id,
        Team.name == name,
        Team.parent_id.is_(parent_id) if parent_id is None else Team.parent_id == parent_id,
    )
    if exclude is not None:
        q = q.where(Team.id != exclude)
    if db.scalar(q) is not None:
        raise Conflict(
            Msg(f"同一上级下已有名为“{name}”的团队", f"a team named {name!r} already exists there"),
            code="team.name_taken",
        )


def _check_parent(db: Session, caller: Caller, parent_id: int | None) -> None:
    if parent_id is None:
        if not caller.is_admin:
            raise Forbidden(Msg("只有管理员可以创建顶级团队", "only an administrator may create a top-level team"))
        return
    access_team(db, caller, parent_id)
    require_manages_team(caller, parent_id)


@action
def do_create_team(db: Session, caller: Caller, data: TeamCreate) -> Team:
    require_manager(caller)
    _check_parent(db, caller, data.parent_id)
    _check_name_free(db, caller.tenant_id, data.parent_id, data.name, None)
    team = Team(tenant_id=caller.tenant_id, parent_id=data.parent_id, name=data.name, description=data.description)
    db.add(team)
    db.flush()
    emit(
        db,
        "team.created",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        team_id=team.id,
        payload={"name": team.name, "parent_id": team.parent_id},
    )
    return team


@action
def do_update_team(db: Session, caller: Caller, team_id: int, data: TeamUpdate) -> Team:
    team = access_team(db, caller, team_id)
    require_manages_team(caller, team.id)
    fields = data.model_fields_set
    changed: dict[str, object] = {}
    if "parent_id" in fields and data.parent_id != team.parent_id:
        if team.id in caller.team_ids and not caller.is_admin:
            raise Forbidden(Msg("不能移动您自己所在的团队", "you may not move the team you belong to"))
        _check_parent(db, caller, data.parent_id)
        if data.parent_id is not None and data.parent_id in subtree_ids(db, caller.tenant_id, [team.id]):
            raise Invalid(
                Msg("不能把团队移动到它自己或它的下级团队之下", "a team cannot move below itself"),
                code="team.cycle",
            )
        changed["parent_id"] = team.parent_id = data.parent_id
    if data.name is not None and data.name != team.name:
        changed["name"] = team.name = data.name
    if data.description is not None and data.description != team.description:
        changed["description"] = team.description = data.description
    if changed:
        _check_name_free(db, caller.tenant_id, team.parent_id, team.name, team.id)
        emit(
            db,
            "team.updated",
            tenant_id=caller.tenant_id,
            actor_id=caller.user_id,
            team_id=team.id,
            payload={"changed": changed},
        )
    return team


@action
def do_delete_team(db: Session, caller: Caller, team_id: int) -> None:
    team = access_team(db, caller, team_id)
    require_manages_team(caller, team.id)
    if team.id in caller.team_ids and not caller.is_admin:
        raise Forbidden(Msg("不能删除您自己所在的团队", "you may not delete the team you belong to"))
    if db.scalar(select(exists().where(Team.parent_id == team.id))):
        raise Conflict(
            Msg(
                "该团队下还有子团队，请先删除或移走它们",
                "the team still has sub-teams; delete or move them first",
            ),
            code="team.has_children",
        )
    members = db.scalar(select(func.count()).where(TeamMembership.team_id == team.id)) or 0
    if members:
        raise Conflict(
            Msg(
                f"该团队还有 {members} 名成员，请先移出",
                f"the team still has {members} members; remove them first",
            ),
            code="team.has_members",
        )
    if db.scalar(select(exists().where(SkillGroup.team_id == team.id))):
        raise Conflict(
            Msg(
                "该团队还拥有技能组，请先删除或转移",
                "the team still owns skill groups; delete or move them first",
            ),
            code="team.has_skill_groups",
        )
    emit(
        db,
        "team.deleted",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        team_id=team.id,
        payload={"name": team.name, "parent_id": team.parent_id},
    )
    db.delete(team)


@action
def do_add_team_member(db: Session, caller: Caller, team_id: int, user_id: int) -> TeamMembership:
    team = access_team(db, caller, team_id)
    require_manages_team(caller, team.id)
    user = access_user(db, caller, user_id)
    if not caller.is_admin and user.role is not Role.agent:
        raise Forbidden(Msg("主管只能调配坐席", "a supervisor may only move agents"))
    existing = db.get(TeamMembership, (team.id, user.id))
    if existing is not None:
        return existing
    membership = TeamMembership(team_id=team.id, user_id=user.id, tenant_id=caller.tenant_id)
    db.add(membership)
    db.flush()
    emit(
        db,
        "team.member_added",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        team_id=team.id,
        user_id=user.id,
    )
    return membership


@action
def do_remove_team_member(db: Session, caller: Caller, team_id: int, user_id: int) -> None:
    team = access_team(db, caller, team_id)
    require_manages_team(caller, team.id)
    user = access_user(db, caller, user_id)
    if user.id == caller.user_id and not caller.is_admin:
        raise Forbidden(Msg("不能把自己移出团队", "you may not remove yourself from a team"))
    if not caller.is_admin and user.role is not Role.agent:
        raise Forbidden(Msg("主管只能调配坐席", "a supervisor may only move agents"))
    membership = db.get(TeamMembership, (team.id, user.id))
    if membership is None:
        return
    db.delete(membership)
    emit(
        db,
        "team.member_removed",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        team_id=team.id,
        user_id=user.id,
    )
