from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from kefu.access.scope import access_team, team_visible_clause, user_visible_clause
from kefu.actions.teams import (
    do_add_team_member,
    do_create_team,
    do_delete_team,
    do_remove_team_member,
    do_update_team,
)
from kefu.api.deps import CallerDep, DbDep
from kefu.api.paging import PageNo, PageSize, like_pattern, page_of, paginate
from kefu.api.params import PathId, QueryId
from kefu.models.staff import User
from kefu.models.team import Team, TeamMembership
from kefu.schemas.common import Page
from kefu.schemas.team import MemberPublic, TeamCreate, TeamNode, TeamPublic, TeamUpdate

router = APIRouter(prefix="/teams", tags=["团队 teams"])


@router.get("", response_model=Page[TeamPublic], summary="团队列表 / list teams")
def list_teams(
    caller: CallerDep,
    db: DbDep,
    parent_id: QueryId = None,
    q: Annotated[str | None, Query(max_length=100, description="名称包含 / name contains")] = None,
    page: PageNo = 1,
    page_size: PageSize = 20,
) -> Page[TeamPublic]:
    query = select(Team).where(Team.tenant_id == caller.tenant_id, team_visible_clause(caller)).order_by(Team.id)
    if parent_id is not None:
        query = query.where(Team.parent_id == parent_id)
    if q:
        query = query.where(Team.name.ilike(like_pattern(q), escape="\\"))
    rows, total = paginate(db, query, page, page_size)
    return page_of([TeamPublic.model_validate(t) for t in rows], total, page, page_size)


@router.get("/tree", response_model=list[TeamNode], summary="团队树 / the team tree the caller may see")
def team_tree(caller: CallerDep, db: DbDep) -> list[TeamNode]:
    teams = list(
        db.scalars(
            select(Team).where(Team.tenant_id == caller.tenant_id, team_visible_clause(caller)).order_by(Team.name)
        )
    )
    nodes = {t.id: TeamNode.model_validate(t) for t in teams}
    roots: list[TeamNode] = []
    for node in nodes.values():
        parent = nodes.get(node.parent_id) if node.parent_id is not None else None
        (parent.children if parent else roots).append(node)
    return roots


@router.post("", response_model=TeamPublic, status_code=201, summary="新建团队 / create a team")
def create_team(data: TeamCreate, caller: CallerDep, db: DbDep) -> Team:
    return do_create_team(db, caller, data)


@router.get("/{team_id}", response_model=TeamPublic, summary="团队详情 / one team")
def get_team(team_id: PathId, caller: CallerDep, db: DbDep) -> Team:
    return access_team(db, caller, team_id)


@router.patch("/{team_id}", response_model=TeamPublic, summary="修改团队 / change a team")
def update_team(team_id: PathId, data: TeamUpdate, caller: CallerDep, db: DbDep) -> Team:
    return do_update_team(db, caller, team_id, data)


@router.delete("/{team_id}", status_code=204, summary="删除团队 / delete an empty team")
def delete_team(team_id: PathId, caller: CallerDep, db: DbDep) -> Response:
    do_delete_team(db, caller, team_id)
    return Response(status_code=204)


@router.get("/{team_id}/members", response_model=Page[MemberPublic], summary="团队成员 / members of a team")
def list_members(
    team_id: PathId, caller: CallerDep, db: DbDep, page: PageNo = 1, page_size: PageSize = 50
) -> Page[MemberPublic]:
    access_team(db, caller, team_id)
    query = (
        select(TeamMembership)
        .join(User, User.id == TeamMembership.user_id)
        .where(TeamMembership.team_id == team_id, user_visible_clause(caller))
        .order_by(TeamMembership.user_id)
    )
    rows, total = paginate(db, query, page, page_size)
    return page_of([MemberPublic.model_validate(m) for m in rows], total, page, page_size)


@router.put("/{team_id}/members/{user_id}", response_model=MemberPublic, summary="加入团队 / add a member")
def add_member(team_id: PathId, user_id: PathId, caller: CallerDep, db: DbDep) -> TeamMembership:
    return do_add_team_member(db, caller, team_id, user_id)


@router.delete("/{team_id}/members/{user_id}", status_code=204, summary="移出团队 / remove a member")
def remove_member(team_id: PathId, user_id: PathId, caller: CallerDep, db: DbDep) -> Response:
    do_remove_team_member(db, caller, team_id, user_id)
    return Response(status_code=204)
