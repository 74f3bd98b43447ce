from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, EmailStr, Field, StringConstraints

from kefu.models.staff import Role
from kefu.schemas.common import ONE_LINE, Id, Name, ORMModel

Username = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128, pattern=ONE_LINE)]


class UserCreate(BaseModel):
    username: Username
    display_name: Name
    role: Role
    password: Password
    email: EmailStr | None = None
    max_concurrent: int = Field(5, ge=1, le=100)
    team_ids: list[Id] = []


class UserUpdate(BaseModel):
    """Only the fields sent are changed; ``team_ids`` replaces the user's memberships."""

    display_name: Name | None = None
    role: Role | None = None
    #: A new password set by a manager for someone else (one's own: POST /api/v1/auth/password).
    password: Password | None = None
    email: EmailStr | None = None
    max_concurrent: int | None = Field(None, ge=1, le=100)
    is_active: bool | None = None
    team_ids: list[Id] | None = None


class UserPublic(ORMModel):
    id: int
    username: str
    display_name: str
    role: Role
    email: str | None
    is_active: bool
    max_concurrent: int
    team_ids: list[int] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=128)
    new_password: Password
