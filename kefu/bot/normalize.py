"""Normalisation of Chinese text before matching: one canonical form for what a visitor may type many ways.

Full-width → half-width (NFKC), traditional → simplified (OpenCC's ``t2s`` tables, shipped inside the
``opencc`` wheel: nothing is downloaded at run time), lower case, punctuation and symbols → spaces, and
runs of whitespace collapsed. Spaces between two Chinese characters are dropped (``微 粒 贷`` is
``微粒贷``), spaces between Latin words stay.
"""

from __future__ import annotations

import threading
import unicodedata
from functools import lru_cache

__all__ = ["compact", "is_cjk", "normalize"]

_KEEP_SYMBOLS = frozenset("%+#")
_converter_lock = threading.Lock()
_converter: object | None = None


def is_cjk(char: str) -> bool:
    """True for a CJK unified ideograph (the basic block and extension A)."""
    code = ord(char)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF


def _t2s(text: str) -> str:
    global _converter
    if _converter is None:
        with _converter_lock:
            if _converter is None:
                import opencc

                _converter = opencc.OpenCC("t2s")
    return str(_converter.convert(text))  # type: ignore[attr-defined]


def _is_separator(text: str, i: int) -> bool:
    char = text[i]
    if char.isspace():
        return True
    category = unicodedata.category(char)
    if category[0] not in "PS" or char in _KEEP_SYMBOLS:
        return False
    # a decimal point or thousands separator inside a number is part of it: 0.05, 1,000
    return not (char in ".," and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit())


@lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    """The canonical form of ``text``; idempotent: ``normalize(normalize(t)) == normalize(t)``."""
    text = unicodedata.normalize("NFKC", text)
    if any(is_cjk(c) for c in text):
        text = _t2s(text)
    text = text.lower()
    pieces: list[str] = []
    pending_space = False
    for i, char in enumerate(text):
        if _is_separator(text, i):
            pending_space = bool(pieces)
            continue
        if pending_space and not (is_cjk(char) and is_cjk(pieces[-1])):
            pieces.append(" ")
        pending_space = False
        pieces.append(char)
    return "".join(pieces)


def compact(text: str) -> str:
    """``normalize`` without any space: what whole-message phrase checks compare (转人工！, 你好，在吗？)."""
    return normalize(text).replace(" ", "")
