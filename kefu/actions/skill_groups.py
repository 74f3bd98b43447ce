from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kefu.access.caller import Caller
from kefu.access.scope import access_skill_group, access_team, access_user, require_manages_team
from kefu.db.session import action
from kefu.errors import Conflict, Invalid, Msg
from kefu.events.record import emit
from kefu.models.conversation import Conversation, ConversationStatus
from kefu.models.skill_group import SkillGroup, SkillGroupAgent
from kefu.models.staff import Role
from kefu.schemas.skill_group import SkillGroupAgentSet, SkillGroupCreate, SkillGroupUpdate

#: Roles that can take conversations.
SERVING_ROLES = (Role.agent, Role.supervisor)


def _check_name_free(db: Session, tenant_id: int, name: str, exclude: int | None) -> None:
    q = select(SkillGroup.id).where(SkillGroup.tenant_id == tenant_id, SkillGroup.name == name)
    if exclude is not None:
        q = q.where(SkillGroup.id != exclude)
    if db.scalar(q) is not None:
        raise Conflict(
            Msg(f"技能组“{name}”已存在", f"a skill group named {name!r} already exists"),
            code="skill_group.name_taken",
        )


@action
def do_create_skill_group(db: Session, caller: Caller, data: SkillGroupCreate) -> SkillGroup:
    access_team(db, caller, data.team_id)
    require_manages_team(caller, data.team_id)
    _check_name_free(db, caller.tenant_id, data.name, None)
    group = SkillGroup(
        tenant_id=caller.tenant_id,
        team_id=data.team_id,
        name=data.name,
        mode=data.mode,
        description=data.description,
    )
    db.add(group)
    db.flush()
    emit(
        db,
        "skill_group.created",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        team_id=group.team_id,
        payload={"skill_group_id": group.id, "name": group.name, "mode": group.mode.value},
    )
    return group


@action
def do_update_skill_group(db: Session, caller: Caller, skill_group_id: int, data: SkillGroupUpdate) -> SkillGroup:
    group = access_skill_group(db, caller, skill_group_id)
    require_manages_team(caller, group.team_id)
    changed: dict[str, object] = {}
    if data.team_id is not None and data.team_id != group.team_id:
        access_team(db, caller, data.team_id)
        require_manages_team(caller, data.team_id)
        changed["team_id"] = group.team_id = data.team_id
    if data.name is not None and data.name != group.name:
        _check_name_free(db, caller.tenant_id, data.name, group.id)
        changed["name"] = group.name = data.name
    if data.mode is not None and data.mode != group.mode:
        group.mode = data.mode
        changed["mode"] = data.mode.value
    if data.description is not None and data.description != group.description:
        changed["description"] = group.description = data.description
    if changed:
        emit(
            db,
            "skill_group.updated",
            tenant_id=caller.tenant_id,
            actor_id=caller.user_id,
            team_id=group.team_id,
            payload={"skill_group_id": group.id, "changed": changed},
        )
    return group


@action
def do_delete_skill_group(db: Session, caller: Caller, skill_group_id: int) -> None:
    group = access_skill_group(db, caller, skill_group_id)
    require_manages_team(caller, group.team_id)
    open_count = (
        db.scalar(
            select(func.count()).where(
                Conversation.skill_group_id == group.id, Conversation.status != ConversationStatus.ended
            )
        )
        or 0
    )
    if open_count:
        raise Conflict(
            Msg(
                f"该技能组还有 {open_count} 个进行中的会话，结束或转出后才能删除",
                f"the skill group still has {open_count} open conversations; end or transfer them first",
            ),
            code="skill_group.has_open_conversations",
        )
    emit(
        db,
        "skill_group.deleted",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        team_id=group.team_id,
        payload={"skill_group_id": group.id, "name": group.name},
    )
    db.delete(group)


@action
def do_set_skill_group_agent(
    db: Session, caller: Caller, skill_group_id: int, user_id: int, data: SkillGroupAgentSet
) -> SkillGroupAgent:
    """Put an agent into a group (or change his priority there)."""
    group = access_skill_group(db, caller, skill_group_id)
    require_manages_team(caller, group.team_id)
    user = access_user(db, caller, user_id)
    if user.role not in SERVING_ROLES:
        raise Invalid(
            Msg("只有坐席和主管可以加入技能组", "only agents and supervisors can serve a skill group"),
            code="skill_group.role_cannot_serve",
        )
    if not user.is_active:
        raise Invalid(Msg("该账号已停用", "the account is deactivated"), code="user.inactive")
    row = db.get(SkillGroupAgent, (group.id, user.id))
    if row is None:
        row = SkillGroupAgent(
            skill_group_id=group.id, user_id=user.id, tenant_id=caller.tenant_id, priority=data.priority
        )
        db.add(row)
        db.flush()
        kind = "skill_group.agent_added"
    elif row.priority != data.priority:
        row.priority = data.priority
        kind = "skill_group.agent_updated"
    else:
        return row
    emit(
        db,
        kind,
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        team_id=group.team_id,
        user_id=user.id,
        payload={"skill_group_id": group.id, "priority": row.priority},
    )
    return row


@action
def do_remove_skill_group_agent(db: Session, caller: Caller, skill_group_id: int, user_id: int) -> None:
    group = access_skill_group(db, caller, skill_group_id)
    require_manages_team(caller, group.team_id)
    user = access_user(db, caller, user_id)
    row = db.get(SkillGroupAgent, (group.id, user.id))
    if row is None:
        return
    db.delete(row)
    emit(
        db,
        "skill_group.agent_removed",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        team_id=group.team_id,
        user_id=user.id,
        payload={"skill_group_id": group.id},
    )
