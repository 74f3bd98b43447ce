"""Thresholds for answer / suggest / unknown, calibrated from the knowledge base itself.

No tenant has labelled visitor questions on day one, but every entry with similar questions is a small
labelled set: a similar question is a way a visitor may ask. So, one fold of cross-validation:

- about one entry in five (chosen by a hash of its id) is held out *entirely*; its questions play
  visitors asking something the knowledge base does not cover (they must not get an answer);
- of every other entry with at least two questions, one question is held out; it plays a visitor asking
  something the knowledge base covers, in words the knowledge base does not contain verbatim;
- a matcher is built over what remains and answers both kinds.

A large knowledge base gives enough probes from that one fold. A small one (under 500 entries) is put
through all five folds, so that every entry is held out once entirely and, where it has a similar
question, once by one question: five small builds instead of one.

The answer threshold and margin are then the pair that answers the most held-out in-KB questions
correctly while answering at most ``target_false_answer`` of the out-of-KB ones and keeping the precision
of answers at least ``target_precision``; the suggest threshold keeps ``suggest_recall`` of the in-KB
questions whose entry is among the top three. Too small a knowledge base keeps the defaults.

``suggest_recall`` is 0.99, not a rounder 0.95, because held-out similar questions are written by the
same people as the rest of the entry and score higher than visitors' own words: the bottom 5 % of them
cut off many real visitors whose entry was in the top three. Measured (right entry in the top three but
below the suggest threshold; out-of-KB questions offered suggestions), 0.95 → 0.99: on the demo shop's
simulated visitors 76/174 → 35/174 and 5/31 → 9/31; on a public bank FAQ set 44/466 → 12/466 and
121/137 → 129/137. Suggestions cost a visitor one look; "I don't know" when the answer was there costs
a hand-over. Answers, and so accuracy and false answers, do not depend on it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kefu.bot.decision import DEFAULT_THRESHOLDS, Thresholds

if TYPE_CHECKING:
    from kefu.bot.decision import Hit
    from kefu.bot.matcher import KbDoc, Matcher

__all__ = ["Probe", "calibrate", "choose_thresholds", "hash_text", "probes"]

MIN_PROBES = 50  # of each kind; below this the defaults are safer than a threshold fit to a handful
MAX_PROBES = 1500  # of each kind; more changes the thresholds little and costs build time
FOLDS = 5  # one entry in FOLDS is held out entirely per fold


@dataclass(frozen=True)
class Probe:
    in_kb: bool
    best: float  # best score
    margin: float  # best − runner-up
    correct: bool  # best hit is the right entry (always False out of KB)
    in_top3: bool


def hash_text(text: str) -> int:
    """A stable hash (the same in every process) that picks held-out entries and questions."""
    return zlib.crc32(text.encode("utf-8"))


_hash = hash_text


def _probe(hits: list[Hit], entry_id: str | None) -> Probe:
    best = hits[0].score if hits else 0.0
    runner_up = hits[1].score if len(hits) > 1 else 0.0
    return Probe(
        in_kb=entry_id is not None,
        best=best,
        margin=best - runner_up if hits else 0.0,
        correct=bool(hits) and hits[0].entry_id == entry_id,
        in_top3=entry_id is not None and any(h.entry_id == entry_id for h in hits),
    )


def probes(docs: Sequence[KbDoc], build: Callable[[Iterable[KbDoc]], Matcher]) -> list[Probe]:
    """Held-out questions answered by a matcher built without them (see the module docstring)."""
    from kefu.bot.matcher import KbDoc

    usable = []
    for doc in docs:
        questions = list(dict.fromkeys(q for q in doc.questions if q.strip()))
        if questions:
            usable.append((doc, questions, _hash(doc.entry_id)))
    if len(usable) < MIN_PROBES:  # not enough entries for MIN_PROBES out-of-KB probes even over all folds
        return []
    # a large knowledge base gives enough probes from one fold; a small one needs every fold
    folds = 1 if len(usable) >= FOLDS * MIN_PROBES * 2 else FOLDS
    cap = MAX_PROBES // folds
    found: list[Probe] = []
    for fold in range(folds):
        kept: list[KbDoc] = []
        in_kb: list[tuple[str, str]] = []  # (question, entry id)
        out_kb: list[str] = []
        for doc, questions, h in usable:
            if h % FOLDS == fold:
                out_kb.append(questions[(h >> 8) % len(questions)])
            elif len(questions) >= 2 and (folds == 1 or h % FOLDS == (fold + 1) % FOLDS):
                held = (h >> 8) % len(questions)
                in_kb.append((questions[held], doc.entry_id))
                rest = questions[:held] + questions[held + 1 :]
                kept.append(KbDoc(doc.entry_id, rest[0], tuple(rest[1:])))
            else:
                kept.append(doc)
        matcher = build(kept)
        for question, entry_id in sorted(in_kb, key=lambda p: _hash(p[0] + p[1]))[:cap]:
            found.append(_probe(matcher.search(question, k=3), entry_id))
        for question in sorted(out_kb, key=_hash)[:cap]:
            found.append(_probe(matcher.search(question, k=3), None))
    return found


def choose_thresholds(
    found: Sequence[Probe],
    *,
    target_false_answer: float = 0.08,
    target_precision: float = 0.8,
    suggest_recall: float = 0.99,
) -> Thresholds:
    """The thresholds the probes argue for (see the module docstring); defaults without probes."""
    inside = [p for p in found if p.in_kb]
    outside = [p for p in found if not p.in_kb]
    if len(inside) < MIN_PROBES or len(outside) < MIN_PROBES:
        return DEFAULT_THRESHOLDS
    in_best = np.array([p.best for p in inside])
    in_margin = np.array([p.margin for p in inside])
    in_correct = np.array([p.correct for p in inside])
    out_best = np.array([p.best for p in outside])
    out_margin = np.array([p.margin for p in outside])

    answer_grid = np.unique(np.quantile(np.concatenate([in_best, out_best]), np.linspace(0.0, 1.0, 81)))
    margin_grid = np.unique(np.concatenate([[0.0], np.quantile(in_margin, np.linspace(0.0, 0.9, 19))]))
    best_choice: tuple[int, float, float] | None = None  # (correct answers, answer, margin)
    for answer in answer_grid:
        for margin in margin_grid:
            answered_in = (in_best >= answer) & (in_margin >= margin)
            answered_out = (out_best >= answer) & (out_margin >= margin)
            if answered_out.mean() > target_false_answer:
                continue
            n_answered = int(answered_in.sum())
            correct = int((answered_in & in_correct).sum())
            if n_answered and correct / n_answered < target_precision:
                continue
            if best_choice is None or correct > best_choice[0]:
                best_choice = (correct, float(answer), float(margin))
    if best_choice is None or best_choice[0] == 0:
        answer, margin = float("inf"), 0.0  # nothing can be answered safely: suggest only
    else:
        _, answer, margin = best_choice
    reachable = np.array([p.best for p in inside if p.in_top3])
    suggest = float(np.quantile(reachable, 1.0 - suggest_recall)) if len(reachable) else DEFAULT_THRESHOLDS.suggest
    return Thresholds(answer=answer, margin=margin, suggest=min(suggest, answer), source="calibrated")


def calibrate(docs: Sequence[KbDoc], build: Callable[[Iterable[KbDoc]], Matcher], **targets: float) -> Thresholds:
    return choose_thresholds(probes(docs, build), **targets)
