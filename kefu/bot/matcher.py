"""The matcher: which knowledge-base entries a visitor's question is about, and how sure we are.

Scoring, per entry, from two BM25 indexes over the same terms (see ``analyze``):

- question level: every standard and similar question is a document; an entry scores its best question;
- entry level: all of an entry's questions together are one document, term counts damped (1 + ln n),
  so a term that recurs across an entry's paraphrases — the part they agree on — weighs more than a
  word one paraphrase happens to use. This is how the similar questions teach the matcher.

Both scores are divided by what the query would score against itself, so they are comparable between
queries (about 0..1), which is what lets the answer/suggest/unknown thresholds be calibrated once per
knowledge base (``calibrate``) and then applied to any query. The best few entries are then re-scored
with character-level features (``rerank``), less a penalty for hubness: how close the entry is to its
nearest other entries, computed after a bulk load, for an edited entry when it is edited (its
neighbours' values wait for ``recalibrate``), and again at ``recalibrate``. That costs one question-level
search per entry at build time (under 1 ms each on a 10,000-entry knowledge base).

Last, product agreement: the tenant's dictionary words are its product names, and an entry that names
some of them but none of those the query names loses ``MatchParams.product_penalty`` (docs/kb.md,
"Dictionary words are products"). A product name most questions mention has next to no BM25 weight, so
without this a 借呗 question whose other words match a 花呗 entry gets the 花呗 answer.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace

import numpy as np

from kefu.bot.analyze import Analysis, Analyzer
from kefu.bot.bm25 import Bm25Index
from kefu.bot.decision import Decision, Hit, Outcome, Thresholds, decide
from kefu.bot.rerank import DEFAULT_WEIGHTS, QueryChars, char_features, combine
from kefu.bot.synonyms import SynonymMap

__all__ = [
    "DUPLICATE_FLOOR",
    "Decision",
    "DuplicatePair",
    "Hit",
    "KbDoc",
    "MatchParams",
    "Matcher",
    "Outcome",
    "Thresholds",
]


@dataclass(frozen=True)
class KbDoc:
    """One knowledge-base entry as the matcher sees it."""

    entry_id: str
    standard: str
    similar: tuple[str, ...] = ()

    @property
    def questions(self) -> tuple[str, ...]:
        return (self.standard, *self.similar)


@dataclass(frozen=True)
class MatchParams:
    """Weights of the term families in a query, and how question- and entry-level scores combine.

    The defaults were chosen on half of the paraphrase groups of one public bank-FAQ set and confirmed
    on the other half and on a second set; only ``entry_weight`` mattered beyond noise (any value from 2
    to 8 did about as well, 0 clearly worse). They are general settings, not fit to any one tenant.
    (Checked again, first stage alone: ``k1`` 0.6 or 2, ``b`` 0.3 to 0.9, ``entry_b`` 0.3, ``char`` 0 or
    0.6, ``word`` or ``bigram`` 0.5 all stayed within ±0.01 of these on both sets.)"""

    word: float = 1.0
    bigram: float = 1.0
    char: float = 0.3
    entry_weight: float = 4.0  # entry-level score's weight next to the best question's (weight 1)
    k1: float = 1.2
    b: float = 0.75
    entry_b: float = 0.75  # length normalisation of the entry-level index
    candidates: int = 30  # per index, before combining (at least 3 × k)
    # second stage (``rerank``): weights of (score, char Jaccard, char query coverage, char candidate
    # coverage) over the best ``rerank_depth`` entries; weights (1, 0, 0, 0) turn it off
    rerank_weights: tuple[float, ...] = DEFAULT_WEIGHTS
    rerank_depth: int = 10  # top-1 is the same for any k up to this
    learn_rerank: bool = False  # refit the weights from the knowledge base's held-out similar questions
    # hubness: an entry's score is lowered by hub_weight × the mean question-level score its first
    # question gets from its ``hub_neighbours`` nearest other entries (0 turns it off)
    hub_weight: float = 0.25
    hub_neighbours: int = 10
    # product agreement: an entry that names some of the tenant's dictionary words (product names), none
    # of them one the query names, while the query names one, loses this much (see ``Matcher``)
    product_penalty: float = 0.3


#: ``Matcher.near_duplicates`` scans down to this score once per edit and serves any higher threshold from
#: that scan (the API's lowest threshold).
DUPLICATE_FLOOR = 0.5


@dataclass(frozen=True)
class DuplicatePair:
    """Two entries that ask the same thing (``Matcher.near_duplicates``); ``first`` has the more questions."""

    first: str  # entry id
    second: str
    score: float  # 0..1: the lower of the two directions' best question-to-question score
    first_question: str  # the questions that matched
    second_question: str


@dataclass
class _Entry:
    key: int
    doc: KbDoc
    question_keys: tuple[int, ...]
    products: frozenset[str] = frozenset()  # the dictionary words its questions name (``Analysis.products``)


class Matcher:
    """Thread-safe: the indexes are read and written only under the matcher's lock, so readers on several
    threads and a writer (``upsert``/``remove``) never see a half-applied edit; analysing a question
    (normalise, segment) needs no lock and happens outside it. Edits touch only the edited entry's
    postings; nothing is rebuilt. The duplicate scan has a lock of its own (``near_duplicates``), always
    taken before the matcher's lock and never while holding it.

    Without ``thresholds`` the constructor calibrates them from ``docs`` (see ``calibrate``), which costs
    about one more build; pass thresholds to skip that, and call ``recalibrate`` after many edits."""

    def __init__(
        self,
        docs: Iterable[KbDoc] = (),
        *,
        user_words: Iterable[str] = (),
        synonyms: Iterable[Iterable[str]] = (),
        thresholds: Thresholds | None = None,
        params: MatchParams | None = None,
    ) -> None:
        self.params = params or MatchParams()
        self.rerank_weights = self.params.rerank_weights
        self._hub: dict[str, float] = {}  # entry id → hubness (``_hub_locked``)
        self._hub_live = False  # while bulk-loading, hubness waits for the whole index
        self._analyzer = Analyzer(tuple(user_words), SynonymMap(synonyms))
        self._lock = threading.RLock()
        self._questions = Bm25Index(self.params.k1, self.params.b)
        self._entries_index = Bm25Index(self.params.k1, self.params.entry_b)
        self._entries: dict[str, _Entry] = {}
        self._entry_ids: dict[int, str] = {}  # entry key → entry id
        self._question_of: dict[int, tuple[int, str]] = {}  # question key → (entry key, question text)
        self._chars: dict[int, frozenset[str]] = {}  # question key → its ``c:`` terms (for ``rerank``)
        # analysed questions, kept only while building (a calibration build re-uses them), then dropped
        self._analysis_cache: dict[str, Analysis] | None = {}
        self._next_key = 0
        self._generation = 0  # counts edits: a duplicate scan is valid for one generation
        self._scan_lock = threading.Lock()  # one duplicate scan at a time; callers meanwhile wait and share it
        self._duplicates: tuple[int, list[DuplicatePair]] | None = None  # (generation, pairs down to the floor)
        docs = list(docs)
        for doc in docs:
            self.upsert(doc)
        self._questions.freeze()
        self._entries_index.freeze()
        with self._lock:
            self._refresh_hubs_locked()
        if self.params.learn_rerank:
            self.rerank_weights = self._learned_weights(docs, self._analysis_cache)
        self.thresholds = thresholds or self._calibrated(docs, self._analysis_cache)
        self._analysis_cache = None

    def recalibrate(self, **targets: float) -> Thresholds:
        """Calibrate the thresholds again from the entries as they are now (after many edits), use and
        return them. Costs about one more build; searches go on meanwhile with the old thresholds."""
        with self._lock:
            self._refresh_hubs_locked()
            docs = [entry.doc for entry in self._entries.values()]
        cache: dict[str, Analysis] = {}
        if self.params.learn_rerank:
            weights = self._learned_weights(docs, cache)
            with self._lock:
                self.rerank_weights = weights
        thresholds = self._calibrated(docs, cache, **targets)
        with self._lock:
            self.thresholds = thresholds
        return thresholds

    def _learned_weights(self, docs: list[KbDoc], cache: dict[str, Analysis] | None) -> tuple[float, ...]:
        """The re-ranker's weights refit from held-out similar questions (``rerank.fit_weights``): one
        question of each entry that has two or more is held out, a sibling matcher is built over the rest,
        and each held-out question's candidates (features, and which one is right) are one training list."""
        from kefu.bot.calibrate import MAX_PROBES, MIN_PROBES, hash_text
        from kefu.bot.rerank import fit_weights

        prior = self.params.rerank_weights
        kept: list[KbDoc] = []
        held: list[tuple[str, str]] = []
        for doc in docs:
            questions = list(dict.fromkeys(q for q in doc.questions if q.strip()))
            if len(questions) < 2:
                kept.append(doc)
                continue
            h = hash_text(doc.entry_id)
            i = (h >> 8) % len(questions)
            held.append((questions[i], doc.entry_id))
            rest = questions[:i] + questions[i + 1 :]
            kept.append(KbDoc(doc.entry_id, rest[0], tuple(rest[1:])))
        if len(held) < MIN_PROBES:
            return prior
        sibling = self._sibling(kept, cache)
        lists = []
        for question, entry_id in sorted(held, key=lambda p: hash_text(p[0] + p[1]))[:MAX_PROBES]:
            terms = sibling._analysis(question).terms
            with sibling._lock:
                candidates = sibling._candidates(terms, self.params.rerank_depth)[: self.params.rerank_depth]
                if not candidates:
                    continue
                query_chars = sibling._query_chars(terms)
                rows = [sibling._features(query_chars, score, key) for score, key, _ in candidates]
                ids = [sibling._entry_ids[key] for _, key, _ in candidates]
            if entry_id in ids:
                lists.append((np.asarray(rows, dtype=np.float64), ids.index(entry_id)))
        if len(lists) < MIN_PROBES:
            return prior
        return fit_weights(lists, prior)

    def _calibrated(self, docs: list[KbDoc], cache: dict[str, Analysis] | None, **targets: float) -> Thresholds:
        from kefu.bot.calibrate import calibrate

        return calibrate(docs, lambda kept: self._sibling(kept, cache), **targets)

    def _sibling(self, docs: Iterable[KbDoc], cache: dict[str, Analysis] | None = None) -> Matcher:
        """A matcher with the same analyzer and parameters over other docs (reusing analysed questions)."""
        other = Matcher.__new__(Matcher)
        other.params = self.params
        other.rerank_weights = self.rerank_weights
        other._hub, other._hub_live = dict(self._hub), False  # the parent's: close enough, and free
        other._analyzer = self._analyzer
        other._lock = threading.RLock()
        other._questions = Bm25Index(self.params.k1, self.params.b)
        other._entries_index = Bm25Index(self.params.k1, self.params.entry_b)
        other._entries, other._entry_ids, other._question_of, other._chars = {}, {}, {}, {}
        other._analysis_cache = cache
        other._next_key = 0
        other._generation, other._scan_lock, other._duplicates = 0, threading.Lock(), None
        for doc in docs:
            other.upsert(doc)
        other._questions.freeze()
        other._entries_index.freeze()
        other.thresholds = Thresholds(answer=math.inf, margin=0.0, suggest=0.0, source="sibling")
        return other

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._entries

    def _analysis(self, question: str) -> Analysis:
        cache = self._analysis_cache
        cached = cache.get(question) if cache is not None else None
        if cached is None:
            cached = self._analyzer.analyze(question)
            if cache is not None:
                cache[question] = cached
        return cached

    def upsert(self, doc: KbDoc) -> None:
        """Add or replace an entry; searches see it as soon as this returns."""
        questions = list(dict.fromkeys(q for q in doc.questions if q and q.strip()))
        analyses = [(q, self._analysis(q)) for q in questions]
        analysed = [(q, a.terms) for q, a in analyses]
        products = frozenset().union(*(a.products for _, a in analyses))
        entry_terms: dict[str, float] = {}
        for _, terms in analysed:
            for term in terms:
                entry_terms[term] = entry_terms.get(term, 0.0) + 1.0
        entry_terms = {t: 1.0 + math.log(n) for t, n in entry_terms.items()}
        with self._lock:
            self._generation += 1
            self._remove_locked(doc.entry_id)
            entry_key = self._new_key()
            question_keys = []
            for question, terms in analysed:
                if not terms:
                    continue
                key = self._new_key()
                self._questions.add(key, terms)
                self._question_of[key] = (entry_key, question)
                self._chars[key] = frozenset(t for t in terms if t.startswith("c:"))
                question_keys.append(key)
            if entry_terms:
                self._entries_index.add(entry_key, entry_terms)
            entry = self._entries[doc.entry_id] = _Entry(entry_key, doc, tuple(question_keys), products)
            self._entry_ids[entry_key] = doc.entry_id
            if self._hub_live:
                self._hub[doc.entry_id] = self._hub_locked(entry)

    def remove(self, entry_id: str) -> None:
        """Forget an entry (no-op if unknown); searches stop returning it as soon as this returns."""
        with self._lock:
            self._generation += 1
            self._remove_locked(entry_id)

    def _remove_locked(self, entry_id: str) -> None:
        entry = self._entries.pop(entry_id, None)
        if entry is None:
            return
        if self._hub_live:
            self._hub.pop(entry_id, None)
        for key in entry.question_keys:
            self._questions.remove(key)
            del self._question_of[key]
            del self._chars[key]
        self._entries_index.remove(entry.key)
        del self._entry_ids[entry.key]

    def _new_key(self) -> int:
        self._next_key += 1
        return self._next_key

    def get(self, entry_id: str) -> KbDoc | None:
        with self._lock:
            entry = self._entries.get(entry_id)
            return entry.doc if entry else None

    def _query_weights(self, terms: Mapping[str, float]) -> dict[str, float]:
        p = self.params
        family = {"w": p.word, "b": p.bigram, "c": p.char}
        return {t: family[t[0]] * n for t, n in terms.items() if family[t[0]] > 0}

    def search(self, query: str, k: int = 3) -> list[Hit]:
        """The ``k`` best entries for ``query``, best first, one hit per entry."""
        analysis = self._analyzer.analyze(query)
        with self._lock:
            return self._search_locked(analysis.terms, k, analysis.products)

    def _search_locked(self, terms: Mapping[str, float], k: int, products: frozenset[str] = frozenset()) -> list[Hit]:
        scored = self._candidates(terms, k)
        weights = self.rerank_weights
        hub_weight = self.params.hub_weight if self._hub else 0.0
        penalty = self.params.product_penalty if products else 0.0
        if any(weights[1:]) or hub_weight or penalty:
            scored = scored[: max(self.params.rerank_depth, k)]
            query_chars = self._query_chars(terms)
            hub = self._hub
            scored = [
                (
                    combine(self._features(query_chars, score, entry_key), weights)
                    - hub_weight * hub.get(self._entry_ids[entry_key], 0.0)
                    - penalty * self._names_other_product(entry_key, products),
                    entry_key,
                    question_key,
                )
                for score, entry_key, question_key in scored
            ]
            scored.sort(key=lambda s: (-s[0], s[1]))
        return [
            Hit(self._entry_ids[entry_key], round(score, 6), self._question_of[question_key][1])
            for score, entry_key, question_key in scored[:k]
        ]

    def _names_other_product(self, entry_key: int, products: frozenset[str]) -> bool:
        """Product agreement: the entry names dictionary words and none of the query's (``products``).
        An entry that names no product answers for every product, so it is never penalised."""
        named = self._entries[self._entry_ids[entry_key]].products
        return bool(named) and named.isdisjoint(products)

    def near_duplicates(
        self, min_score: float = 0.8, limit: int = 200, exclude: AbstractSet[frozenset[str]] = frozenset()
    ) -> list[DuplicatePair]:
        """Pairs of entries whose questions say the same thing, most alike first: for every question, its
        question-level score (divided by the self score, as in ``_candidates``) against each other entry's
        questions; a pair's score is the lower of its two directions' best, so that a short question
        inside a longer, more specific one (退款 / 退款多久到账) is not taken for a duplicate. Two entries
        about different products (dictionary words, as in ``_names_other_product``) are not duplicates.

        At 0.8, on public bank and payment FAQ sets whose paraphrase groups overlap, nearly every pair
        found was the same question in other words (怎样申请花呗收款码 / 花呗收款码怎样申请); on the demo
        shop's hand-written FAQ it finds none (its closest pair, 要开发票怎么弄 / 补开发票怎么弄, scores 0.74).

        Visitors' questions that such a pair shares split between the two entries, and the margin rule
        then keeps the bot from answering either: merging them (``do_merge_entries``) fixes both. One
        question-level search per question (about half a millisecond each at 10,000 entries), under the lock
        one question at a time, so searches go on meanwhile. Pairs in ``exclude`` (two entry ids each) are
        left out before ``limit`` applies: an administrator said they are not duplicates.

        The scan goes down to ``DUPLICATE_FLOOR`` whatever ``min_score`` is asked (it costs the same: the
        searches are what cost) and is kept until the next edit, so another threshold, another page view or
        a second administrator is served from it at once; callers during a scan wait for it and share it (a
        scan serves everyone who arrived before it started, even if an edit came in meanwhile, as a scan of
        their own would have)."""
        if min_score < DUPLICATE_FLOOR:
            pairs = self._scan_duplicates(min_score)
        else:
            with self._lock:
                arrived = self._generation
            with self._scan_lock:
                kept = self._duplicates
                if kept is not None and kept[0] >= arrived:  # scanned since this caller arrived: as fresh
                    pairs = kept[1]
                else:
                    with self._lock:
                        started = self._generation
                    pairs = self._scan_duplicates(DUPLICATE_FLOOR)
                    self._duplicates = (started, pairs)  # serves whoever arrived before the scan started
        listed = (p for p in pairs if p.score >= min_score and frozenset((p.first, p.second)) not in exclude)
        return [replace(p, score=round(p.score, 4)) for p in itertools.islice(listed, limit)]

    def _scan_duplicates(self, min_score: float) -> list[DuplicatePair]:
        """Every pair at or above ``min_score``, most alike first, scores unrounded (``near_duplicates``)."""
        with self._lock:
            entries = list(self._entries.values())
        best: dict[tuple[int, int], tuple[float, str, str]] = {}  # (from, to) entry key → (score, q_from, q_to)
        for entry in entries:
            for key in entry.question_keys:
                with self._lock:
                    if self._entries.get(entry.doc.entry_id) is not entry:
                        break  # edited or removed meanwhile
                    found = self._neighbours_locked(entry.key, key, self.params.candidates)
                    question = self._question_of[key][1]
                for other, (score, other_question) in found.items():
                    score = min(score, 1.0)
                    if score >= min_score and score > best.get((entry.key, other), (0.0, "", ""))[0]:
                        best[(entry.key, other)] = (score, question, other_question)
        pairs: list[DuplicatePair] = []
        with self._lock:
            for (a, b), (score_ab, question_a, question_b) in best.items():
                if a > b or (b, a) not in best:
                    continue
                score = min(score_ab, best[(b, a)][0])
                id_a, id_b = self._entry_ids.get(a), self._entry_ids.get(b)
                if score < min_score or id_a is None or id_b is None:
                    continue
                named_a, named_b = self._entries[id_a].products, self._entries[id_b].products
                if named_a and named_b and named_a.isdisjoint(named_b):
                    continue  # the same question about two different products (dictionary words)
                if len(self._entries[id_b].question_keys) > len(self._entries[id_a].question_keys):
                    id_a, id_b, question_a, question_b = id_b, id_a, question_b, question_a
                pairs.append(DuplicatePair(id_a, id_b, score, question_a, question_b))
        pairs.sort(key=lambda p: (-p.score, p.first, p.second))
        return pairs

    def _refresh_hubs_locked(self) -> None:
        """Every entry's hubness from the index as it is now (after a bulk load; at recalibration)."""
        self._hub_live = self.params.hub_weight > 0.0
        self._hub = (
            {entry_id: self._hub_locked(entry) for entry_id, entry in self._entries.items()} if self._hub_live else {}
        )

    def _hub_locked(self, entry: _Entry) -> float:
        """How close an entry is to its nearest others: the question-level score (divided by the self
        score, as in ``_candidates``) of its first question against the best question of each of its
        ``hub_neighbours`` nearest other entries, averaged (missing neighbours count 0). An entry close to
        many others — a short, generic question — would otherwise win many queries meant for its
        neighbours (hubness; the same correction as CSLS in cross-lingual word retrieval). Question level
        only: half the cost of a full search, and it did as well as the combined score."""
        n = self.params.hub_neighbours
        if not entry.question_keys or n <= 0:
            return 0.0
        found = self._neighbours_locked(entry.key, entry.question_keys[0], max(self.params.candidates, 4 * n))
        return sum(score for score, _ in list(found.values())[:n]) / n

    def _neighbours_locked(self, entry_key: int, question_key: int, depth: int) -> dict[int, tuple[float, str]]:
        """Other entries near one of an entry's questions, nearest first: entry key → (question-level score
        divided by the question's self score, the other entry's best question), over the ``depth`` best
        questions of the index. What hubness and ``near_duplicates`` are made of."""
        terms = self._questions.terms_of(question_key)
        if not terms:
            return {}
        weights = self._query_weights(terms)
        q_self = self._questions.self_score(weights, terms, float(sum(terms.values())))
        if q_self <= 0.0:
            return {}
        q_scores = self._questions.scores(weights)
        q_keys = self._questions.keys()
        found: dict[int, tuple[float, str]] = {}
        for slot in _top(q_scores, depth):
            owner, text = self._question_of[int(q_keys[slot])]
            if owner != entry_key and owner not in found:
                found[owner] = (float(q_scores[slot]) / q_self, text)
        return found

    def _candidates(self, terms: Mapping[str, float], k: int) -> list[tuple[float, int, int]]:
        """First stage: (BM25 score, entry key, best question key) of the candidate entries, best first."""
        weights = self._query_weights(terms)
        if not weights or not self._entries:
            return []
        length = float(sum(terms.values()))
        q_self = self._questions.self_score(weights, terms, length)
        e_self = self._entries_index.self_score(weights, terms, length)
        if q_self <= 0.0:
            return []
        # raw BM25 here; divided by the self scores only for the few candidates below
        q_scores = self._questions.scores(weights)
        e_scores = self._entries_index.scores(weights)
        e_self = max(e_self, 1e-9)
        q_keys = self._questions.keys()
        e_keys = self._entries_index.keys()
        m = max(self.params.candidates, 3 * k)

        best_question: dict[int, tuple[float, int]] = {}  # entry key → (score, question key)
        for slot in _top(q_scores, m):
            question_key = int(q_keys[slot])
            entry_key = self._question_of[question_key][0]
            if entry_key not in best_question:
                best_question[entry_key] = (float(q_scores[slot]) / q_self, question_key)
        for slot in _top(e_scores, m):
            entry_key = int(e_keys[slot])
            if entry_key not in best_question:
                score, question_key = self._best_question_of(entry_key, q_scores)
                best_question[entry_key] = (score / q_self, question_key)
        w = self.params.entry_weight
        scored: list[tuple[float, int, int]] = []
        for entry_key, (q_score, question_key) in best_question.items():
            e_slot = self._entries_index.slot_of(entry_key)
            e_score = float(e_scores[e_slot]) / e_self if e_slot is not None else 0.0
            scored.append(((q_score + w * e_score) / (1.0 + w), entry_key, question_key))
        scored.sort(key=lambda s: (-s[0], s[1]))
        return [s for s in scored if s[0] > 0.0]

    def _query_chars(self, terms: Mapping[str, float]) -> QueryChars:
        return QueryChars.of(terms, self._questions.idf)

    def _features(self, query: QueryChars, score: float, entry_key: int) -> tuple[float, ...]:
        """The re-ranker's features of one entry (``rerank.FEATURES``): each the best over its questions."""
        jaccard = query_coverage = candidate_coverage = 0.0
        with_candidate = self.params.learn_rerank or self.rerank_weights[3] > 0.0
        for key in self._entries[self._entry_ids[entry_key]].question_keys:
            j, q, c = char_features(query, self._chars[key], self._questions.idf, candidate_coverage=with_candidate)
            jaccard, query_coverage, candidate_coverage = (
                max(jaccard, j),
                max(query_coverage, q),
                max(candidate_coverage, c),
            )
        return (score, jaccard, query_coverage, candidate_coverage)

    def _best_question_of(self, entry_key: int, q_scores: np.ndarray) -> tuple[float, int]:
        # an entry in the entry index has at least one analysable question, so question_keys is not empty
        entry = self._entries[self._entry_ids[entry_key]]
        best = (0.0, entry.question_keys[0])
        for key in entry.question_keys:
            slot = self._questions.slot_of(key)
            if slot is not None and q_scores[slot] > best[0]:
                best = (float(q_scores[slot]), key)
        return best

    def decide(self, query: str) -> Decision:
        """Answer, suggest up to three questions, or admit not knowing — by the calibrated thresholds."""
        hits = self.search(query, k=3)
        return decide(hits, self.thresholds)


def _top(scores: np.ndarray, m: int) -> list[int]:
    """Indexes of the ``m`` highest positive scores, best first."""
    positive = np.flatnonzero(scores > 0.0)
    if len(positive) > m:
        positive = positive[np.argpartition(-scores[positive], m - 1)[:m]]
    return [int(i) for i in positive[np.argsort(-scores[positive], kind="stable")]]
