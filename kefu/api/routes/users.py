from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import exists, or_, select

from kefu.access.scope import access_user, user_visible_clause
from kefu.actions.users import do_create_user, do_delete_user, do_update_user, team_ids_of
from kefu.api.deps import CallerDep, DbDep
from kefu.api.paging import PageNo, PageSize, like_pattern, page_of, paginate
from kefu.api.params import PathId, QueryId
from kefu.auth.passwords import hash_password
from kefu.models.staff import Role, User
from kefu.models.team import TeamMembership
from kefu.schemas.common import Page
from kefu.schemas.user import UserCreate, UserPublic, UserUpdate

router = APIRouter(prefix="/users", tags=["用户 users"])


def public(db: DbDep, users: list[User]) -> list[UserPublic]:
    teams = team_ids_of(db, [u.id for u in users])
    return [UserPublic.model_validate(u).model_copy(update={"team_ids": teams[u.id]}) for u in users]


@router.get("", response_model=Page[UserPublic], summary="用户列表 / list staff")
def list_users(
    caller: CallerDep,
    db: DbDep,
    role: Role | None = None,
    team_id: QueryId = None,
    is_active: bool | None = None,
    include_deleted: bool = False,
    q: Annotated[str | None, Query(max_length=100, description="用户名或姓名包含 / username or name contains")] = None,
    page: PageNo = 1,
    page_size: PageSize = 20,
) -> Page[UserPublic]:
    query = select(User).where(User.tenant_id == caller.tenant_id, user_visible_clause(caller)).order_by(User.id)
    if not include_deleted:
        query = query.where(User.deleted_at.is_(None))
    if role is not None:
        query = query.where(User.role == role)
    if is_active is not None:
        query = query.where(User.is_active.is_(is_active))
    if team_id is not None:
        query = query.where(exists().where(TeamMembership.user_id == User.id, TeamMembership.team_id == team_id))
    if q:
        pattern = like_pattern(q)
        query = query.where(
            or_(User.username.ilike(pattern, escape="\\"), User.display_name.ilike(pattern, escape="\\"))
        )
    rows, total = paginate(db, query, page, page_size)
    return page_of(public(db, rows), total, page, page_size)


@router.post("", response_model=UserPublic, status_code=201, summary="新建用户 / create a member of staff")
def create_user(data: UserCreate, caller: CallerDep, db: DbDep) -> UserPublic:
    return public(db, [do_create_user(db, caller, data, password_hash=hash_password(data.password))])[0]


@router.get("/{user_id}", response_model=UserPublic, summary="用户详情 / one member of staff")
def get_user(user_id: PathId, caller: CallerDep, db: DbDep) -> UserPublic:
    return public(db, [access_user(db, caller, user_id)])[0]


@router.patch("/{user_id}", response_model=UserPublic, summary="修改用户 / change a member of staff")
def update_user(user_id: PathId, data: UserUpdate, caller: CallerDep, db: DbDep) -> UserPublic:
    new_hash = hash_password(data.password) if data.password is not None else None
    return public(db, [do_update_user(db, caller, user_id, data, password_hash=new_hash)])[0]


@router.delete("/{user_id}", status_code=204, summary="删除用户（保留历史）/ delete, keeping history")
def delete_user(user_id: PathId, caller: CallerDep, db: DbDep) -> Response:
    do_delete_user(db, caller, user_id)
    return Response(status_code=204)
