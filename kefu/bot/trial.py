"""机器人测试: an administrator tests the tenant's live bot on a list of questions, from the admin console.

The same measurement as ``kefu bot eval`` (``kefu.bot.evaluate``), but on the bot visitors talk to now (its
entries, dictionary, synonyms, validity periods and thresholds), with every row's result, so that the
administrator sees which questions it gets wrong and fixes the knowledge base (a similar question, a
synonym, a new entry) before the visitors find out.

The file (.xlsx or .csv, header in row 1):

- 问题 (required): a question as a visitor would ask it;
- 标准问题: the standard question of the entry that should answer it, or that entry's number; empty: the
  bot should not answer it (it is not in the knowledge base).

Every row is checked before anything runs; a row naming an entry that does not exist (or is disabled)
is reported with its row number, as the import does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from kefu.bot.decision import Decision, Hit, Outcome, Thresholds
from kefu.bot.evaluate import MRR_DEPTH, EvalReport, evaluate
from kefu.bot.kb_file import EvalQuery
from kefu.bot.registry import TenantBot
from kefu.errors import Invalid, Msg
from kefu.kb.io import ImportTable, Layout, RowError, write_csv, write_xlsx
from kefu.kb.normalise import normalise

__all__ = [
    "EXAMPLE_ROWS",
    "TRIAL_LAYOUT",
    "KnownEntries",
    "LiveBot",
    "Trial",
    "TrialRejected",
    "TrialRow",
    "plan_trial",
    "run_trial",
    "template",
]

QUERY, EXPECTED = "问题", "标准问题"
MAX_TRIAL_ROWS = 5_000  # about a millisecond each: a few seconds for the longest list
MAX_QUERY_LEN = 500

TRIAL_LAYOUT = Layout(
    columns=(QUERY, EXPECTED),
    required=(QUERY,),
    aliases={"query": QUERY, "question": QUERY, "expected": EXPECTED, "expected_id": EXPECTED},
    max_rows=MAX_TRIAL_ROWS,
)

EXAMPLE_ROWS = [
    ["我想退货怎么操作", "怎么申请退货"],
    ["你们几点下班", ""],
]
_HELP_LINES = (
    ("问题", "访客会怎么问：一行一个问题（必填）/ a question as a visitor would ask it (required)"),
    (
        "标准问题",
        "应回答它的条目的标准问题或条目编号；留空表示知识库里没有、机器人不应直接回答 / the standard question "
        "or number of the entry that should answer; empty: none should (the bot should not answer it)",
    ),
    ("", f"最多 {MAX_TRIAL_ROWS} 行；测试不写入任何数据 / at most {MAX_TRIAL_ROWS} rows; a test stores nothing"),
)


def template(fmt: Literal["xlsx", "csv"]) -> bytes:
    """The question-list template, with two example rows."""
    if fmt == "csv":
        return write_csv(EXAMPLE_ROWS, columns=TRIAL_LAYOUT.columns)
    return write_xlsx(
        EXAMPLE_ROWS, columns=TRIAL_LAYOUT.columns, widths=(40, 40), sheet_name="机器人测试", help_lines=_HELP_LINES
    )


class TrialRejected(Invalid):
    """The file has bad rows; nothing was run. ``errors`` lists every one."""

    def __init__(self, errors: list[RowError], rows: int) -> None:
        bad = len({e.row for e in errors})
        super().__init__(
            Msg(f"测试文件有 {bad} 行有误，未进行测试", f"{bad} rows of the file are invalid; nothing was tested"),
            code="bot.trial_rejected",
        )
        self.errors = errors
        self.rows = rows


@dataclass(frozen=True)
class KnownEntries:
    """The tenant's enabled entries, as a row may name them: by number, or by standard question."""

    standard: Mapping[str, str]  # entry id → standard question
    by_key: Mapping[str, str]  # normalised standard question → entry id

    @classmethod
    def of(cls, entries: Sequence[tuple[int, str]]) -> KnownEntries:
        return cls(
            standard={str(i): q for i, q in entries},
            by_key={normalise(q): str(i) for i, q in entries},
        )

    def find(self, cell: str) -> str | None:
        text = cell.strip()
        if text.isdigit() and text in self.standard:
            return text
        return self.by_key.get(normalise(text))


@dataclass(frozen=True)
class TrialQuery:
    row: int  # the file's row number (the header is 1)
    query: str
    expected_id: str | None


