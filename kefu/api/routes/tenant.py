from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from kefu.actions.tenants import do_update_tenant
from kefu.api.deps import CallerDep, DbDep
from kefu.models.tenant import Tenant
from kefu.schemas.common import Name, ORMModel

router = APIRouter(prefix="/tenant", tags=["企业 tenant"])


class TenantPublic(ORMModel):
    id: int
    slug: str
    name: str
    time_zone: str
    created_at: datetime


class TenantUpdate(BaseModel):
    name: Name | None = None
    time_zone: str | None = None


@router.get("", response_model=TenantPublic, summary="当前企业 / the caller's tenant")
def get_tenant(caller: CallerDep, db: DbDep) -> Tenant:
    return db.get_one(Tenant, caller.tenant_id)


@router.patch("", response_model=TenantPublic, summary="修改企业设置 / change the tenant")
def update_tenant(data: TenantUpdate, caller: CallerDep, db: DbDep) -> Tenant:
    return do_update_tenant(db, caller, name=data.name, time_zone=data.time_zone)
