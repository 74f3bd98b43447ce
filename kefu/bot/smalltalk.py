"""寒暄 (small talk): a visitor's message that is only a greeting, thanks, goodbye, "are you there?", "are you
a robot?", "OK" or praise gets a polite reply of its kind (pure; no I/O).

Without it the knowledge base is asked "你好" and "谢谢", knows neither, says it does not understand,
counts a miss — two of those and the visitor is handed to a person who is then greeted by nobody — and
sends the words to the learning queue, where an administrator has to ignore them every day. Chinese
visitors open with 你好 / 在吗 and close with 好的谢谢 in a large share of conversations.

A message is small talk only when all of it is: it is cut, longest phrase first, into small-talk phrases,
particles (啊 呀 哦 …) and ways of addressing the service (客服, 亲); a single word left over — 你好，我想退货
— makes it a question for the knowledge base (whose analyzer drops 你好 as a stopword). Of several kinds in
one message the one that says most about where the conversation is goes wins: 好的谢谢再见 is a goodbye,
你好在吗 asks whether anyone is there. (A dictionary walk, not a library matcher: messages are a few
characters long and the phrase list is small; what matters is that *nothing* is left over.)
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

from kefu.bot.normalize import compact

__all__ = ["DEFAULT_REPLIES", "SmallTalk", "small_talk", "strip_small_talk"]


class SmallTalk(StrEnum):
    """Kinds of small talk, in order of precedence when a message has several."""

    goodbye = "goodbye"
    thanks = "thanks"
    identity = "identity"  # 你是机器人吗
    anyone_there = "anyone_there"  # 在吗
    greeting = "greeting"
    praise = "praise"
    acknowledge = "acknowledge"  # 好的 / 嗯 / ok


DEFAULT_REPLIES: dict[SmallTalk, str] = {
    SmallTalk.goodbye: "感谢您的咨询，祝您生活愉快，再见！",
    SmallTalk.thanks: "不客气！还有其他问题随时问我。",
    SmallTalk.identity: "我是智能助手，可以回答常见问题；需要人工服务请点击「转人工」。",
    SmallTalk.anyone_there: "在的，请问有什么可以帮您？",
    SmallTalk.greeting: "您好！请直接描述您的问题，我会尽力为您解答。",
    SmallTalk.praise: "谢谢您的肯定，我会继续努力！",
    SmallTalk.acknowledge: "好的，还有其他问题可以继续问我。",
}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_PHRASES: dict[SmallTalk, tuple[str, ...]] = {
    SmallTalk.goodbye: _words("再见 拜拜 拜 byebye bye goodbye 88 晚安 下次见 回头见 先这样"),
    SmallTalk.thanks: _words(
        "谢谢 谢啦 谢了 多谢 感谢 感谢您 谢谢你 谢谢您 非常感谢 太感谢了 辛苦了 辛苦 麻烦了 麻烦你了 "
        "thanks thankyou thx 3q"
    ),
    SmallTalk.identity: _words(
        "你是机器人 您是机器人 你是真人 您是真人 你是人工 您是人工 你是人 您是人 你是谁 您是谁 你叫什么 你叫什么名字 "
        "你叫啥 你是ai"
    ),
    SmallTalk.anyone_there: _words("在吗 在么 在不在 在嘛 在不 有人吗 有人在吗 有人不 有人没 有没有人 人呢 在"),
    SmallTalk.greeting: _words("你好 您好 你们好 哈喽 嗨 hi hello hey 早上好 上午好 中午好 下午好 晚上好 早安 早"),
    SmallTalk.praise: _words("真棒 很棒 好棒 厉害 真厉害 不错 很好 太好了 好评 赞 点赞 给力 满意"),
    SmallTalk.acknowledge: _words(
        "好的 好滴 好嘞 好 嗯 嗯嗯 恩 恩恩 哦 噢 ok okay 知道了 明白了 明白 懂了 收到 行 可以 没问题 "
        "没事了 没有了 没了 好吧"
    ),
}

#: Words that carry no meaning here: particles, and ways of addressing the service. (No product-like noun
#: may be a phrase or a filler: a clause of nothing else is cut from the question — 机器人 alone is a
#: robot-vacuum shop's product, which is why "are you a robot" needs its 你.)
_FILLERS = frozenset(
    _words(
        "啊 呀 哦 哇 呢 吧 嘛 啦 了 的 吗 么 哈 呐 喔 噢 诶 欸 哎 嗯 "
        "亲 亲亲 客服 小姐姐 小哥哥 美女 帅哥 老师 小二 掌柜 你 您 我 那 那就 就 很 非常 都 也"
    )
)
_NOT_ASKED = frozenset({SmallTalk.acknowledge, SmallTalk.praise})  # "OK?" is a question, not an OK
_MAX_LEN = 20  # longer messages are questions, even if they start with 你好
_LONGEST = max(len(p) for ps in _PHRASES.values() for p in (*ps, *_FILLERS))
_KIND_OF = {phrase: kind for kind, phrases in _PHRASES.items() for phrase in phrases}
_PRECEDENCE = {kind: i for i, kind in enumerate(SmallTalk)}
_CLAUSE = re.compile(r"[^\s\W_]+", re.UNICODE)  # runs between punctuation, spaces and emoji


def small_talk(text: str) -> SmallTalk | None:
    """The kind of small talk ``text`` is, or None when any of it is more than small talk."""
    t = compact(text)
    if not t or len(t) > _MAX_LEN:
        return None
    consumed, found = _walk(t)
    if not consumed:
        return None  # a word that is not small talk: a question for the knowledge base
    raw = unicodedata.normalize("NFKC", text).strip()
    if found in _NOT_ASKED and (raw.endswith("?") or raw.endswith(("吗", "么"))):
        return None  # 可以吗？/ 行吗: asks about what came before, which only the knowledge base (or a person) knows
    return found


def strip_small_talk(text: str) -> str:
    """The question in ``text`` without the small talk around it: 你好，请问退货流程是什么？谢谢 → 请问退货流程是
    什么. Clauses (split at punctuation and spaces) that are only small talk or particles are cut from the
    start and the end; what lies between is returned as written. ``text`` itself when it has no such clause
    or is nothing but small talk. (Without this, 你好 and 谢谢 take a share of a short question's weight
    and the bot is less sure of an answer it knows.)"""
    clauses = [m for m in _CLAUSE.finditer(text)]
    start, end = 0, len(clauses)
    while start < end and _only_small_talk(clauses[start].group()):
        start += 1
    while end > start and _only_small_talk(clauses[end - 1].group()):
        end -= 1
    if start == end or (start == 0 and end == len(clauses)):
        return text
    return text[clauses[start].start() : clauses[end - 1].end()]


def _only_small_talk(clause: str) -> bool:
    if small_talk(clause) is not None:
        return True
    t = compact(clause)
    return bool(t) and _walk(t) == (True, None)  # particles and ways of address only: 亲 / 那


def _walk(t: str) -> tuple[bool, SmallTalk | None]:
    """Cut ``t`` (normalised, no punctuation) into small-talk phrases and fillers, longest first: whether
    all of it was, and the kind of highest precedence found."""
    found: SmallTalk | None = None
    i = 0
    while i < len(t):
        for size in range(min(_LONGEST, len(t) - i), 0, -1):
            piece = t[i : i + size]
            kind = _KIND_OF.get(piece)
            if kind is not None or piece in _FILLERS:
                if kind is not None and (found is None or _PRECEDENCE[kind] < _PRECEDENCE[found]):
                    found = kind
                i += size
                break
        else:
            return False, found
    return True, found
