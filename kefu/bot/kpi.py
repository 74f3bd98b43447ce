"""The bot's KPIs from its events (pure): self-service resolution, hand-over, answer and helpful rates.

Definitions (over the conversations the bot replied in during the period):

- **answer rate** = visitor questions answered from the knowledge base, directly or through one of the
  bot's suggestions that the visitor picked / the visitor questions it replied to (answers + suggestions +
  "not understood", less the picked answers: a pick follows its question's suggestion, it is not a new
  question; hand-over messages are not questions either);
- **hand-over rate** (转人工率) = conversations that went from the bot to a person / bot conversations;
- **self-service resolution rate** (自助解决率) = bot conversations that ended without a person, had at
  least one answer and no answer marked unhelpful / bot conversations;
- **helpful rate** = answers whose (last) feedback is helpful / answers that got feedback.

A rate with nothing under it is null, not 0.

By day (``daily_bot_kpis``), each conversation counts on the tenant's local day of the bot's first reply
in it, with everything that happened in it afterwards (also after midnight, up to ``FOLLOW_UP`` after the
last day): a conversation answered at 23:59 and ended at 00:01 is resolved on the day it began. By hour
of one day (``hour_starts``: a promotion's peak, or the bot getting better as the learning queue is
cleared) the same, per hour of the first reply (``bucketed_bot_kpis`` over any periods).

These functions are the definitions in code, over events in memory; the API counts the same in SQL
(``kefu.bot.kpi_query``), and tests/bot/test_kpi_query.py holds the two to the same figures.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel

#: How long after the last period a conversation's events still count with it (by day or hour): a bot
#: conversation lasts minutes, and this bounds what the figures of a past day have to read.
FOLLOW_UP = timedelta(days=1)


@dataclass(frozen=True)
class BotEvent:
    type: str
    conversation_id: int | None
    payload: dict[str, Any]


class BotKpis(BaseModel):
    conversations: int
    questions: int
    answered: int
    picked: int  # of the answers: a suggestion the visitor picked
    suggested: int
    not_understood: int
    handed_over: int
    resolved_by_bot: int
    feedback: int
    helpful: int
    answer_rate: float | None
    handover_rate: float | None
    self_service_rate: float | None
    helpful_rate: float | None


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class BotCounts:
    """What the rates are made of (``kefu.bot.kpi_query`` counts them in SQL, ``bot_kpis`` from events)."""

    conversations: int = 0
    answered: int = 0
    picked: int = 0
    suggested: int = 0
    not_understood: int = 0
    handed_over: int = 0
    resolved_by_bot: int = 0
    feedback: int = 0
    helpful: int = 0


def kpis_of(c: BotCounts) -> BotKpis:
    """The KPIs (counts and rates) of ``c``."""
    questions = c.answered - c.picked + c.suggested + c.not_understood
    return BotKpis(
        conversations=c.conversations,
        questions=questions,
        answered=c.answered,
        picked=c.picked,
        suggested=c.suggested,
        not_understood=c.not_understood,
        handed_over=c.handed_over,
        resolved_by_bot=c.resolved_by_bot,
        feedback=c.feedback,
        helpful=c.helpful,
        answer_rate=_rate(c.answered, questions),
        handover_rate=_rate(c.handed_over, c.conversations),
        self_service_rate=_rate(c.resolved_by_bot, c.conversations),
        helpful_rate=_rate(c.helpful, c.feedback),
    )


def bot_kpis(events: Iterable[BotEvent]) -> BotKpis:
    """The KPIs of ``events``."""
    outcomes: dict[str, int] = {"answer": 0, "suggest": 0, "unknown": 0, "handover": 0}
    picked = 0
    bot_convs: set[int] = set()
    answered_convs: set[int] = set()
    handed: set[int] = set()
    ended: set[int] = set()
    verdicts: dict[int, bool] = {}  # message id → last verdict
    unhelpful_convs: set[int] = set()
    for e in events:
        cid = e.conversation_id
        if e.type == "bot.replied" and cid is not None:
            bot_convs.add(cid)
            outcome = str(e.payload.get("outcome"))
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if outcome == "answer":
                answered_convs.add(cid)
                picked += e.payload.get("picked") is True
        elif e.type == "bot.feedback" and cid is not None:
            message_id = e.payload.get("message_id")
            if isinstance(message_id, int):
                verdicts[message_id] = bool(e.payload.get("helpful"))
                if not e.payload.get("helpful"):
                    unhelpful_convs.add(cid)
        elif e.type == "conversation.queued" and cid is not None and e.payload.get("reason") != "no_bot":
            handed.add(cid)
        elif e.type == "conversation.ended" and cid is not None:
            ended.add(cid)
    handed &= bot_convs
    resolved = (bot_convs & ended & answered_convs) - handed - unhelpful_convs
    return kpis_of(
        BotCounts(
            conversations=len(bot_convs),
            answered=outcomes["answer"],
            picked=picked,
            suggested=outcomes["suggest"],
            not_understood=outcomes["unknown"],
            handed_over=len(handed),
            resolved_by_bot=len(resolved),
            feedback=len(verdicts),
            helpful=sum(verdicts.values()),
        )
    )


def bucketed_bot_kpis(
    events: Iterable[tuple[datetime, BotEvent]], starts: Sequence[datetime]
) -> tuple[list[BotKpis], BotKpis]:
    """The KPIs of each period ``[starts[i], starts[i + 1])`` and of all of them together, from timed events
    in time order: each conversation counts in the period of the bot's first reply in it, with everything
    that happened in it afterwards up to ``FOLLOW_UP`` after the last period; one first replied to outside
    all the periods is not counted."""
    until = starts[-1] + FOLLOW_UP if starts else None
    bucket_of: dict[int, int | None] = {}  # conversation → its period (None: outside them all)
    by_conversation: dict[int, list[BotEvent]] = {}
    for at, event in events:
        cid = event.conversation_id
        if cid is None or (until is not None and at >= until):
            continue
        if cid not in bucket_of and event.type == "bot.replied":
            slot = bisect.bisect_right(starts, at) - 1
            bucket_of[cid] = slot if 0 <= slot < len(starts) - 1 else None
        by_conversation.setdefault(cid, []).append(event)
    per_bucket: list[list[BotEvent]] = [[] for _ in starts[1:]]
    for cid, bucket in bucket_of.items():
        if bucket is not None:
            per_bucket[bucket].extend(by_conversation[cid])
    return [bot_kpis(b) for b in per_bucket], bot_kpis(e for b in per_bucket for e in b)


def daily_bot_kpis(
    events: Iterable[tuple[datetime, BotEvent]], tz: ZoneInfo, days: Sequence[date]
) -> tuple[list[tuple[date, BotKpis]], BotKpis]:
    """The KPIs of each of ``days`` (local to ``tz``) and of all of them together, from timed events in
    time order (see the module docstring for which day a conversation counts on)."""
    if not days:
        return [], bot_kpis(())
    per_day, total = bucketed_bot_kpis(events, day_starts(tz, days))
    return list(zip(days, per_day, strict=True)), total


def day_starts(tz: ZoneInfo, days: Sequence[date]) -> list[datetime]:
    """The UTC instants at which each of the consecutive ``days`` begins in ``tz``, and the one at which the
    day after the last begins (so day i is ``[starts[i], starts[i + 1])``; right across DST changes)."""
    if any(b != a + timedelta(days=1) for a, b in itertools.pairwise(days)):
        raise ValueError("days must be consecutive, oldest first")
    ends = [*days, days[-1] + timedelta(days=1)] if days else []
    return [datetime.combine(d, time(), tz).astimezone(UTC) for d in ends]


def hour_starts(tz: ZoneInfo, day: date) -> list[datetime]:
    """The UTC instants at which each hour of the local ``day`` in ``tz`` begins, and the next day's start:
    24 hours, or 23 / 25 on the days clocks change (each an hour of real time from local midnight)."""
    start, end = day_starts(tz, [day])
    hours = round((end - start) / timedelta(hours=1))
    return [start + timedelta(hours=k) for k in range(hours)] + [end]
