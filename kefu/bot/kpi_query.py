"""The bot's KPIs counted by the database: the figures of ``kefu.bot.kpi`` without loading the events.

A tenant in a big promotion has hundreds of thousands of bot conversations a day and several events in
each. Reading them into Python to count them (what ``bot_kpis`` does with its input) took 23 s and 500 MB
for 200,000 conversations on PostgreSQL, per page view; counted by the database they take about 3 s and
no memory (``bench/bot_stats.py``). Here the database does the counting in one statement, on both SQLite and
PostgreSQL, and hands back one row per day (``daily_kpis``) or hour (``bucketed_kpis`` over
``kpi.hour_starts``), or one row (``period_kpis``):

1. ``_facts``: one row per conversation with events in the period: when the bot first replied, how many
   answers, suggestions and "not understood", whether it was handed over, ended, or had an answer marked
   unhelpful, and the last verdict on each of its answers;
2. the counts of ``BotCounts`` summed over the conversations, per local day of the bot's first reply when
   by day (the day boundaries are computed in Python, ``day_starts``, so any time zone works, DST
   included, on a database that knows none).

The definitions are those of ``kefu.bot.kpi`` (its docstring); tests/bot/test_kpi_query.py holds the two
to the same figures on random event histories.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, Subquery, and_, case, false, func, literal, null, select, true, union_all
from sqlalchemy.orm import Session

from kefu.bot.kpi import FOLLOW_UP, BotCounts, BotKpis, day_starts, kpis_of
from kefu.models.event import Event

__all__ = ["bucketed_kpis", "daily_kpis", "period_kpis"]

_REPLIED, _FEEDBACK = "bot.replied", "bot.feedback"
_QUEUED, _ENDED = "conversation.queued", "conversation.ended"


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _in_period(tenant_id: int, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(
        Event.tenant_id == tenant_id,
        Event.occurred_at >= start,
        Event.occurred_at < end,
        Event.conversation_id.is_not(None),
    )


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _facts(tenant_id: int, start: datetime, end: datetime) -> Subquery:
    """One row per conversation, from one pass over its events and the last verdict on each answer (a
    union of flagged rows summed up: no join between two aggregates, whose row estimates a planner gets
    wrong right after a bulk load and then loops over)."""
    outcome = Event.payload["outcome"].as_string()
    helpful = func.coalesce(Event.payload["helpful"].as_boolean(), false())
    message_id = Event.payload["message_id"].as_integer()
    picked = func.coalesce(Event.payload["picked"].as_boolean(), false())
    replied = Event.type == _REPLIED
    zero = literal(0)
    events = select(
        Event.conversation_id.label("cid"),
        case((replied, Event.occurred_at)).label("reply_at"),
        _flag(and_(replied, outcome == "answer")).label("answered"),
        _flag(and_(replied, outcome == "answer", picked == true())).label("picked"),
        _flag(and_(replied, outcome == "suggest")).label("suggested"),
        _flag(and_(replied, outcome == "unknown")).label("not_understood"),
        _flag(and_(Event.type == _QUEUED, func.coalesce(Event.payload["reason"].as_string(), "") != "no_bot")).label(
            "handed"
        ),
        _flag(Event.type == _ENDED).label("ended"),
        _flag(and_(Event.type == _FEEDBACK, message_id.is_not(None), helpful == false())).label("unhelpful"),
        zero.label("feedback"),
        zero.label("helpful"),
    ).where(_in_period(tenant_id, start, end), Event.type.in_((_REPLIED, _FEEDBACK, _QUEUED, _ENDED)))
    last = (
        select(func.max(Event.id).label("id"))
        .where(_in_period(tenant_id, start, end), Event.type == _FEEDBACK, message_id.is_not(None))
        .group_by(message_id)
        .subquery("last_feedback")
    )
    verdicts = select(
        Event.conversation_id,
        null(),
        *([zero] * 7),
        literal(1),
        _flag(helpful == true()),
    ).join(last, Event.id == last.c.id)
    rows = union_all(events, verdicts).subquery("bot_rows")
    return (
        select(
            rows.c.cid,
            func.min(rows.c.reply_at).label("first_reply"),
            func.sum(rows.c.answered).label("answered"),
            func.sum(rows.c.picked).label("picked"),
            func.sum(rows.c.suggested).label("suggested"),
            func.sum(rows.c.not_understood).label("not_understood"),
            func.max(rows.c.handed).label("handed"),
            func.max(rows.c.ended).label("ended"),
            func.max(rows.c.unhelpful).label("unhelpful"),
            func.sum(rows.c.feedback).label("feedback"),
            func.sum(rows.c.helpful).label("helpful"),
        )
        .group_by(rows.c.cid)
        .subquery("facts")
    )


def _counted(facts: Subquery, *extra: ColumnElement[Any]) -> Select[Any]:
    """The ``BotCounts`` columns over the conversations of ``facts``, with ``extra`` columns first."""
    is_bot = facts.c.first_reply.is_not(None)
    return select(
        *extra,
        _count(is_bot).label("conversations"),
        func.coalesce(func.sum(facts.c.answered), 0).label("answered"),
        func.coalesce(func.sum(facts.c.picked), 0).label("picked"),
        func.coalesce(func.sum(facts.c.suggested), 0).label("suggested"),
        func.coalesce(func.sum(facts.c.not_understood), 0).label("not_understood"),
        _count(and_(is_bot, facts.c.handed == 1)).label("handed_over"),
        _count(
            and_(is_bot, facts.c.ended == 1, facts.c.answered > 0, facts.c.handed == 0, facts.c.unhelpful == 0)
        ).label("resolved_by_bot"),
        func.coalesce(func.sum(facts.c.feedback), 0).label("feedback"),
        func.coalesce(func.sum(facts.c.helpful), 0).label("helpful"),
    )


def _counts(row: Any) -> BotCounts:
    return BotCounts(**{name: int(getattr(row, name)) for name in BotCounts.__dataclass_fields__})


def period_kpis(db: Session, tenant_id: int, start: datetime, end: datetime) -> BotKpis:
    """The KPIs of the events in ``[start, end)``: what ``bot_kpis`` gives for them."""
    statement = _counted(_facts(tenant_id, start, end))
    return kpis_of(_counts(db.execute(statement).one()))


def daily_kpis(
    db: Session, tenant_id: int, tz: ZoneInfo, days: Sequence[date]
) -> tuple[list[tuple[date, BotKpis]], BotKpis]:
    """The KPIs of each of the consecutive ``days`` (local to ``tz``) and of all of them together: what
    ``daily_bot_kpis`` gives for all the tenant's events. A conversation counts on the day of the bot's
    first reply in it; one the bot first replied in before the first day is not counted at all."""
    if not days:
        return [], kpis_of(BotCounts())
    per_day, total = bucketed_kpis(db, tenant_id, day_starts(tz, days))
    return list(zip(days, per_day, strict=True)), total


def bucketed_kpis(db: Session, tenant_id: int, starts: Sequence[datetime]) -> tuple[list[BotKpis], BotKpis]:
    """The KPIs of each period ``[starts[i], starts[i + 1])`` (days, or the hours of a day) and of all of
    them together: what ``bucketed_bot_kpis`` gives for all the tenant's events."""
    if len(starts) < 2:
        return [], kpis_of(BotCounts())
    start, end = starts[0], starts[-1]
    facts = _facts(tenant_id, start, end + FOLLOW_UP)
    day = case(*((facts.c.first_reply < starts[i + 1], i) for i in range(len(starts) - 1))).label("day")
    statement = _counted(facts, day)
    # Begun before the first day: its first reply ever is earlier. A scalar subquery per conversation, one
    # probe of ix_events_conversation_type_time (conversation ids are unique across tenants, so it needs no
    # tenant condition that could lure a planner to another index): unlike NOT EXISTS, which planners turn
    # into an anti-join, it never reads the tenant's whole reply history.
    first_ever = (
        select(func.min(Event.occurred_at))
        .where(Event.conversation_id == facts.c.cid, Event.type == _REPLIED)
        .scalar_subquery()
    )
    statement = statement.where(facts.c.first_reply < end, first_ever >= start).group_by(day)
    by_period = {int(row.day): _counts(row) for row in db.execute(statement)}
    periods = [kpis_of(by_period.get(i, BotCounts())) for i in range(len(starts) - 1)]
    total = BotCounts(
        **{name: sum(getattr(c, name) for c in by_period.values()) for name in BotCounts.__dataclass_fields__}
    )
    return periods, kpis_of(total)
