"""What simulated visitors and agents say: the demo shop's knowledge base and lines, and picking among them.

The content lives in ``kefu/demo_data`` (fictional, written for the demo; see its README) and is read
through ``importlib.resources``. Reading is confined to :func:`read_demo_file` and :func:`demo_script`;
the parsers and every ``pick_*`` method are pure and take the random generator as a parameter.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from typing import Literal, cast

KB_FILE = "shop_kb.csv"
VISITOR_FILE = "visitor_questions.json"
AGENT_FILE = "agent_replies.json"
KB_HEADER = ("标准问题", "相似问题", "答案", "分类")

#: What a visitor's opening line is: a knowledge-base question in new words, small talk, a topic the
#: knowledge base does not cover, a complaint that needs a person, or a plain request for a person.
QuestionKind = Literal["kb", "chitchat", "uncovered", "complaint", "human"]
OUT_OF_SCOPE_KINDS: tuple[QuestionKind, ...] = ("chitchat", "uncovered", "complaint")
FOLLOW_UP_PURPOSES = ("order_number", "detail", "not_received", "question", "confirm", "thanks", "angry")
AGENT_PURPOSES = ("greeting", "ask_order_number", "checking", "apology", "answer", "ask_more", "closing")

#: How often customers ask about each top-level category, relative to one another (物流 and 售后 lead).
DEFAULT_TOPIC_WEIGHTS: Mapping[str, float] = {
    "物流": 3.0,
    "售后": 2.5,
    "订单": 2.0,
    "支付": 1.5,
    "商品": 1.2,
    "账户": 0.8,
    "服务": 0.8,
    "投诉与建议": 0.5,
}


@dataclass(frozen=True)
class KbEntry:
    question: str
    similar: tuple[str, ...]
    answer: str
    category: str

    @property
    def topic(self) -> str:
        """The top level of the category path (``售后`` for ``售后/退货退款``)."""
        return self.category.split("/", 1)[0]


@dataclass(frozen=True)
class VisitorLines:
    """Parsed ``visitor_questions.json``."""

    kb: Mapping[str, tuple[str, ...]]  # standard question -> phrasings that are not in the KB
    out_of_scope: Mapping[str, tuple[str, ...]]  # chitchat / uncovered / complaint -> lines
    human_requests: tuple[str, ...]
    follow_ups: Mapping[str, tuple[str, ...]]  # purpose -> lines; "{order_no}" is filled in


@dataclass(frozen=True)
class PickedQuestion:
    text: str
    kind: QuestionKind
    kb_question: str | None  # the standard question the bot should match; None when out of scope


def read_demo_file(name: str) -> str:
    """The text of one file of ``kefu/demo_data`` (the only I/O of the simulator's content)."""
    return resources.files("kefu").joinpath("demo_data", name).read_text(encoding="utf-8-sig")


def parse_kb_csv(text: str) -> tuple[KbEntry, ...]:
    """Entries of a knowledge-base CSV with the header ``标准问题,相似问题,答案,分类``."""
    rows = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = next(rows, None)
    if header is None or tuple(h.strip() for h in header) != KB_HEADER:
        raise ValueError(f"the knowledge-base CSV must start with the header {','.join(KB_HEADER)}; got {header}")
    entries: list[KbEntry] = []
    for line_no, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(KB_HEADER):
            raise ValueError(f"knowledge-base row {line_no}: expected {len(KB_HEADER)} columns, got {len(row)}")
        question, similar, answer, category = (cell.strip() for cell in row)
        phrasings = tuple(s.strip() for s in similar.splitlines() if s.strip())
        entries.append(KbEntry(question, phrasings, answer, category))
    return tuple(entries)


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{where} must be a list of non-empty strings")
    return tuple(cast(list[str], value))


def _groups(value: object, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object of lists")
    return {str(k): _strings(v, f"{where}.{k}") for k, v in value.items()}


def parse_visitor_lines(text: str) -> VisitorLines:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("visitor_questions.json must hold an object")
    return VisitorLines(
        kb=_groups(data.get("kb"), "kb"),
        out_of_scope=_groups(data.get("out_of_scope"), "out_of_scope"),
        human_requests=_strings(data.get("human_requests"), "human_requests"),
        follow_ups=_groups(data.get("follow_ups"), "follow_ups"),
    )


def parse_agent_replies(text: str) -> dict[str, tuple[str, ...]]:
    return _groups(json.loads(text), "agent_replies")


def order_number(rng: random.Random, day: date) -> str:
    """A fictional order number of the demo shop: the order date and five digits, e.g. 2026111100123."""
    return f"{day:%Y%m%d}{rng.randrange(100_000):05d}"


@dataclass(frozen=True)
class Script:
    """Everything said in a simulation, with the choices among it."""

    kb: tuple[KbEntry, ...]
    visitor: VisitorLines
    agent: Mapping[str, tuple[str, ...]]
    topic_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_TOPIC_WEIGHTS))

    def __post_init__(self) -> None:
        known = {e.question for e in self.kb}
        unknown = sorted(set(self.visitor.kb) - known)
        if unknown:
            raise ValueError(f"visitor phrasings for questions that are not in the knowledge base: {unknown}")
        if not self.visitor.kb or not self.visitor.human_requests:
            raise ValueError("the script needs knowledge-base phrasings and ways to ask for a person")
        missing = [p for p in AGENT_PURPOSES if not self.agent.get(p)] + [
            p for p in FOLLOW_UP_PURPOSES if not self.visitor.follow_ups.get(p)
        ]
        if missing:
            raise ValueError(f"the script has no lines for: {missing}")

    @functools.cached_property
    def _entries(self) -> dict[str, KbEntry]:
        return {e.question: e for e in self.kb}

    @functools.cached_property
    def _answers(self) -> dict[str, str]:
        by_text: dict[str, str] = {}
        for entry in self.kb:
            for text in (entry.question, *entry.similar, *self.visitor.kb.get(entry.question, ())):
                by_text.setdefault(_normal(text), entry.answer)
        return by_text

    def entry(self, question: str) -> KbEntry:
        return self._entries[question]

    def answer_for(self, text: str) -> str | None:
        """The KB answer for a standard, similar or simulated phrasing (exact match); None for anything else.

        For a simulated agent who "looks up" the answer to the question the visitor asked.
        """
        return self._answers.get(_normal(text))

    @functools.cached_property
    def _meanings(self) -> dict[str, PickedQuestion]:
        by_text: dict[str, PickedQuestion] = {}
        for question, phrasings in self.visitor.kb.items():
            for text in phrasings:
                by_text.setdefault(_normal(text), PickedQuestion(text, "kb", question))
        for kind in OUT_OF_SCOPE_KINDS:
            for text in self.visitor.out_of_scope.get(kind, ()):
                by_text.setdefault(_normal(text), PickedQuestion(text, kind, None))
        return by_text

    def meant(self, text: str) -> PickedQuestion | None:
        """What a simulated visitor meant by ``text``, when it is one of his lines to the bot (exact match,
        ignoring case, spaces and punctuation): the simulated administrator's knowledge of the shop."""
        return self._meanings.get(_normal(text))

    def pick_kb_question(self, rng: random.Random, exclude: Iterable[str] = ()) -> PickedQuestion:
        """A phrasing not in the KB of a KB question, weighted by topic; ``exclude``: standard questions."""
        skip = set(exclude)
        candidates = [q for q in self.visitor.kb if q not in skip] or list(self.visitor.kb)
        weights = [self.topic_weights.get(self._entries[q].topic, 1.0) for q in candidates]
        question = rng.choices(candidates, weights=weights)[0]
        return PickedQuestion(rng.choice(self.visitor.kb[question]), "kb", question)

    def pick_out_of_scope(self, rng: random.Random, kind: QuestionKind | None = None) -> PickedQuestion:
        """Small talk, an uncovered topic or a complaint (``kind`` or uniformly over the lines of all three)."""
        if kind is None:
            pool = [(k, line) for k in OUT_OF_SCOPE_KINDS for line in self.visitor.out_of_scope.get(k, ())]
            chosen_kind, text = rng.choice(pool)
            return PickedQuestion(text, chosen_kind, None)
        return PickedQuestion(rng.choice(self.visitor.out_of_scope[kind]), kind, None)

    def pick_human_request(self, rng: random.Random) -> str:
        return rng.choice(self.visitor.human_requests)

    def follow_up(self, rng: random.Random, purpose: str, order_no: str = "") -> str:
        """A visitor's line to an agent for ``purpose`` (see ``FOLLOW_UP_PURPOSES``)."""
        return rng.choice(self.visitor.follow_ups[purpose]).replace("{order_no}", order_no)

    def agent_line(self, rng: random.Random, purpose: str) -> str:
        """An agent's line for ``purpose`` (see ``AGENT_PURPOSES``)."""
        return rng.choice(self.agent[purpose])


def _normal(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


@functools.cache
def demo_script() -> Script:
    """The demo shop's script, read once from ``kefu/demo_data``."""
    return Script(
        kb=parse_kb_csv(read_demo_file(KB_FILE)),
        visitor=parse_visitor_lines(read_demo_file(VISITOR_FILE)),
        agent=parse_agent_replies(read_demo_file(AGENT_FILE)),
    )
