"""A tenant's synonym sets: every member is rewritten to the set's first member before segmentation.

Rewriting the text (not the tokens) lets words and character bigrams agree: ``花呗`` and ``蚂蚁花呗`` in one
set produce the same words and the same bigrams. Members are matched longest first, left to right.
"""

from __future__ import annotations

from collections.abc import Iterable

from kefu.bot.normalize import normalize

__all__ = ["SynonymMap"]


class SynonymMap:
    """Immutable after construction (safe to share between threads)."""

    def __init__(self, sets: Iterable[Iterable[str]] = ()) -> None:
        canonical_of: dict[str, str] = {}
        for members in sets:
            normalised = [m for m in (normalize(x) for x in members) if m]
            if len(normalised) < 2:
                continue
            head = normalised[0]
            for member in normalised[1:]:
                if member != head:
                    canonical_of.setdefault(member, head)
        by_first: dict[str, list[str]] = {}
        for member in canonical_of:
            by_first.setdefault(member[0], []).append(member)
        self._canonical_of = canonical_of
        self._by_first = {c: sorted(ms, key=len, reverse=True) for c, ms in by_first.items()}
        self.canonical_words = frozenset(canonical_of.values())

    def __bool__(self) -> bool:
        return bool(self._canonical_of)

    def rewrite(self, text: str) -> str:
        """``text`` (normalised) with each synonym replaced by its set's canonical member."""
        if not self._canonical_of:
            return text
        out: list[str] = []
        i = 0
        while i < len(text):
            candidates = self._by_first.get(text[i])
            match = next((m for m in candidates if text.startswith(m, i)), None) if candidates else None
            if match is None:
                out.append(text[i])
                i += 1
            else:
                out.append(self._canonical_of[match])
                i += len(match)
        return "".join(out)
