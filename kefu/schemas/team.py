from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from kefu.schemas.common import Description, Id, Name, ORMModel


class TeamCreate(BaseModel):
    name: Name
    parent_id: Id | None = None
    description: Description = ""


class TeamUpdate(BaseModel):
    """Only the fields sent are changed. ``parent_id`` moves the team (and its subtree)."""

    name: Name | None = None
    parent_id: Id | None = None
    description: Description | None = None


class TeamPublic(ORMModel):
    id: int
    parent_id: int | None
    name: str
    description: str
    created_at: datetime
    updated_at: datetime


class TeamNode(TeamPublic):
    children: list[TeamNode] = Field(default_factory=list)


class MemberPublic(ORMModel):
    user_id: int
    team_id: int
    created_at: datetime
