"""The incremental BM25 index agrees with the textbook formula, also after edits."""

from __future__ import annotations

import math

import pytest

from kefu.bot.bm25 import Bm25Index

DOCS = {1: {"a": 2.0, "b": 1.0}, 2: {"b": 1.0, "c": 1.0}, 3: {"a": 1.0, "c": 3.0, "d": 1.0}}


def textbook(
    docs: dict[int, dict[str, float]], query: dict[str, float], k1: float = 1.2, b: float = 0.75
) -> dict[int, float]:
    n = len(docs)
    average = sum(sum(d.values()) for d in docs.values()) / n
    scores = {}
    for key, doc in docs.items():
        length = sum(doc.values())
        total = 0.0
        for term, weight in query.items():
            df = sum(term in d for d in docs.values())
            if term not in doc:
                continue
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            tf = doc[term]
            total += weight * idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * length / average))
        scores[key] = total
    return scores


def scored(index: Bm25Index, query: dict[str, float]) -> dict[int, float]:
    raw = index.scores(query)
    return {int(key): float(raw[slot]) for slot, key in enumerate(index.keys()) if key in index}


def test_scores_match_the_formula() -> None:
    index = Bm25Index()
    for key, terms in DOCS.items():
        index.add(key, terms)
    query = {"a": 1.0, "c": 0.5}
    assert scored(index, query) == pytest.approx(textbook(DOCS, query))


def test_removal_and_replacement_match_a_fresh_index() -> None:
    index = Bm25Index()
    for key, terms in DOCS.items():
        index.add(key, terms)
    index.scores({"a": 1.0})  # turn postings into arrays before the edits
    index.remove(2)
    index.add(3, {"b": 2.0})  # replaces key 3
    index.add(4, {"a": 1.0, "b": 1.0})
    now = {1: DOCS[1], 3: {"b": 2.0}, 4: {"a": 1.0, "b": 1.0}}
    query = {"a": 1.0, "b": 1.0, "c": 1.0}
    assert len(index) == 3 and 2 not in index
    assert scored(index, query) == pytest.approx(textbook(now, query), rel=0.02)  # cached length norms may lag 1%
    assert index.df("c") == 0 and index.df("b") == 3
    assert index.scores(query)[index.slot_of(1) or 0] > 0.0


def test_compaction_keeps_the_live_documents() -> None:
    index = Bm25Index()
    index.add(1, {"keep": 1.0})
    for key in range(2, 3000):
        index.add(key, {"tmp": 1.0})
        index.remove(key)
    assert len(index) == 1 and len(index.keys()) < 1100  # dead slots were compacted away
    assert scored(index, {"keep": 1.0})[1] > 0.0 and index.df("tmp") == 0


def test_terms_of_gives_a_documents_terms_until_it_is_removed() -> None:
    index = Bm25Index()
    index.add(1, {"w:退货": 1.0, "c:退": 1.0})
    assert index.terms_of(1) == {"w:退货": 1.0, "c:退": 1.0}
    index.remove(1)
    assert index.terms_of(1) is None and index.terms_of(2) is None
