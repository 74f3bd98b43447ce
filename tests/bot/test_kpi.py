"""The bot's KPIs from its events, by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from datetime import time as dt_time
from zoneinfo import ZoneInfo

from kefu.bot.kpi import BotEvent, bot_kpis, daily_bot_kpis


def replied(cid: int, outcome: str, mid: int = 0) -> BotEvent:
    return BotEvent("bot.replied", cid, {"outcome": outcome, "message_id": mid})


def test_the_four_rates() -> None:
    events = [
        # 1: small talk (no question), answered, helpful, ended with the bot → resolved by the bot
        replied(1, "smalltalk"),
        replied(1, "answer", 10),
        replied(1, "smalltalk"),
        BotEvent("bot.feedback", 1, {"message_id": 10, "helpful": True}),
        BotEvent("conversation.ended", 1, {}),
        # 2: not understood twice, handed over
        replied(2, "unknown"),
        replied(2, "handover"),
        BotEvent("conversation.queued", 2, {"reason": "bot_handover"}),
        # 3: answered but unhelpful (changed from helpful), ended → not resolved
        replied(3, "answer", 30),
        BotEvent("bot.feedback", 3, {"message_id": 30, "helpful": True}),
        BotEvent("bot.feedback", 3, {"message_id": 30, "helpful": False}),
        BotEvent("conversation.ended", 3, {}),
        # 4: suggestions only, still open
        replied(4, "suggest"),
        # a conversation of a channel without bot is not the bot's
        BotEvent("conversation.queued", 5, {"reason": "no_bot"}),
        BotEvent("conversation.ended", 5, {}),
    ]
    k = bot_kpis(events)
    assert (k.conversations, k.questions, k.answered, k.handed_over, k.resolved_by_bot) == (4, 4, 2, 1, 1)
    assert k.answer_rate == 0.5 and k.handover_rate == 0.25 and k.self_service_rate == 0.25
    assert k.feedback == 2 and k.helpful == 1 and k.helpful_rate == 0.5


def test_a_picked_suggestion_answers_its_question() -> None:
    events = [
        # 1: suggestions, then the visitor picked one: one question, answered
        replied(1, "suggest"),
        BotEvent("bot.replied", 1, {"outcome": "answer", "message_id": 11, "picked": True}),
        BotEvent("conversation.ended", 1, {}),
        # 2: suggestions, none picked: one question, not answered
        replied(2, "suggest"),
        # 3: answered directly
        BotEvent("bot.replied", 3, {"outcome": "answer", "message_id": 31, "picked": False}),
    ]
    k = bot_kpis(events)
    assert (k.questions, k.answered, k.picked, k.suggested) == (3, 2, 1, 2)
    assert k.answer_rate == round(2 / 3, 4) and k.self_service_rate == round(1 / 3, 4)


def test_nothing_is_null_not_zero() -> None:
    k = bot_kpis([])
    assert k.answer_rate is None and k.handover_rate is None and k.helpful_rate is None and k.conversations == 0


def test_by_day_a_conversation_counts_on_the_local_day_it_began() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    day1, day2 = date(2026, 11, 10), date(2026, 11, 11)

    def at(day: date, hh: int, mm: int) -> datetime:
        return datetime.combine(day, dt_time(hh, mm), tz).astimezone(UTC)  # stored in UTC, as events are

    events = [
        # began before the days asked for: not counted, not even its hand-over on day 1
        (at(date(2026, 11, 9), 23, 0), replied(9, "unknown")),
        (at(day1, 0, 5), BotEvent("conversation.queued", 9, {"reason": "bot_handover"})),
        # 1: answered at 23:59 local (15:59 UTC, the same UTC day) and ended after midnight: resolved on day 1
        (at(day1, 23, 59), replied(1, "answer", 10)),
        (at(day2, 0, 1), BotEvent("conversation.ended", 1, {})),
        # 2: began at 00:30 local on day 2, which is still day 1 in UTC
        (at(day2, 0, 30), replied(2, "suggest")),
        (at(day2, 0, 31), replied(2, "handover")),
        (at(day2, 0, 31), BotEvent("conversation.queued", 2, {"reason": "bot_handover"})),
    ]
    daily, total = daily_bot_kpis(events, tz, [day1, day2])
    (d1, k1), (d2, k2) = daily
    assert (d1, k1.conversations, k1.resolved_by_bot, k1.self_service_rate) == (day1, 1, 1, 1.0)
    assert (d2, k2.conversations, k2.handed_over, k2.answer_rate) == (day2, 1, 1, 0.0)
    assert total.conversations == 2 and total.handover_rate == 0.5 and total.self_service_rate == 0.5
    quiet, nothing = daily_bot_kpis([], tz, [day1])
    assert quiet[0][1].conversations == 0 and nothing.answer_rate is None
