"""Second stage of matching: the best few entries by BM25 re-scored with character-level features.

BM25 over words and bigrams (``matcher``) finds the candidates; it saturates repeated terms and
normalises by length, which is right for ranking the whole knowledge base but blunt between the last few
look-alikes, where one wrong or missing character (花呗 / 借呗, a typo such as 借贝) decides. For each of the
``MatchParams.rerank_depth`` best entries the re-ranker computes, over each of the entry's questions and
keeping the best:

- ``char_jaccard``: shared characters / characters in either (the ``c:`` terms of ``analyze``);
- ``char_query_coverage``: IDF-weighted share of the query's characters found in the question;
- ``char_candidate_coverage``: IDF-weighted share of the question's characters found in the query;

and scores the entry ``Σ wᵢ·fᵢ / Σ wᵢ`` with the BM25 score as the first feature (all features are about
0..1, so the score stays on the scale the thresholds are calibrated on).

The matcher then subtracts ``MatchParams.hub_weight`` × the entry's hubness (how close the entry is to
its nearest other entries, ``Matcher._hub_locked``), so that a short generic question does not win the
queries meant for its more specific neighbours.

The default weights were chosen on half of the paraphrase groups (split by a hash of the group id) of
two public FAQ sets, bank (bq) and payment (atec), and checked on the other half of each. Top-1 on
halves 0 / 1:

| | bank | payment |
|---|---|---|
| first stage alone | 0.183 / 0.175 | 0.142 / 0.136 |
| + character features (weights 1, 0.25, 0.25, 0) | 0.172 / 0.183 | 0.152 / 0.154 |
| + hubness only (0.25, 10 neighbours) | 0.175 / 0.177 | 0.147 / 0.146 |
| both (the defaults) | 0.185 / 0.183 | 0.163 / 0.159 |

Bank halves have ~630 queries each, so ±0.015 there is noise; the payment gain is steady. Character
weights from 0.25 to 1 did about as well, and so did hubness over 3 or 10 neighbours and hubness
weights 0.15 to 0.35 (0.5 was worse on bank); hubness from the full first-stage score instead of the
question level gave the same top-1 at twice the build cost. A caveat on hubness: in those sets every
entry is asked exactly once, generic or not, which is the situation it corrects for; where visitors ask
generic questions much more often than specific ones it helps less. Tried and left out: candidate
coverage (penalising a candidate for content the query does not have — symmetric scoring — at
character, word and bigram level, or an F1 of both coverages: lower top-1 on both sets, hence weight
0), a ``difflib`` similarity ratio and the mean (not best) of the features over an entry's questions
(no gain beyond noise on top of these, and slower).

``fit_weights`` can refit the weights from a knowledge base's own held-out similar questions (the way
``calibrate`` sets thresholds), pulled towards the defaults. It is off by default
(``MatchParams.learn_rerank``): on the bank set, whose entries have many similar questions, it moved the
weight to candidate coverage (similar questions inside a knowledge base resemble each other more than
visitors' questions resemble them) and top-1 fell from 0.185 / 0.183 to 0.167 / 0.171; the payment set
has too few similar questions to refit at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_WEIGHTS", "FEATURES", "QueryChars", "char_features", "combine", "fit_weights"]

FEATURES = ("score", "char_jaccard", "char_query_coverage", "char_candidate_coverage")
DEFAULT_WEIGHTS: tuple[float, ...] = (1.0, 0.25, 0.25, 0.0)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class QueryChars:
    """The query's ``c:`` terms with their IDF, and the IDF total (computed once per query)."""

    idf: Mapping[str, float]
    total: float

    @classmethod
    def of(cls, terms: Iterable[str], idf: Callable[[str], float]) -> QueryChars:
        weights = {t: idf(t) for t in terms if t.startswith("c:")}
        return cls(weights, sum(weights.values()))


def char_features(
    query: QueryChars,
    question_chars: AbstractSet[str],
    idf: Callable[[str], float],
    *,
    candidate_coverage: bool = True,
) -> tuple[float, float, float]:
    """(Jaccard, query coverage, candidate coverage) of a question's ``c:`` terms against the query's.
    ``candidate_coverage=False`` skips the last (0.0), which needs the IDF of the question's own terms."""
    if not query.idf or not question_chars:
        return 0.0, 0.0, 0.0
    shared = question_chars & query.idf.keys()
    shared_weight = sum(query.idf[t] for t in shared)
    jaccard = len(shared) / (len(query.idf) + len(question_chars) - len(shared))
    query_coverage = shared_weight / query.total if query.total > 0 else 0.0
    if not candidate_coverage:
        return jaccard, query_coverage, 0.0
    question_weight = shared_weight + sum(idf(t) for t in question_chars if t not in query.idf)
    return jaccard, query_coverage, shared_weight / question_weight if question_weight > 0 else 0.0


def combine(features: Sequence[float], weights: Sequence[float]) -> float:
    """The re-ranked score: the weighted mean of the features."""
    total = sum(weights)
    if total <= 0.0:
        return float(features[0])
    return sum(f * w for f, w in zip(features, weights, strict=True)) / total


def fit_weights(
    lists: Sequence[tuple[FloatArray, int]],
    prior: Sequence[float] = DEFAULT_WEIGHTS,
    *,
    strength: float = 1.0,
    epochs: int = 200,
    rate: float = 0.5,
) -> tuple[float, ...]:
    """Weights that rank the right candidate first, from held-out questions whose right entry was among
    the candidates: each list is (features of every candidate, one row per candidate; index of the right
    one). Listwise softmax loss with an L2 pull of strength ``strength`` towards ``prior``, weights kept
    non-negative; the result is scaled so that its sum equals the prior's (the score's scale stays put).
    Few lists give about the prior back."""
    if not lists:
        return tuple(prior)
    width = len(prior)
    depth = max(len(features) for features, _ in lists)
    x = np.zeros((len(lists), depth, width))
    mask = np.full((len(lists), depth), -np.inf)
    right = np.zeros(len(lists), dtype=np.int64)
    for i, (features, index) in enumerate(lists):
        x[i, : len(features)] = features
        mask[i, : len(features)] = 0.0
        right[i] = index
    w0 = np.asarray(prior, dtype=np.float64)
    scale = float(w0.sum()) or 1.0
    temperature = 20.0  # scores are about 0..1: sharpen them so the softmax can tell candidates apart
    w = w0 / scale
    target = w.copy()
    rows = np.arange(len(lists))
    for _ in range(epochs):
        logits = temperature * np.einsum("ldf,f->ld", x, w) + mask
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        p[rows, right] -= 1.0
        gradient = temperature * np.einsum("ld,ldf->f", p, x) / len(lists) + strength * (w - target)
        w = np.maximum(w - rate * gradient, 0.0)
    total = float(w.sum())
    if total <= 0.0:
        return tuple(prior)
    return tuple(float(v) for v in w / total * scale)
