"""寒暄: which messages are small talk, and of which kind (pure)."""

from __future__ import annotations

import pytest

from kefu.bot.smalltalk import DEFAULT_REPLIES, SmallTalk, small_talk, strip_small_talk


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("你好", SmallTalk.greeting),
        ("您好！", SmallTalk.greeting),
        ("早上好呀", SmallTalk.greeting),
        ("Hello", SmallTalk.greeting),
        ("在吗？？", SmallTalk.anyone_there),
        ("亲，在吗", SmallTalk.anyone_there),
        ("客服在不在", SmallTalk.anyone_there),
        ("你好在吗", SmallTalk.anyone_there),  # of several kinds, the one that says most
        ("谢谢你啊", SmallTalk.thanks),
        ("謝謝！", SmallTalk.thanks),  # traditional characters, as normalize reads them
        ("好的谢谢", SmallTalk.thanks),
        ("好的 谢谢 再见", SmallTalk.goodbye),
        ("88", SmallTalk.goodbye),
        ("你是机器人吗？", SmallTalk.identity),
        ("你是真人吗", SmallTalk.identity),
        ("嗯嗯", SmallTalk.acknowledge),
        ("OK", SmallTalk.acknowledge),
        ("知道了", SmallTalk.acknowledge),
        ("很满意", SmallTalk.praise),
    ],
)
def test_small_talk_is_known_by_its_kind(text: str, kind: SmallTalk) -> None:
    assert small_talk(text) is kind


@pytest.mark.parametrize(
    "text",
    [
        "你好，我想退货",  # a question after the greeting: for the knowledge base
        "怎么退货",
        "早点发货",
        "在线支付可以吗",
        "不满意",
        "可以吗",  # asks about what came before
        "行吗？",
        "讲个笑话吧",
        "今天天气怎么样",
        "？？？",
        "",
        "你好" * 11,  # too long to be only small talk
    ],
)
def test_anything_more_than_small_talk_is_a_question(text: str) -> None:
    assert small_talk(text) is None


def test_every_kind_has_a_reply() -> None:
    assert set(DEFAULT_REPLIES) == set(SmallTalk) and all(DEFAULT_REPLIES.values())


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("你好，退货流程是什么？", "退货流程是什么"),
        ("亲 在吗 我想问下退货", "我想问下退货"),
        ("您好！请问 怎么开发票？ 谢谢啦", "请问 怎么开发票"),
        ("0.05%的利息是多少，谢谢", "0.05%的利息是多少"),  # what is kept is kept as written
        ("你好在线支付可以吗", "你好在线支付可以吗"),  # no clause of its own: nothing is cut
        ("在线支付，可以吗", "在线支付，可以吗"),
        ("你好，谢谢", "你好，谢谢"),  # nothing but small talk: left for small_talk to answer
    ],
)
def test_the_question_is_cut_out_of_its_small_talk(text: str, question: str) -> None:
    assert strip_small_talk(text) == question


@pytest.mark.parametrize("text", ["机器人", "机器人，怎么充电", "是人吗"])
def test_a_product_is_no_small_talk(text: str) -> None:
    """A robot-vacuum shop's visitor who types 机器人 means the product: "are you a robot" needs its 你."""
    assert small_talk(text) is None and strip_small_talk(text) == text
