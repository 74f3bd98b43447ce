"""Schemas of quick replies (快捷回复)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from kefu.models.quick_reply import MAX_BODY_LEN, MAX_TITLE_LEN, QuickReplyScope
from kefu.schemas.common import MULTI_LINE, ONE_LINE, Id, ORMModel

Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE_LEN, pattern=ONE_LINE),
    Field(description="标题 / title", examples=["问候"]),
]
Body = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_BODY_LEN, pattern=MULTI_LINE),
    Field(
        description="回复内容（纯文本）/ the reply (plain text)",
        examples=["您好，很高兴为您服务，请问有什么可以帮您？"],
    ),
]


class QuickReplyCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"title": "稍等", "body": "好的，请您稍等，我马上为您查询。", "scope": "personal"},
                {"title": "退换货", "body": "签收后 7 天内支持无理由退货。", "scope": "team", "team_id": 3},
            ]
        }
    )

    title: Title
    body: Body
    scope: QuickReplyScope = Field(
        QuickReplyScope.personal,
        description="personal：自己的；team：团队的（团队及下级团队成员可用，主管和管理员维护）"
        " / personal: one's own; team: the team's (for its members and those of teams below; kept by its "
        "supervisors and the administrators)",
    )
    team_id: Id | None = Field(
        None,
        description="团队回复所属团队；不填则为本人所在（并可管理）的第一个团队"
        " / the team of a team reply; default the caller's first team that he manages",
    )


class QuickReplyUpdate(BaseModel):
    """Fields left out stay."""

    title: Title | None = None
    body: Body | None = None


class QuickReplyPublic(ORMModel):
    id: int
    scope: QuickReplyScope
    title: str
    body: str
    team_id: int | None = Field(description="团队回复的团队 / the team of a team reply")
    owner_id: int | None = Field(description="个人回复的所有者 / the owner of a personal reply")
    can_edit: bool = Field(False, description="调用者可否修改或删除 / whether the caller may change or delete it")
    created_at: datetime
    updated_at: datetime
