from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from kefu.models.skill_group import DistributionMode
from kefu.schemas.common import Description, Id, Name, ORMModel


class SkillGroupCreate(BaseModel):
    name: Name
    team_id: Id
    mode: DistributionMode = DistributionMode.round_robin
    description: Description = ""


class SkillGroupUpdate(BaseModel):
    name: Name | None = None
    team_id: Id | None = None
    mode: DistributionMode | None = None
    description: Description | None = None


class SkillGroupPublic(ORMModel):
    id: int
    team_id: int
    name: str
    mode: DistributionMode
    description: str
    created_at: datetime
    updated_at: datetime


class SkillGroupAgentSet(BaseModel):
    priority: int = Field(0, ge=0, le=100)


class SkillGroupAgentPublic(ORMModel):
    skill_group_id: int
    user_id: int
    priority: int
    created_at: datetime
