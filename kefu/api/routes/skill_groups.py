from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from kefu.access.scope import access_skill_group, skill_group_visible_clause, user_visible_clause
from kefu.actions.skill_groups import (
    do_create_skill_group,
    do_delete_skill_group,
    do_remove_skill_group_agent,
    do_set_skill_group_agent,
    do_update_skill_group,
)
from kefu.api.deps import CallerDep, DbDep
from kefu.api.paging import PageNo, PageSize, like_pattern, page_of, paginate
from kefu.api.params import PathId, QueryId
from kefu.models.skill_group import DistributionMode, SkillGroup, SkillGroupAgent
from kefu.models.staff import User
from kefu.schemas.common import Page
from kefu.schemas.skill_group import (
    SkillGroupAgentPublic,
    SkillGroupAgentSet,
    SkillGroupCreate,
    SkillGroupPublic,
    SkillGroupUpdate,
)

router = APIRouter(prefix="/skill-groups", tags=["技能组 skill groups"])


@router.get("", response_model=Page[SkillGroupPublic], summary="技能组列表 / list skill groups")
def list_skill_groups(
    caller: CallerDep,
    db: DbDep,
    team_id: QueryId = None,
    mode: DistributionMode | None = None,
    q: Annotated[str | None, Query(max_length=100, description="名称包含 / name contains")] = None,
    page: PageNo = 1,
    page_size: PageSize = 20,
) -> Page[SkillGroupPublic]:
    query = (
        select(SkillGroup)
        .where(SkillGroup.tenant_id == caller.tenant_id, skill_group_visible_clause(caller))
        .order_by(SkillGroup.id)
    )
    if team_id is not None:
        query = query.where(SkillGroup.team_id == team_id)
    if mode is not None:
        query = query.where(SkillGroup.mode == mode)
    if q:
        query = query.where(SkillGroup.name.ilike(like_pattern(q), escape="\\"))
    rows, total = paginate(db, query, page, page_size)
    return page_of([SkillGroupPublic.model_validate(g) for g in rows], total, page, page_size)


@router.post("", response_model=SkillGroupPublic, status_code=201, summary="新建技能组 / create a skill group")
def create_skill_group(data: SkillGroupCreate, caller: CallerDep, db: DbDep) -> SkillGroup:
    return do_create_skill_group(db, caller, data)


@router.get("/{skill_group_id}", response_model=SkillGroupPublic, summary="技能组详情 / one skill group")
def get_skill_group(skill_group_id: PathId, caller: CallerDep, db: DbDep) -> SkillGroup:
    return access_skill_group(db, caller, skill_group_id)


@router.patch(
    "/{skill_group_id}",
    response_model=SkillGroupPublic,
    summary="修改技能组 / change a skill group",
    description="未提交的字段保持不变；溢出字段和 working_hours 提交 null 表示清除。"
    " / Fields left out stay; null clears an overflow field or the working hours (always open).",
)
def update_skill_group(skill_group_id: PathId, data: SkillGroupUpdate, caller: CallerDep, db: DbDep) -> SkillGroup:
    return do_update_skill_group(db, caller, skill_group_id, data)


@router.delete(
    "/{skill_group_id}",
    status_code=204,
    summary="删除技能组 / delete a skill group",
    description="有进行中会话的技能组不能删除。溢出到该组的其他技能组会失去溢出目标（阈值保留）。"
    " / A group with open conversations cannot be deleted. Groups that overflow into it lose their overflow "
    "target (their thresholds stay).",
)
def delete_skill_group(skill_group_id: PathId, caller: CallerDep, db: DbDep) -> Response:
    do_delete_skill_group(db, caller, skill_group_id)
    return Response(status_code=204)


@router.get(
    "/{skill_group_id}/agents",
    response_model=Page[SkillGroupAgentPublic],
    summary="技能组坐席 / agents serving the group",
)
def list_agents(
    skill_group_id: PathId, caller: CallerDep, db: DbDep, page: PageNo = 1, page_size: PageSize = 50
) -> Page[SkillGroupAgentPublic]:
    access_skill_group(db, caller, skill_group_id)
    query = (
        select(SkillGroupAgent)
        .join(User, User.id == SkillGroupAgent.user_id)
        .where(SkillGroupAgent.skill_group_id == skill_group_id, user_visible_clause(caller))
        .order_by(SkillGroupAgent.priority, SkillGroupAgent.user_id)
    )
    rows, total = paginate(db, query, page, page_size)
    return page_of([SkillGroupAgentPublic.model_validate(r) for r in rows], total, page, page_size)


@router.put(
    "/{skill_group_id}/agents/{user_id}",
    response_model=SkillGroupAgentPublic,
    summary="加入技能组 / add an agent (or set his priority)",
)
def set_agent(
    skill_group_id: PathId, user_id: PathId, caller: CallerDep, db: DbDep, data: SkillGroupAgentSet | None = None
) -> SkillGroupAgent:
    return do_set_skill_group_agent(db, caller, skill_group_id, user_id, data or SkillGroupAgentSet())


@router.delete("/{skill_group_id}/agents/{user_id}", status_code=204, summary="移出技能组 / remove an agent")
def remove_agent(skill_group_id: PathId, user_id: PathId, caller: CallerDep, db: DbDep) -> Response:
    do_remove_skill_group_agent(db, caller, skill_group_id, user_id)
    return Response(status_code=204)
