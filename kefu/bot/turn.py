"""One turn of the bot in a conversation: what it says to a visitor's message (pure; no I/O).

The matcher decides answer / suggest / unknown (``kefu.bot.decision``); this module turns that into the
message the visitor sees — text for every client, plus ``meta.bot`` for the widget (docs/protocol.md
§5.4) — and says whether the question goes to the learning queue and whether the visitor now goes to a
person: when he asks for one in words (人工, 转人工, 找客服 …) or after ``max_misses`` unknowns in a row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kefu.bot.decision import Decision, Outcome
from kefu.bot.normalize import compact
from kefu.bot.smalltalk import DEFAULT_REPLIES, SmallTalk

#: Channel ``config`` keys and their defaults.
DEFAULT_MAX_MISSES = 2

#: Whole messages that ask for a person. A longer message asks for one only if it contains one of
#: ``_ASK_PHRASES`` and is short (so that "人工智能音箱怎么连 wifi" is still a question for the bot).
_ASK_EXACT = frozenset(
    {
        "人工",
        "客服",
        "真人",
        "人工客服",
        "转人工",
        "转客服",
        "找客服",
        "找人工",
        "人工服务",
        "在线客服",
        "human",
        "agent",
    }
)
_ASK_PHRASES = ("转人工", "人工客服", "找客服", "找人工", "人工服务", "转客服", "真人客服", "联系客服", "接人工")
_ASK_MAX_LEN = 12


def wants_person(text: str) -> bool:
    """Does the visitor ask for a person (转人工) in words?"""
    t = compact(text)
    if t in _ASK_EXACT:
        return True
    return len(t) <= _ASK_MAX_LEN and any(p in t for p in _ASK_PHRASES)


@dataclass(frozen=True)
class KbAnswer:
    """What the bot needs of an entry to answer with it."""

    entry_id: int
    question: str
    answer_html: str
    answer_text: str


@dataclass(frozen=True)
class BotTexts:
    unknown: str = "抱歉，我还没有学会回答这个问题。您可以换个说法问我，或点击「转人工」联系客服。"
    suggest: str = "您是不是想问："
    handover: str = "正在为您转接人工客服，请稍候。"


@dataclass(frozen=True)
class Reply:
    outcome: str  # answer | suggest | unknown | handover
    body: str
    meta: dict[str, Any]
    #: The question goes to the learning queue (the bot could not answer it).
    learn: bool = False
    #: Entry ids the bot thought closest (learning queue candidates), best first.
    candidates: list[int] = field(default_factory=list)
    #: After this message the visitor goes to a person.
    handover: bool = False
    #: An answer the visitor picked among the suggestions the bot gave to this question (his own words):
    #: the pick is counted on the question's learning-queue item.
    picked_for: str | None = None


def _meta(
    outcome: str,
    *,
    entry: KbAnswer | None = None,
    suggestions: list[KbAnswer] | None = None,
    score: float | None = None,
    query: str = "",
) -> dict[str, Any]:
    return {
        "bot": {
            "outcome": outcome,
            "entry_id": entry.entry_id if entry else None,
            "question": entry.question if entry else None,
            "answer_html": entry.answer_html if entry else None,
            "suggestions": [{"entry_id": s.entry_id, "question": s.question} for s in suggestions or ()],
            "feedback": None,
            "score": None if score is None else round(float(score), 4),
            "query": query[:500],
        }
    }


def answer_with(entry: KbAnswer, query: str, score: float | None = None) -> Reply:
    return Reply("answer", entry.answer_text or entry.question, _meta("answer", entry=entry, score=score, query=query))


def suggested_for(last_bot: dict[str, Any] | None, entry_id: int) -> str | None:
    """The visitor's question to which the bot's latest reply (``last_bot``: its ``meta.bot``) suggested
    entry ``entry_id``; None when that reply suggested no such entry."""
    if not last_bot or last_bot.get("outcome") != "suggest":
        return None
    offered = {s.get("entry_id") for s in last_bot.get("suggestions") or () if isinstance(s, dict)}
    query = last_bot.get("query")
    return query if entry_id in offered and isinstance(query, str) and query.strip() else None


def picked_answer(entry: KbAnswer, text: str, question: str | None) -> Reply:
    """The answer of the entry the visitor picked (he sent ``text``, the suggestion's wording). When the
    bot had suggested it for his ``question``, the answer replies to that question, so that "unhelpful"
    sends his own words to the learning queue, and the pick is counted there."""
    reply = answer_with(entry, question or text)
    if question is None:
        return reply
    meta = {"bot": {**reply.meta["bot"], "picked": True}}
    return Reply(reply.outcome, reply.body, meta, picked_for=question)


def reply_to(
    decision: Decision,
    entries: dict[int, KbAnswer],
    query: str,
    *,
    misses_before: int,
    max_misses: int = DEFAULT_MAX_MISSES,
    texts: BotTexts | None = None,
) -> Reply:
    """The bot's reply to ``query`` given the matcher's ``decision`` (``entries``: the hits' entries, by
    id; a hit whose entry is gone is skipped). ``misses_before``: unknowns in a row just before this one."""
    texts = texts or BotTexts()
    hits = [(h, entries[int(h.entry_id)]) for h in decision.hits if int(h.entry_id) in entries]
    if decision.outcome is Outcome.answer and hits:
        hit, entry = hits[0]
        return answer_with(entry, query, hit.score)
    if decision.outcome is Outcome.suggest and hits:
        shown = [e for _, e in hits]
        lines = [texts.suggest, *(f"{i}. {e.question}" for i, e in enumerate(shown, start=1))]
        return Reply(
            "suggest",
            "\n".join(lines),
            _meta("suggest", suggestions=shown, score=hits[0][0].score, query=query),
            learn=True,
            candidates=[e.entry_id for e in shown],
        )
    misses = misses_before + 1
    if max_misses > 0 and misses >= max_misses:
        return Reply("handover", texts.handover, _meta("handover", query=query), learn=True, handover=True)
    return Reply("unknown", texts.unknown, _meta("unknown", query=query), learn=True)


def small_talk_reply(kind: SmallTalk, query: str) -> Reply:
    """寒暄: a polite reply of the message's kind (``kefu.bot.smalltalk``). Not a question: no miss, nothing
    for the learning queue, not counted in the answer rate."""
    meta = _meta("smalltalk", query=query)
    meta["bot"]["small_talk"] = kind.value
    return Reply("smalltalk", DEFAULT_REPLIES[kind], meta)


def handover_reply(query: str, texts: BotTexts | None = None) -> Reply:
    """The visitor asked for a person in words."""
    texts = texts or BotTexts()
    return Reply("handover", texts.handover, _meta("handover", query=query), handover=True)


def misses_in_a_row(outcomes_newest_first: list[str]) -> int:
    """Unknowns in a row at the end of the bot's replies so far (newest first). Small talk between them
    neither counts nor breaks the run: 你好 after two misses is no sign the bot understood."""
    n = 0
    for outcome in outcomes_newest_first:
        if outcome == "smalltalk":
            continue
        if outcome != "unknown":
            break
        n += 1
    return n
