from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, StringConstraints

from kefu.models.staff import Role
from kefu.schemas.common import ONE_LINE, Id, Name, ORMModel


class LoginRequest(BaseModel):
    tenant: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=ONE_LINE)]
    username: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=ONE_LINE)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=ONE_LINE)]


class Me(BaseModel):
    user_id: int
    tenant_id: int
    tenant_slug: str
    tenant_name: str
    time_zone: str
    username: str
    display_name: str
    role: Role
    team_ids: list[int]
    #: ``null`` = the whole tenant (administrator).
    visible_team_ids: list[int] | None


class LoginResponse(BaseModel):
    me: Me
    csrf_token: str
    expires_at: datetime


class ApiTokenCreate(BaseModel):
    name: Name
    #: The user the token acts as (with his role and scope); the caller himself when omitted.
    user_id: Id | None = None
    expires_at: datetime | None = None


class ApiTokenPublic(ORMModel):
    id: int
    name: str
    user_id: int
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiTokenCreated(ApiTokenPublic):
    #: Shown once; only its digest is stored.
    token: str
