"""Word segmentation: one shared jieba tokenizer for the process, tenant dictionary words handled by us.

A ``jieba.Tokenizer`` costs about 3 s and 60 MB to initialise (it loads the 350,000-word dictionary
bundled with the package), so one per tenant is out of the question, and ``jieba.add_word`` on a shared
tokenizer would leak one tenant's product names into every other tenant's segmentation. Instead each
``Segmenter`` keeps its tenant's words in a small trie of its own: the text is scanned for them (longest
match first), they become tokens unchanged, and only the gaps between them go to the shared tokenizer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

__all__ = ["Segmenter", "shared_tokenizer"]

_lock = threading.Lock()
_tokenizer: Any = None


def shared_tokenizer() -> Any:
    """The process-wide jieba tokenizer, initialised on first use (thread-safe; paid once)."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                import logging

                import jieba

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                _tokenizer = tokenizer
    return _tokenizer


class Segmenter:
    """Splits normalised text into words; ``user_words`` (normalised) are never split.

    Immutable after construction, so it is safe to share between threads.
    """

    def __init__(self, user_words: Iterable[str] = ()) -> None:
        by_first: dict[str, set[str]] = {}
        for word in user_words:
            if word and not word.isspace():
                by_first.setdefault(word[0], set()).add(word)
        # longest first, so that 微粒贷款 wins over 微粒贷
        self._by_first = {c: sorted(ws, key=len, reverse=True) for c, ws in by_first.items()}
        self.user_words = frozenset(w for ws in by_first.values() for w in ws)

    def cut(self, text: str) -> list[str]:
        """Words of ``text`` in order, without whitespace tokens."""
        words: list[str] = []
        gap_start = 0
        i = 0
        by_first = self._by_first
        while i < len(text):
            candidates = by_first.get(text[i])
            match = next((w for w in candidates if text.startswith(w, i)), None) if candidates else None
            if match is None:
                i += 1
                continue
            self._cut_gap(text[gap_start:i], words)
            words.append(match)
            i += len(match)
            gap_start = i
        self._cut_gap(text[gap_start:], words)
        return words

    @staticmethod
    def _cut_gap(gap: str, words: list[str]) -> None:
        if not gap or gap.isspace():
            return
        for word in shared_tokenizer().cut(gap, HMM=True):
            if not word.isspace():
                words.append(word)
