from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from kefu.models.skill_group import DistributionMode
from kefu.schemas.common import MULTI_LINE, Description, Id, Name, ORMModel

#: Bounds that keep the values inside the 32-bit integer columns and inside reason.
MAX_OVERFLOW_AFTER_S = 7 * 24 * 3600
MAX_OVERFLOW_QUEUE_LEN = 100_000

WORKDAYS_9_TO_21: dict[str, Any] = {
    "tz": "Asia/Shanghai",
    "weekly": {day: [["09:00", "21:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    "exceptions": {"2026-10-01": [], "2026-11-11": [["00:00", "24:00"]]},
}

OverflowGroupId = Annotated[
    Id,
    Field(
        description="溢出目标技能组（同一企业、调用者可见、不能是本组、不能形成循环）；null 表示不溢出 / "
        "the group that takes conversations over (same tenant, visible to the caller, not this group, no cycle); "
        "null: no overflow",
        examples=[42],
    ),
]
OverflowAfterS = Annotated[
    int,
    Field(
        ge=0,
        le=MAX_OVERFLOW_AFTER_S,
        description="排队超过该秒数即溢出 / overflow after waiting this many seconds",
        examples=[120],
    ),
]
OverflowQueueLen = Annotated[
    int,
    Field(
        ge=0,
        le=MAX_OVERFLOW_QUEUE_LEN,
        description="新会话到达时已有该数量或更多会话在排队即溢出 / overflow on arrival when this many or more "
        "conversations already wait",
        examples=[20],
    ),
]
WorkingHoursJson = Annotated[
    dict[str, Any],
    Field(
        description="工作时间：tz（IANA 时区，默认企业时区）、weekly（mon…sun → [[开始, 结束], …]，缺少的星期不营业；"
        '跨午夜写 "02:00+1"）、exceptions（YYYY-MM-DD → 时间段，[] 表示休息）。null 表示全天营业。'
        " / Working hours: tz (IANA, default the tenant's), weekly (mon…sun → [[start, end], …]; missing days "
        'are closed; past midnight as "02:00+1"), exceptions (YYYY-MM-DD → intervals, [] closes the date). '
        "null: always open. Stored normalised (all seven weekdays listed).",
        examples=[WORKDAYS_9_TO_21],
        json_schema_extra={
            "properties": {
                "tz": {"type": "string", "examples": ["Asia/Shanghai"]},
                "weekly": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
                },
                "exceptions": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
                },
            },
            "additionalProperties": False,
        },
    ),
]
OffHoursMessage = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=500, pattern=MULTI_LINE),
    Field(
        description="非工作时间自动回复 / automatic reply outside working hours",
        examples=["您好，人工客服工作时间为工作日 9:00–21:00，请留言，我们上班后第一时间回复。"],
    ),
]

_CREATE_EXAMPLE: dict[str, Any] = {
    "name": "售后",
    "team_id": 1,
    "mode": "round_robin",
    "overflow_group_id": 2,
    "overflow_after_s": 120,
    "overflow_queue_len": 20,
    "working_hours": WORKDAYS_9_TO_21,
    "off_hours_message": "您好，人工客服工作时间为工作日 9:00–21:00，请留言。",
}


class SkillGroupCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_CREATE_EXAMPLE]})

    name: Name
    team_id: Id
    mode: DistributionMode = DistributionMode.round_robin
    description: Description = ""
    overflow_group_id: OverflowGroupId | None = None
    overflow_after_s: OverflowAfterS | None = None
    overflow_queue_len: OverflowQueueLen | None = None
    working_hours: WorkingHoursJson | None = None
    off_hours_message: OffHoursMessage = ""


class SkillGroupUpdate(BaseModel):
    """Fields left out stay as they are. For the overflow fields and ``working_hours`` an explicit null
    clears the value (no overflow / always open)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"overflow_group_id": 2, "overflow_after_s": 90},
                {"working_hours": {"tz": "Asia/Shanghai", "exceptions": {"2026-11-11": [["00:00", "24:00"]]}}},
                {"overflow_group_id": None, "working_hours": None},
            ]
        }
    )

    name: Name | None = None
    team_id: Id | None = None
    mode: DistributionMode | None = None
    description: Description | None = None
    overflow_group_id: OverflowGroupId | None = None
    overflow_after_s: OverflowAfterS | None = None
    overflow_queue_len: OverflowQueueLen | None = None
    working_hours: WorkingHoursJson | None = None
    off_hours_message: OffHoursMessage | None = None


class SkillGroupPublic(ORMModel):
    id: int
    team_id: int
    name: str
    mode: DistributionMode
    description: str
    overflow_group_id: int | None
    overflow_after_s: int | None
    overflow_queue_len: int | None
    working_hours: dict[str, Any] | None = Field(
        description="规范化后的工作时间；null 表示全天营业 / normalised working hours; null: always open"
    )
    off_hours_message: str
    created_at: datetime
    updated_at: datetime


class SkillGroupAgentSet(BaseModel):
    priority: int = Field(0, ge=0, le=100)


class SkillGroupAgentPublic(ORMModel):
    skill_group_id: int
    user_id: int
    priority: int
    created_at: datetime
