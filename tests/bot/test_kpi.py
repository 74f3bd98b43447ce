"""The bot's KPIs from its events, by hand."""

from __future__ import annotations

from kefu.bot.kpi import BotEvent, bot_kpis


def replied(cid: int, outcome: str, mid: int = 0) -> BotEvent:
    return BotEvent("bot.replied", cid, {"outcome": outcome, "message_id": mid})


def test_the_four_rates() -> None:
    events = [
        # 1: answered, helpful, ended with the bot → resolved by the bot
        replied(1, "answer", 10),
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


def test_nothing_is_null_not_zero() -> None:
    k = bot_kpis([])
    assert k.answer_rate is None and k.handover_rate is None and k.helpful_rate is None and k.conversations == 0
