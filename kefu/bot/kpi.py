"""The bot's KPIs from its events (pure): self-service resolution, hand-over, answer and helpful rates.

Definitions (over the conversations the bot replied in during the period):

- **answer rate** = the bot's replies that answered from the knowledge base / the visitor questions it
  replied to (answers + suggestions + "not understood"; hand-over messages are not questions);
- **hand-over rate** (转人工率) = conversations that went from the bot to a person / bot conversations;
- **self-service resolution rate** (自助解决率) = bot conversations that ended without a person, had at
  least one answer and no answer marked unhelpful / bot conversations;
- **helpful rate** = answers whose (last) feedback is helpful / answers that got feedback.

A rate with nothing under it is null, not 0.

By day (``daily_bot_kpis``), each conversation counts on the tenant's local day of the bot's first reply
in it, with everything that happened in it afterwards (also after midnight): a conversation answered at
23:59 and ended at 00:01 is resolved on the day it began.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel


@dataclass(frozen=True)
class BotEvent:
    type: str
    conversation_id: int | None
    payload: dict[str, Any]


class BotKpis(BaseModel):
    conversations: int
    questions: int
    answered: int
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


def bot_kpis(events: Iterable[BotEvent]) -> BotKpis:
    outcomes: dict[str, int] = {"answer": 0, "suggest": 0, "unknown": 0, "handover": 0}
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
    questions = outcomes["answer"] + outcomes["suggest"] + outcomes["unknown"]
    helpful = sum(verdicts.values())
    return BotKpis(
        conversations=len(bot_convs),
        questions=questions,
        answered=outcomes["answer"],
        suggested=outcomes["suggest"],
        not_understood=outcomes["unknown"],
        handed_over=len(handed),
        resolved_by_bot=len(resolved),
        feedback=len(verdicts),
        helpful=helpful,
        answer_rate=_rate(outcomes["answer"], questions),
        handover_rate=_rate(len(handed), len(bot_convs)),
        self_service_rate=_rate(len(resolved), len(bot_convs)),
        helpful_rate=_rate(helpful, len(verdicts)),
    )


def daily_bot_kpis(
    events: Iterable[tuple[datetime, BotEvent]], tz: ZoneInfo, days: Sequence[date]
) -> tuple[list[tuple[date, BotKpis]], BotKpis]:
    """The KPIs of each of ``days`` (local to ``tz``) and of all of them together, from timed events in
    time order (see the module docstring for which day a conversation counts on)."""
    wanted = set(days)
    day_of: dict[int, date] = {}  # conversation → its day
    by_conversation: dict[int, list[BotEvent]] = {}
    for at, event in events:
        cid = event.conversation_id
        if cid is None:
            continue
        if cid not in day_of and event.type == "bot.replied":
            day_of[cid] = at.astimezone(tz).date()
        by_conversation.setdefault(cid, []).append(event)
    per_day: dict[date, list[BotEvent]] = {d: [] for d in days}
    for cid, day in day_of.items():
        if day in wanted:
            per_day[day].extend(by_conversation[cid])
    daily = [(d, bot_kpis(per_day[d])) for d in days]
    return daily, bot_kpis(e for d in days for e in per_day[d])
