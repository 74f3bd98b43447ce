"""What the bot's routes answer (kefu.api.routes.bot)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel

from kefu.bot.evaluate import EvalReport
from kefu.bot.kpi import BotKpis

Verdict = Literal["answered", "suggested", "declined", "missed", "wrong"]


class BotTrialHit(BaseModel):
    entry_id: int
    standard_question: str
    matched_question: str  # the entry's question (standard or similar) that matched best
    score: float


class BotTrialRow(BaseModel):
    row: int  # in the file (the header is row 1)
    query: str
    expected_id: int | None  # None: no entry should answer it
    expected_question: str | None
    outcome: Literal["answer", "suggest", "unknown"]
    #: answered: with the expected entry; suggested: the expected entry among the suggestions; declined: not
    #: in the knowledge base and not answered; missed: not answered and not suggested; wrong: answered with
    #: another entry, or answered when no entry should have
    verdict: Verdict
    rank: int | None  # of the expected entry among the bot's first ten candidates
    hits: list[BotTrialHit]  # the best three


class BotTrialOut(EvalReport):
    """The metrics of ``kefu bot eval`` (kefu.bot.evaluate) and every row's result."""

    verdicts: dict[Verdict, int]
    thresholds_source: str
    rows: list[BotTrialRow]


class BotDay(BotKpis):
    date: date  # in the tenant's time zone


class BotDaily(BaseModel):
    time_zone: str
    days: list[BotDay]  # oldest first, today last
    total: BotKpis  # the same conversations, all days together


class BotHour(BotKpis):
    start: datetime  # when the hour begins, in the tenant's time zone (hours are one hour long, DST too)


class BotHourly(BaseModel):
    time_zone: str
    date: date  # the local day
    hours: list[BotHour]  # 24 (23 or 25 on the days clocks change), the first from local midnight
    total: BotKpis  # the same conversations, the whole day: that day's figures in ``BotDaily``
