"""JSON text, fast: orjson for frames on the sockets and for JSON columns.

orjson is several times faster than ``json`` on the chat hot path (every message is one JSON column
value and one event payload, and goes out as frames). Its text is UTF-8 as is, without ASCII escapes,
like ``json.dumps(..., ensure_ascii=False)``; readers of either see the same values.
"""

from __future__ import annotations

from typing import Any

import orjson


def dumps(value: Any) -> str:
    return orjson.dumps(value, default=_plain, option=orjson.OPT_NON_STR_KEYS).decode()


def _plain(value: Any) -> Any:
    """What orjson does not take as is: subclasses of int/float/str (numpy scalars, our StrEnums)."""
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
