"""The bot's turn, pure: what it says for each outcome, when it hands over, what it learns from."""

from __future__ import annotations

import pytest

from kefu.bot.decision import Decision, Hit, Outcome
from kefu.bot.smalltalk import SmallTalk
from kefu.bot.turn import (
    KbAnswer,
    handover_reply,
    misses_in_a_row,
    picked_answer,
    reply_to,
    small_talk_reply,
    suggested_for,
    wants_person,
)

ENTRIES = {
    1: KbAnswer(1, "怎么申请退货", "<p>点击<b>申请退货</b></p>", "点击申请退货"),
    2: KbAnswer(2, "退款多久到账", "<p>1–3 个工作日</p>", "1–3 个工作日"),
}


@pytest.mark.parametrize(
    "text", ["人工", "转人工", "转人工！", "我要找客服", "人工客服 ", "ＨＵＭＡＮ", "请帮我转人工服务", "轉人工"]
)
def test_asking_for_a_person(text: str) -> None:
    assert wants_person(text)


@pytest.mark.parametrize("text", ["人工智能音箱怎么连接wifi", "客服电话是多少，我想打电话问一下发票的事", "退货"])
def test_questions_that_only_mention_people_are_questions(text: str) -> None:
    assert not wants_person(text)


def test_an_answer_carries_the_html_for_the_widget_and_text_for_everyone() -> None:
    reply = reply_to(Decision(Outcome.answer, (Hit("1", 0.9, "我要退货"),)), ENTRIES, "我要退货", misses_before=0)
    assert reply.outcome == "answer" and reply.body == "点击申请退货" and not reply.learn and not reply.handover
    bot = reply.meta["bot"]
    assert bot["entry_id"] == 1 and bot["answer_html"].startswith("<p>") and bot["feedback"] is None


def test_a_picked_suggestion_answers_the_visitors_own_question() -> None:
    hits = (Hit("2", 0.5, "退款"), Hit("1", 0.4, "退货"))
    offer = reply_to(Decision(Outcome.suggest, hits), ENTRIES, "钱和货的事", misses_before=0).meta["bot"]
    assert suggested_for(offer, 1) == "钱和货的事" and suggested_for(offer, 2) == "钱和货的事"
    assert suggested_for(offer, 3) is None  # not among the suggestions
    assert suggested_for(None, 1) is None
    answered = reply_to(Decision(Outcome.answer, hits[:1]), ENTRIES, "退款多久", misses_before=0).meta["bot"]
    assert suggested_for(answered, 2) is None  # only a suggest reply offers entries
    reply = picked_answer(ENTRIES[1], "怎么申请退货", suggested_for(offer, 1))
    assert reply.outcome == "answer" and reply.picked_for == "钱和货的事" and not reply.learn
    assert reply.meta["bot"]["query"] == "钱和货的事" and reply.meta["bot"]["picked"] is True
    plain = picked_answer(ENTRIES[1], "怎么申请退货", None)
    assert (
        plain.picked_for is None and plain.meta["bot"]["query"] == "怎么申请退货" and "picked" not in plain.meta["bot"]
    )


def test_suggestions_list_the_questions_and_go_to_the_learning_queue() -> None:
    hits = (Hit("2", 0.5, "退款"), Hit("1", 0.4, "退货"), Hit("9", 0.3, "gone"))
    reply = reply_to(Decision(Outcome.suggest, hits), ENTRIES, "退", misses_before=0)
    assert reply.outcome == "suggest" and reply.learn and reply.candidates == [2, 1]
    assert reply.body.splitlines() == ["您是不是想问：", "1. 退款多久到账", "2. 怎么申请退货"]
    assert [s["entry_id"] for s in reply.meta["bot"]["suggestions"]] == [2, 1]


def test_unknowns_in_a_row_hand_over_at_the_limit() -> None:
    nothing = Decision(Outcome.unknown, ())
    first = reply_to(nothing, ENTRIES, "火星", misses_before=0, max_misses=2)
    assert first.outcome == "unknown" and first.learn and not first.handover
    second = reply_to(nothing, ENTRIES, "火星", misses_before=1, max_misses=2)
    assert second.outcome == "handover" and second.handover and second.learn
    never = reply_to(nothing, ENTRIES, "火星", misses_before=10, max_misses=0)
    assert never.outcome == "unknown" and not never.handover


def test_an_answer_whose_entry_is_gone_is_not_given() -> None:
    reply = reply_to(Decision(Outcome.answer, (Hit("9", 0.9, "x"),)), ENTRIES, "x", misses_before=0)
    assert reply.outcome == "unknown"


def test_misses_in_a_row_and_handover_in_words() -> None:
    assert misses_in_a_row(["unknown", "unknown", "answer", "unknown"]) == 2
    assert misses_in_a_row(["answer", "unknown"]) == 0
    # small talk between misses neither counts nor breaks the run
    assert misses_in_a_row(["smalltalk", "unknown", "smalltalk", "unknown", "answer"]) == 2
    assert misses_in_a_row(["smalltalk", "answer", "unknown"]) == 0
    assert handover_reply("转人工").handover and not handover_reply("转人工").learn


def test_small_talk_gets_a_reply_of_its_kind_and_teaches_nothing() -> None:
    reply = small_talk_reply(SmallTalk.thanks, "好的谢谢")
    assert reply.outcome == "smalltalk" and "不客气" in reply.body
    assert not reply.learn and not reply.handover and reply.candidates == []
    bot = reply.meta["bot"]
    assert bot["outcome"] == "smalltalk" and bot["small_talk"] == "thanks" and bot["query"] == "好的谢谢"
    assert bot["entry_id"] is None and bot["suggestions"] == []
