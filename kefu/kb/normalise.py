"""A simple normalisation of questions, for uniqueness and for grouping the learning queue.

Two texts that differ only in width (全角/半角), case, punctuation, emoji or whitespace get the same key:
``"怎么退货？"``, ``"怎么 退货"`` and ``"怎么退货"`` are one question. The matcher in ``kefu.bot`` has a
richer normaliser (traditional → simplified, …); it may replace this one later, which only means a
migration that recomputes the stored keys.
"""

from __future__ import annotations

import unicodedata

#: Keys are stored in indexed columns; a key is never longer than this (see MAX_QUESTION_LEN in the schemas).
MAX_KEY_LEN = 400


def _dropped(ch: str) -> bool:
    # P*: punctuation, Z*: separators, C*: control and format characters, So/Sk: emoji and modifiers.
    # Math and currency symbols stay: "C++" is not "C", "¥99" is not "99".
    cat = unicodedata.category(ch)
    return cat[0] in "PZC" or cat in ("So", "Sk")


class _DropTable(dict[int, int | None]):
    """A ``str.translate`` table that learns each code point once (bounded by the size of Unicode)."""

    def __missing__(self, code: int) -> int | None:
        value = None if _dropped(chr(code)) else code
        self[code] = value
        return value


_DROP = _DropTable()


def normalise(text: str) -> str:
    """NFKC, case-folded, without punctuation, symbols or whitespace; at most ``MAX_KEY_LEN`` characters."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_DROP)[:MAX_KEY_LEN]
