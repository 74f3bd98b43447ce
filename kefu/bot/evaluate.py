"""How well a matcher answers a list of questions with known right answers — a product feature.

Each query is answered exactly as a visitor would be (``Matcher.search`` then ``decide`` with the
matcher's thresholds — what ``Matcher.decide`` does — asking for ten hits so MRR can see past the
third). Definitions (in-KB: the query has an expected entry; out-of-KB: it has none):

- ``n``: number of queries, in-KB and out-of-KB;
- ``top1``: share of in-KB queries whose best hit is the expected entry;
- ``top3``: share of in-KB queries with the expected entry among the first three hits;
- ``mrr``: mean over in-KB queries of 1 / rank of the expected entry among the first ten hits (0 if absent);
- ``answer_rate``: share of all queries that got a direct answer (outcome ``answer``);
- ``answered_precision``: of the in-KB queries that got a direct answer, the share answered with the
  expected entry (null when none was answered);
- ``false_answer_rate``: share of out-of-KB queries that got a direct answer (null when there are none);
- ``p50_ms``, ``p99_ms``: median and 99th percentile of the time to answer one query, in milliseconds
  (normalisation, segmentation, search and decision; nearest-rank percentiles).

``top1``, ``top3`` and ``mrr`` are null when there is no in-KB query.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from kefu.bot.decision import Decision, Hit, Outcome, Thresholds, decide
from kefu.bot.kb_file import EvalQuery

__all__ = ["MRR_DEPTH", "EvalReport", "Searcher", "evaluate", "percentile"]


class Searcher(Protocol):
    """What is evaluated: a ``Matcher``, or a tenant's live bot seen at one moment (``kefu.bot.trial``)."""

    @property
    def thresholds(self) -> Thresholds: ...

    def search(self, query: str, k: int = 3) -> list[Hit]: ...


MRR_DEPTH = 10


class EvalReport(BaseModel):
    """The figures (also the first fields of the admin console's bot test, ``kefu.schemas.bot``)."""

    model_config = ConfigDict(frozen=True)

    n: int
    top1: float | None
    top3: float | None
    mrr: float | None
    answer_rate: float | None
    answered_precision: float | None
    false_answer_rate: float | None
    p50_ms: float | None
    p99_ms: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return self.model_dump()


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def _share(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def evaluate(
    matcher: Searcher,
    queries: Sequence[EvalQuery],
    *,
    clock: Callable[[], float] = time.perf_counter,
    progress: Callable[[int, int], None] | None = None,
    on_result: Callable[[int, list[Hit], Decision], None] | None = None,
) -> EvalReport:
    """Answer every query with ``matcher`` and measure (see the module docstring for the definitions).
    ``on_result`` is told each query's hits (up to ``MRR_DEPTH``) and decision, by its index."""
    in_kb = top1 = top3 = answered = answered_in = answered_right = out_kb = answered_out = 0
    reciprocal = 0.0
    latencies: list[float] = []
    for done, item in enumerate(queries, start=1):
        started = clock()
        hits = matcher.search(item.query, k=MRR_DEPTH)
        decision = decide(hits, matcher.thresholds)
        latencies.append((clock() - started) * 1000.0)
        if on_result is not None:
            on_result(done - 1, hits, decision)
        is_answer = decision.outcome is Outcome.answer
        answered += is_answer
        if item.expected_id is None:
            out_kb += 1
            answered_out += is_answer
        else:
            in_kb += 1
            ranked = [h.entry_id for h in hits]
            if item.expected_id in ranked:
                rank = ranked.index(item.expected_id) + 1
                reciprocal += 1.0 / rank
                top1 += rank == 1
                top3 += rank <= 3
            if is_answer:
                answered_in += 1
                answered_right += decision.hits[0].entry_id == item.expected_id
        if progress is not None:
            progress(done, len(queries))
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    return EvalReport(
        n=len(queries),
        top1=_share(top1, in_kb),
        top3=_share(top3, in_kb),
        mrr=round(reciprocal / in_kb, 4) if in_kb else None,
        answer_rate=_share(answered, len(queries)),
        answered_precision=_share(answered_right, answered_in),
        false_answer_rate=_share(answered_out, out_kb),
        p50_ms=round(p50, 3) if p50 is not None else None,
        p99_ms=round(p99, 3) if p99 is not None else None,
    )
