from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from kefu.access.scope import require_role
from kefu.actions.api_tokens import do_create_api_token, do_revoke_api_token
from kefu.api.deps import CallerDep, DbDep
from kefu.api.paging import PageNo, PageSize, page_of, paginate
from kefu.api.params import PathId
from kefu.models.staff import ApiToken, Role
from kefu.schemas.auth import ApiTokenCreate, ApiTokenCreated, ApiTokenPublic
from kefu.schemas.common import Page

router = APIRouter(prefix="/api-tokens", tags=["API 令牌 API tokens"])


@router.get("", response_model=Page[ApiTokenPublic], summary="API 令牌列表 / list API tokens")
def list_tokens(
    caller: CallerDep, db: DbDep, include_revoked: bool = False, page: PageNo = 1, page_size: PageSize = 20
) -> Page[ApiTokenPublic]:
    require_role(caller, Role.admin)
    query = select(ApiToken).where(ApiToken.tenant_id == caller.tenant_id).order_by(ApiToken.id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    rows, total = paginate(db, query, page, page_size)
    return page_of([ApiTokenPublic.model_validate(t) for t in rows], total, page, page_size)


@router.post(
    "",
    response_model=ApiTokenCreated,
    status_code=201,
    summary="新建 API 令牌（只显示一次）/ create an API token (shown once)",
)
def create_token(data: ApiTokenCreate, caller: CallerDep, db: DbDep) -> ApiTokenCreated:
    token, plain = do_create_api_token(db, caller, data)
    return ApiTokenCreated(**ApiTokenPublic.model_validate(token).model_dump(), token=plain)


@router.delete("/{token_id}", response_model=ApiTokenPublic, summary="撤销 API 令牌 / revoke an API token")
def revoke_token(token_id: PathId, caller: CallerDep, db: DbDep) -> ApiToken:
    return do_revoke_api_token(db, caller, token_id)