def plan_trial(table: ImportTable, known: KnownEntries) -> list[TrialQuery]:
    """The questions of ``table``; raises ``TrialRejected`` with every bad row when any is bad."""
    errors = list(table.errors)
    planned: list[TrialQuery] = []
    for number, row in table.rows:
        query = str(row.get(QUERY, "")).strip()
        expected = str(row.get(EXPECTED, "")).strip()
        if not query:
            errors.append(RowError(number, QUERY, Msg("问题不能为空", "the question is empty")))
            continue
        if len(query) > MAX_QUERY_LEN:
            errors.append(
                RowError(
                    number,
                    QUERY,
                    Msg(f"问题超过 {MAX_QUERY_LEN} 字", f"the question is over {MAX_QUERY_LEN} characters"),
                )
            )
            continue
        expected_id = None
        if expected:
            expected_id = known.find(expected)
            if expected_id is None:
                errors.append(
                    RowError(
                        number,
                        EXPECTED,
                        Msg(
                            f"知识库中没有启用的条目“{expected}”（填写标准问题或条目编号）",
                            f"no enabled entry {expected!r} in the knowledge base "
                            "(give its standard question or number)",
                        ),
                    )
                )
                continue
        planned.append(TrialQuery(number, query, expected_id))
    if not planned and not errors:
        errors.append(RowError(2, QUERY, Msg("文件中没有问题", "the file has no questions")))
    if errors:
        raise TrialRejected(sorted(errors, key=lambda e: e.row), len(table.rows))
    return planned


class LiveBot:
    """A tenant's bot as ``evaluate`` sees it: at one moment (validity periods), with its thresholds."""

    def __init__(self, bot: TenantBot, now: datetime) -> None:
        self._bot = bot
        self._now = now

    @property
    def thresholds(self) -> Thresholds:
        return self._bot.matcher.thresholds

    def search(self, query: str, k: int = 3) -> list[Hit]:
        return self._bot.search(query, self._now, k=k)


@dataclass(frozen=True)
class TrialRow:
    row: int
    query: str
    expected_id: str | None
    outcome: Outcome
    hits: tuple[Hit, ...]  # the best three
    rank: int | None  # of the expected entry among the first MRR_DEPTH hits; None: not there (or none expected)
    right: bool  # answered with the expected entry; or, with none expected, not answered
    offered: bool  # the expected entry was among the suggestions the visitor would see

    @property
    def verdict(self) -> str:
        """answered (right) / wrong (answered with another entry, or answered at all when it should not
        be) / suggested (the expected entry among the suggestions) / missed (suggested without it, or
        unknown) / declined (not in the knowledge base and not answered: right)."""
        if self.expected_id is None:
            return "wrong" if self.outcome is Outcome.answer else "declined"
        if self.outcome is Outcome.answer:
            return "answered" if self.right else "wrong"
        if self.offered:
            return "suggested"
        return "missed"


@dataclass
class Trial:
    report: EvalReport
    rows: list[TrialRow] = field(default_factory=list)

    def verdicts(self) -> dict[str, int]:
        counts = dict.fromkeys(("answered", "suggested", "declined", "missed", "wrong"), 0)
        for row in self.rows:
            counts[row.verdict] += 1
        return counts


def run_trial(bot: TenantBot, queries: Sequence[TrialQuery], now: datetime) -> Trial:
    """Ask the bot every question of ``queries`` as a visitor would and measure."""
    rows: list[TrialRow] = []

    def keep(index: int, hits: list[Hit], decision: Decision) -> None:
        item = queries[index]
        ranked = [h.entry_id for h in hits[:MRR_DEPTH]]
        rank = ranked.index(item.expected_id) + 1 if item.expected_id in ranked else None
        answered = decision.outcome is Outcome.answer
        right = (answered and decision.hits[0].entry_id == item.expected_id) if item.expected_id else not answered
        offered = decision.outcome is Outcome.suggest and any(h.entry_id == item.expected_id for h in decision.hits)
        rows.append(
            TrialRow(item.row, item.query, item.expected_id, decision.outcome, tuple(hits[:3]), rank, right, offered)
        )

    report = evaluate(LiveBot(bot, now), [EvalQuery(q.query, q.expected_id) for q in queries], on_result=keep)
    return Trial(report, rows)
