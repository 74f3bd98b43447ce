"""Reading a knowledge base and a question list from CSV text, for evaluation.

Two knowledge-base layouts are accepted, told apart by the header row:

- the evaluation layout ``id,question,similar,answer``;
- the product's import template ``标准问题,相似问题,答案,分类`` (an ``id`` or ``编号`` column is optional;
  without one an entry's id is its standard question, so a tenant's question list can name the entry
  by its standard question).

``similar`` / ``相似问题`` holds one question per line inside the cell. Every bad row is reported with its
row number (the header is row 1), and nothing is returned unless the whole file is good.
Questions: ``query,expected_id`` (or ``问题,标准问题``); an empty expected id means "not in the knowledge base".

The tenant's dictionary and synonyms, so that an evaluation sees what the live bot sees (plain text,
blank lines and lines starting with ``#`` skipped): a words file has one dictionary word per line; a
synonyms file one set per line, its words separated by spaces, commas or 、 (the first is the one the
others are rewritten to).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass

from kefu.bot.matcher import KbDoc

__all__ = ["EvalQuery", "KbFileError", "parse_kb", "parse_queries", "parse_synonyms", "parse_words"]

_ID = ("id", "编号")
_STANDARD = ("question", "标准问题")
_SIMILAR = ("similar", "相似问题")


@dataclass(frozen=True)
class EvalQuery:
    query: str
    expected_id: str | None  # None: not in the knowledge base


class KbFileError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:20] + ([f"… and {len(problems) - 20} more"] if len(problems) > 20 else [])
        super().__init__("\n".join(shown))


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    for i, name in enumerate(header):
        if name.strip().lower() in names:
            return i
    return None


def _cell(row: list[str], index: int | None) -> str:
    return row[index].strip() if index is not None and index < len(row) else ""


def parse_kb(lines: Iterable[str]) -> list[KbDoc]:
    """Entries of a knowledge-base CSV (``lines`` as from a file opened with ``newline=""``)."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise KbFileError(["第 1 行 / row 1: 文件为空 / the file is empty"])
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    id_col, standard_col, similar_col = (_column(header, names) for names in (_ID, _STANDARD, _SIMILAR))
    if standard_col is None:
        raise KbFileError(
            [f"第 1 行 / row 1: 缺少列 / missing column: question 或 / or 标准问题 (header: {','.join(header)})"]
        )
    docs: list[KbDoc] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for row_number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        standard = _cell(row, standard_col)
        entry_id = _cell(row, id_col) if id_col is not None else standard
        if not standard:
            problems.append(f"第 {row_number} 行 / row {row_number}: 标准问题为空 / the standard question is empty")
            continue
        if not entry_id:
            problems.append(f"第 {row_number} 行 / row {row_number}: id 为空 / the id is empty")
            continue
        if entry_id in seen:
            problems.append(
                f"第 {row_number} 行 / row {row_number}: 重复的条目 / duplicate entry {entry_id!r} "
                f"(first on row {seen[entry_id]})"
            )
            continue
        seen[entry_id] = row_number
        similar = tuple(q.strip() for q in _cell(row, similar_col).splitlines() if q.strip())
        docs.append(KbDoc(entry_id=entry_id, standard=standard, similar=similar))
    if problems:
        raise KbFileError(problems)
    return docs


def parse_queries(lines: Iterable[str], known_ids: Iterable[str] | None = None) -> list[EvalQuery]:
    """Questions of a ``query,expected_id`` CSV; an expected id not in ``known_ids`` is an error."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise KbFileError(["第 1 行 / row 1: 文件为空 / the file is empty"])
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    query_col = _column(header, ("query", "问题"))
    expected_col = _column(header, ("expected_id", "标准问题", "id"))
    if query_col is None or expected_col is None:
        raise KbFileError([f"第 1 行 / row 1: 需要列 / needs columns query,expected_id (header: {','.join(header)})"])
    known = set(known_ids) if known_ids is not None else None
    queries: list[EvalQuery] = []
    problems: list[str] = []
    for row_number, row in enumerate(reader, start=2):
        query = _cell(row, query_col)
        expected = _cell(row, expected_col) or None
        if not query:
            if expected or any(cell.strip() for cell in row):
                problems.append(f"第 {row_number} 行 / row {row_number}: 问题为空 / the query is empty")
            continue
        if expected is not None and known is not None and expected not in known:
            problems.append(
                f"第 {row_number} 行 / row {row_number}: 知识库中没有 / not in the knowledge base: {expected!r}"
            )
            continue
        queries.append(EvalQuery(query, expected))
    if problems:
        raise KbFileError(problems)
    return queries


_MAX_WORD_LEN = 50  # as in the console (``kefu.schemas.kb.MAX_WORD_LEN``)
_SEPARATORS = re.compile(r"[\s,，、]+")


def _lines(lines: Iterable[str]) -> Iterable[tuple[int, str]]:
    for line_number, line in enumerate(lines, start=1):
        text = line.strip().lstrip("\ufeff").strip()
        if text and not text.startswith("#"):
            yield line_number, text


def _line(line_number: int, problem: str) -> str:
    return f"第 {line_number} 行 / line {line_number}: {problem}"


def _too_long(line_number: int, word: str) -> str:
    return _line(line_number, f"词语超过 {_MAX_WORD_LEN} 字 / word longer than {_MAX_WORD_LEN}: {word[:20]!r}…")


def parse_words(lines: Iterable[str]) -> list[str]:
    """Dictionary words, one per line."""
    words: list[str] = []
    problems: list[str] = []
    for line_number, text in _lines(lines):
        if any(c.isspace() for c in text):
            problems.append(_line(line_number, f"一行一个词，词中不能有空格 / one word per line, no spaces: {text!r}"))
        elif len(text) > _MAX_WORD_LEN:
            problems.append(_too_long(line_number, text))
        else:
            words.append(text)
    if problems:
        raise KbFileError(problems)
    return words


def parse_synonyms(lines: Iterable[str]) -> list[list[str]]:
    """Synonym sets, one per line."""
    sets: list[list[str]] = []
    problems: list[str] = []
    for line_number, text in _lines(lines):
        members = list(dict.fromkeys(w for w in _SEPARATORS.split(text) if w))
        if len(members) < 2:
            problems.append(
                _line(line_number, f"一组同义词至少两个词 / a synonym set needs two words or more: {text!r}")
            )
        elif any(len(w) > _MAX_WORD_LEN for w in members):
            problems.append(_too_long(line_number, next(w for w in members if len(w) > _MAX_WORD_LEN)))
        else:
            sets.append(members)
    if problems:
        raise KbFileError(problems)
    return sets
