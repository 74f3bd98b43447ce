"""Errors people see, in their language.

Every error that reaches a user carries a stable ``code`` (for programs and the front end) and a
message in Simplified Chinese and English; the API answers in the language of ``Accept-Language``
(Chinese by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Msg:
    zh: str
    en: str

    def pick(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


class KefuError(Exception):
    status: int = 400
    default_code = "bad_request"

    def __init__(self, msg: Msg, *, code: str | None = None, **details: Any) -> None:
        super().__init__(msg.en)
        self.msg = msg
        self.code = code or self.default_code
        self.details = details


class Invalid(KefuError):
    status = 422
    default_code = "invalid"


class NotAuthenticated(KefuError):
    status = 401
    default_code = "not_authenticated"


class Forbidden(KefuError):
    status = 403
    default_code = "forbidden"


class NotFound(KefuError):
    status = 404
    default_code = "not_found"


class Conflict(KefuError):
    status = 409
    default_code = "conflict"


class Locked(KefuError):
    status = 423
    default_code = "locked"


class TooManyRequests(KefuError):
    status = 429
    default_code = "too_many_requests"

    def __init__(self, msg: Msg, *, retry_after: float, code: str | None = None) -> None:
        super().__init__(msg, code=code, retry_after=max(1, round(retry_after)))
        self.retry_after = max(1, round(retry_after))


def not_found(what_zh: str, what_en: str) -> NotFound:
    """The same answer whether the row does not exist or belongs to someone the caller may not see."""
    return NotFound(Msg(f"{what_zh}不存在或无权访问", f"{what_en} not found"))


def pick_language(accept_language: str | None) -> str:
    """``en`` when the client prefers English over Chinese, else ``zh``."""
    if not accept_language:
        return "zh"
    best_lang, best_q = "zh", -1.0
    for part in accept_language.split(","):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        q = 1.0
        for p in pieces[1:]:
            p = p.strip()
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        lang = "en" if tag.startswith("en") else "zh" if tag.startswith("zh") else None
        if lang and q > best_q:
            best_lang, best_q = lang, q
    return best_lang
