"""The bot's three outcomes and the thresholds that separate them (pure; no matching here)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Decision", "Hit", "Outcome", "Thresholds", "decide"]


@dataclass(frozen=True)
class Hit:
    entry_id: str
    score: float  # about 0..1: how much of the query the entry matches (BM25 re-ranked, ``matcher``)
    matched_question: str  # the entry's question (as written in the knowledge base) that matched best


class Outcome(StrEnum):
    answer = "answer"  # answer directly with the entry's answer
    suggest = "suggest"  # "您是不是想问": offer the closest questions
    unknown = "unknown"  # say so and offer a person


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    hits: tuple[Hit, ...]  # best first; one for answer, up to 3 for suggest, none for unknown


@dataclass(frozen=True)
class Thresholds:
    """Answer when the best score is at least ``answer`` and leads the runner-up by at least ``margin``;
    suggest when it is at least ``suggest``; otherwise unknown. ``source`` says where they came from."""

    answer: float
    margin: float
    suggest: float
    source: str = "given"


DEFAULT_THRESHOLDS = Thresholds(answer=0.75, margin=0.1, suggest=0.25, source="default")


def decide(hits: list[Hit], thresholds: Thresholds, suggestions: int = 3) -> Decision:
    """The outcome for ``hits`` (best first, one per entry)."""
    if not hits or hits[0].score < thresholds.suggest:
        return Decision(Outcome.unknown, ())
    best = hits[0]
    runner_up = hits[1].score if len(hits) > 1 else 0.0
    if best.score >= thresholds.answer and best.score - runner_up >= thresholds.margin:
        return Decision(Outcome.answer, (best,))
    return Decision(Outcome.suggest, tuple(h for h in hits[:suggestions] if h.score >= thresholds.suggest))
