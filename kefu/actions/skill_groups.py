"""Skill groups (技能组): their settings, overflow, working hours and agents."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kefu.access.caller import Caller
from kefu.access.scope import (
    access_skill_group,
    access_team,
    access_user,
    require_manages_team,
    skill_group_visible_clause,
)
from kefu.db.session import action
from kefu.errors import Conflict, Invalid, Msg
from kefu.events.record import emit
from kefu.models.conversation import Conversation, ConversationStatus
from kefu.models.skill_group import SkillGroup, SkillGroupAgent
from kefu.models.staff import Role
from kefu.models.tenant import Tenant
from kefu.routing.hours import WorkingHours, WorkingHoursError
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


def _normalise_hours(db: Session, tenant_id: int, raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """The stored form of working hours (None: always open); the time zone defaults to the tenant's."""
    if raw is None:
        return None
    tenant = db.get(Tenant, tenant_id)
    try:
        hours = WorkingHours.from_dict(raw, default_tz=tenant.time_zone if tenant else "Asia/Shanghai")
    except WorkingHoursError as e:
        raise Invalid(
            Msg(f"工作时间有误：{e.zh}", f"invalid working hours: {e.en}"), code="skill_group.working_hours_invalid"
        ) from e
    return hours.to_dict()


def _check_thresholds(target_id: int | None, after_s: int | None, queue_len: int | None) -> None:
    """The routing engine needs to know when to overflow (kefu.routing.engine.OverflowRule)."""
    if target_id is not None and after_s is None and queue_len is None:
        raise Invalid(
            Msg(
                "设置溢出目标时须同时设置等待时长（overflow_after_s）或排队数量（overflow_queue_len）",
                "an overflow group needs overflow_after_s or overflow_queue_len (or both) to say when to overflow",
            ),
            code="skill_group.overflow_without_threshold",
        )


def _check_overflow_target(db: Session, caller: Caller, group_id: int | None, target_id: int | None) -> None:
    """Refuse a target the caller cannot see, the group itself, or one from which overflow leads back here
    (conversations would bounce between the groups forever). ``group_id`` is None for a group not created
    yet: nothing can point to it.

    Holds the tenant row FOR UPDATE, so that two concurrent changes cannot close a cycle between them."""
    if target_id is None:
        return
    if target_id == group_id:
        raise Invalid(
            Msg("技能组不能溢出到自身", "a skill group cannot overflow into itself"), code="skill_group.overflow_self"
        )
    db.scalar(select(Tenant.id).where(Tenant.id == caller.tenant_id).with_for_update())
    target = db.scalar(
        select(SkillGroup).where(
            SkillGroup.id == target_id, SkillGroup.tenant_id == caller.tenant_id, skill_group_visible_clause(caller)
        )
    )
    if target is None:
        raise Invalid(
            Msg(f"溢出目标技能组 {target_id} 不存在或无权访问", f"overflow group {target_id} not found"),
            code="skill_group.overflow_group_not_found",
        )
    # Follow the chain from the target: reaching this group again would close a cycle. Groups past the
    # target are named by id only: the caller may not be allowed to see them.
    names = [target.name]
    seen = {target.id}
    nxt = target.overflow_group_id
    while nxt is not None and group_id is not None:
        if nxt == group_id:
            chain = " → ".join(names)
            raise Invalid(
                Msg(
                    f"溢出会形成循环：本组 → {chain} → 本组",
                    f"the overflow would form a cycle: this group → {chain} → this group",
                ),
                code="skill_group.overflow_cycle",
            )
        if nxt in seen:  # a loop elsewhere that does not pass through this group
            break
        seen.add(nxt)
        names.append(f"#{nxt}")
        nxt = db.scalar(
            select(SkillGroup.overflow_group_id).where(SkillGroup.id == nxt, SkillGroup.tenant_id == caller.tenant_id)
        )


@action
def do_create_skill_group(db: Session, caller: Caller, data: SkillGroupCreate) -> SkillGroup:
    access_team(db, caller, data.team_id)
    require_manages_team(caller, data.team_id)
    _check_name_free(db, caller.tenant_id, data.name, None)
    _check_thresholds(data.overflow_group_id, data.overflow_after_s, data.overflow_queue_len)
    _check_overflow_target(db, caller, None, data.overflow_group_id)
    hours = _normalise_hours(db, caller.tenant_id, data.working_hours)
    group = SkillGroup(
        tenant_id=caller.tenant_id,
        team_id=data.team_id,
        name=data.name,
        mode=data.mode,
        description=data.description,
        overflow_group_id=data.overflow_group_id,
        overflow_after_s=data.overflow_after_s,
        overflow_queue_len=data.overflow_queue_len,
        working_hours=hours,
        off_hours_message=data.off_hours_message,
    )
    db.add(group)
    db.flush()
    emit(
        db,
        "skill_group.created",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        team_id=group.team_id,
        payload={
            "skill_group_id": group.id,
            "name": group.name,
            "mode": group.mode.value,
            "overflow_group_id": group.overflow_group_id,
            "overflow_after_s": group.overflow_after_s,
            "overflow_queue_len": group.overflow_queue_len,
            "working_hours": group.working_hours,
            "off_hours_message": group.off_hours_message,
        },
    )
    return group


@action
def do_update_skill_group(db: Session, caller: Caller, skill_group_id: int, data: SkillGroupUpdate) -> SkillGroup:
    """Fields not sent stay; an explicit null clears an overflow field or the working hours. Everything is
    checked before anything is written, and ``skill_group.updated`` names exactly what changed."""
    group = access_skill_group(db, caller, skill_group_id)
    require_manages_team(caller, group.team_id)
    sent = data.model_fields_set
    overflow = {
        name: getattr(data, name) if name in sent else getattr(group, name)
        for name in ("overflow_group_id", "overflow_after_s", "overflow_queue_len")
    }
    _check_thresholds(overflow["overflow_group_id"], overflow["overflow_after_s"], overflow["overflow_queue_len"])
    if overflow["overflow_group_id"] != group.overflow_group_id:
        _check_overflow_target(db, caller, group.id, overflow["overflow_group_id"])
    hours = _normalise_hours(db, caller.tenant_id, data.working_hours) if "working_hours" in sent else None
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
    for name, value in overflow.items():
        if value != getattr(group, name):
            setattr(group, name, value)
            changed[name] = value
    if "working_hours" in sent and hours != group.working_hours:
        changed["working_hours"] = group.working_hours = hours
    if data.off_hours_message is not None and data.off_hours_message != group.off_hours_message:
        changed["off_hours_message"] = group.off_hours_message = data.off_hours_message
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
    """Delete an empty group. Groups that overflow into it lose their overflow target (their thresholds
    stay, so choosing a new target restores the rule): the same as the foreign key's ON DELETE SET NULL,
    done here so that each of them gets a ``skill_group.updated`` event and routing reloads them."""
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
    sources = db.scalars(
        select(SkillGroup).where(SkillGroup.tenant_id == caller.tenant_id, SkillGroup.overflow_group_id == group.id)
    ).all()
    for source in sources:
        if source.id == group.id:
            continue
        source.overflow_group_id = None
        emit(
            db,
            "skill_group.updated",
            tenant_id=caller.tenant_id,
            actor_id=caller.user_id,
            team_id=source.team_id,
            payload={"skill_group_id": source.id, "changed": {"overflow_group_id": None}},
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
