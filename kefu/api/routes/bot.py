"""The bot's KPIs for a period (机器人数据): self-service resolution, hand-over, answer and helpful rates."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from kefu.api.deps import CallerDep, DbDep
from kefu.bot.kpi import BotEvent, BotKpis, bot_kpis
from kefu.db.base import utcnow
from kefu.errors import Forbidden, Invalid, Msg
from kefu.models.event import Event

router = APIRouter(prefix="/bot", tags=["机器人 bot"])

_TYPES = ("bot.replied", "bot.feedback", "conversation.queued", "conversation.ended")
MAX_DAYS = 92


class BotStats(BotKpis):
    since: datetime
    until: datetime


@router.get("/stats", response_model=BotStats, summary="机器人指标 / the bot's KPIs for a period (default: 7 days)")
def bot_stats(
    caller: CallerDep,
    db: DbDep,
    since: Annotated[datetime | None, Query(description="start (ISO 8601, with time zone)")] = None,
    until: Annotated[datetime | None, Query(description="end, exclusive; default now")] = None,
) -> BotStats:
    if not caller.is_admin:
        raise Forbidden(Msg("只有管理员可以查看机器人指标", "only an administrator sees the bot's KPIs"))
    end = until or utcnow()
    start = since or end - timedelta(days=7)
    if start.tzinfo is None or end.tzinfo is None:
        raise Invalid(Msg("时间须带时区", "times need a time zone (e.g. +08:00)"), code="time.no_zone")
    if not start < end or end - start > timedelta(days=MAX_DAYS):
        raise Invalid(
            Msg(
                f"时间段须在 {MAX_DAYS} 天以内且开始早于结束", f"the period must be under {MAX_DAYS} days, start first"
            ),
            code="time.range",
        )
    rows = db.execute(
        select(Event.type, Event.conversation_id, Event.payload).where(
            Event.tenant_id == caller.tenant_id,
            Event.type.in_(_TYPES),
            Event.occurred_at >= start,
            Event.occurred_at < end,
        )
    )
    kpis = bot_kpis(BotEvent(r.type, r.conversation_id, r.payload or {}) for r in rows)
    return BotStats(since=start, until=end, **kpis.model_dump())
