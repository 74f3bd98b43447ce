"""An incremental BM25 inverted index (numpy scoring).

Why not bm25s: its index is a static sparse matrix built in one pass over the corpus; adding or
removing one document means rebuilding it, and the knowledge base is edited one entry at a time (the
learning queue attaches a question and the bot must use it at once). Here a document is added or removed
in time proportional to its own number of terms: postings grow by appending, removal zeroes the slot's
term counts (it stops scoring at once) and the statistics (document frequencies, average length) are kept exact.
Dead slots are compacted away when they outnumber the live ones, which amortises to O(1) per edit.

Not thread-safe by itself: the matcher serialises access.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

__all__ = ["Bm25Index"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# A cached BM25 term-frequency part is recomputed once the average document length has moved this much
# since: edits move it a little each time, and recomputing every posting list after each edit would cost
# what an index rebuild costs. Scores differ from exact BM25 by less than this share of the length norm.
AVERAGE_LENGTH_DRIFT = 0.01


class _Postings:
    """One term's postings: slots and term counts, appended to in Python lists and turned into arrays
    at the next query; the BM25 term-frequency part of each posting is cached for that query and the
    next ones while the average document length stays within ``AVERAGE_LENGTH_DRIFT`` of the cached one."""

    __slots__ = ("parts", "parts_average", "pending_slots", "pending_tfs", "slots", "tfs")

    def __init__(self) -> None:
        self.slots: IntArray = np.empty(0, dtype=np.int64)
        self.tfs: FloatArray = np.empty(0, dtype=np.float64)
        self.pending_slots: list[int] = []
        self.pending_tfs: list[float] = []
        self.parts: FloatArray | None = None
        self.parts_average = 0.0

    def arrays(self) -> tuple[IntArray, FloatArray]:
        if self.pending_slots:
            self.slots = np.concatenate([self.slots, np.asarray(self.pending_slots, dtype=np.int64)])
            self.tfs = np.concatenate([self.tfs, np.asarray(self.pending_tfs, dtype=np.float64)])
            self.pending_slots.clear()
            self.pending_tfs.clear()
            self.parts = None
        return self.slots, self.tfs

    def silence(self, slot: int) -> None:
        """Make ``slot`` score nothing for this term from now on (its document was removed)."""
        if self.pending_slots and self.pending_slots[0] <= slot:
            i = bisect.bisect_left(self.pending_slots, slot)
            if i < len(self.pending_slots) and self.pending_slots[i] == slot:
                self.pending_tfs[i] = 0.0
                return
        i = int(np.searchsorted(self.slots, slot))  # slots only ever grow: the array is sorted
        if i < len(self.slots) and self.slots[i] == slot:
            self.tfs[i] = 0.0
            if self.parts is not None:
                self.parts[i] = 0.0

    def tf_parts(self, lengths: FloatArray, average: float, k1: float, b: float) -> tuple[IntArray, FloatArray]:
        slots, tfs = self.arrays()
        if self.parts is None or abs(average - self.parts_average) > AVERAGE_LENGTH_DRIFT * self.parts_average:
            self.parts = tfs * (k1 + 1.0) / (tfs + k1 * (1.0 - b + b * lengths[slots] / average))
            self.parts_average = average
        return slots, self.parts


class Bm25Index:
    """Documents are term → weight mappings identified by an integer key chosen by the caller."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._reset()

    def _reset(self) -> None:
        self._postings: dict[str, _Postings] = {}
        self._df: dict[str, int] = {}
        self._docs: list[Mapping[str, float] | None] = []  # per slot; None once removed
        self._keys: list[int] = []
        self._slot_of: dict[int, int] = {}
        self._lengths: FloatArray = np.zeros(64)
        self._keys_array: IntArray | None = None
        self._total_length = 0.0
        self._dead = 0

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, key: int) -> bool:
        return key in self._slot_of

    def df(self, term: str) -> int:
        return self._df.get(term, 0)

    def idf(self, term: str) -> float:
        n = len(self._slot_of)
        df = self._df.get(term, 0)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    @property
    def average_length(self) -> float:
        return self._total_length / len(self._slot_of) if self._slot_of else 1.0

    def add(self, key: int, terms: Mapping[str, float]) -> None:
        """Index ``terms`` under ``key`` (replacing what ``key`` had)."""
        if key in self._slot_of:
            self.remove(key)
        slot = len(self._docs)
        if slot >= len(self._lengths):
            grow = max(64, len(self._lengths))
            self._lengths = np.concatenate([self._lengths, np.zeros(grow)])
        terms = dict(terms)
        length = float(sum(terms.values()))
        self._docs.append(terms)
        self._keys.append(key)
        self._keys_array = None
        self._slot_of[key] = slot
        self._lengths[slot] = length
        self._total_length += length
        for term, tf in terms.items():
            postings = self._postings.get(term)
            if postings is None:
                postings = self._postings[term] = _Postings()
            postings.pending_slots.append(slot)
            postings.pending_tfs.append(tf)
            self._df[term] = self._df.get(term, 0) + 1

    def remove(self, key: int) -> None:
        slot = self._slot_of.pop(key, None)
        if slot is None:
            return
        terms = self._docs[slot]
        assert terms is not None
        self._docs[slot] = None
        self._total_length -= self._lengths[slot]
        self._dead += 1
        for term in terms:
            self._postings[term].silence(slot)
            left = self._df[term] - 1
            if left:
                self._df[term] = left
            else:
                del self._df[term]
        if self._dead > max(1024, len(self._slot_of)):
            self._compact()

    def _compact(self) -> None:
        live = [(key, terms) for key, terms in zip(self._keys, self._docs, strict=True) if terms is not None]
        self._reset()
        for key, terms in live:
            self.add(key, terms)
        self.freeze()

    def freeze(self) -> None:
        """Turn every pending posting into arrays now (after a bulk load), not in the next queries."""
        average = self.average_length
        for postings in self._postings.values():
            postings.tf_parts(self._lengths, average, self.k1, self.b)

    def scores(self, query: Mapping[str, float]) -> FloatArray:
        """BM25 score of every slot for ``query`` (term → query weight); removed documents' slots score 0."""
        n_slots = len(self._docs)
        if not self._slot_of or not query:
            return np.zeros(n_slots)
        average = self.average_length
        all_slots: list[IntArray] = []
        all_weights: list[FloatArray] = []
        for term, weight in query.items():
            postings = self._postings.get(term)
            if postings is None or term not in self._df:
                continue
            slots, parts = postings.tf_parts(self._lengths, average, self.k1, self.b)
            all_slots.append(slots)
            all_weights.append(parts * (weight * self.idf(term)))
        if not all_slots:
            return np.zeros(n_slots)
        scores: FloatArray = np.bincount(
            np.concatenate(all_slots), weights=np.concatenate(all_weights), minlength=n_slots
        ).astype(np.float64, copy=False)
        return scores

    def self_score(self, weights: Mapping[str, float], tfs: Mapping[str, float], length: float) -> float:
        """What a query (term → weight) would score against a document with these term counts and length."""
        k1, b = self.k1, self.b
        norm = k1 * (1.0 - b + b * length / self.average_length)
        return sum(w * self.idf(t) * (k1 + 1.0) * tfs[t] / (tfs[t] + norm) for t, w in weights.items() if t in tfs)

    def terms_of(self, key: int) -> Mapping[str, float] | None:
        """The terms ``key`` was indexed with (None if unknown)."""
        slot = self._slot_of.get(key)
        return self._docs[slot] if slot is not None else None

    def slot_of(self, key: int) -> int | None:
        return self._slot_of.get(key)

    def keys(self) -> IntArray:
        """The caller's key of every slot (dead slots included; their score is 0)."""
        if self._keys_array is None:
            self._keys_array = np.asarray(self._keys, dtype=np.int64)
        return self._keys_array
