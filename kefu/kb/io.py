"""Import and export of the knowledge base as Excel (.xlsx) and CSV, in one template (see docs/kb.md).

| column | required | content |
|---|---|---|
| 标准问题 | yes | the standard question, unique in the file and (by ``mode``) in the knowledge base |
| 相似问题 | no | other wordings, one per line inside the cell |
| 答案 | yes | plain text (line breaks kept) or HTML (sanitised) |
| 分类 | no | category path, levels separated by ``/`` (``售后/退货``); missing levels are created |
| 启用 | no | 是 / 否 (empty: 是) |
| 生效时间 / 失效时间 | no | ``2026-11-11`` or ``2026-11-11 08:00``, in the tenant's time zone |

Reading turns a file into an ``ImportTable``; ``plan_import`` validates every row of it against the file itself
and the tenant's knowledge base and returns every problem with its row number (the header is row 1, as
Excel shows it); ``kefu.actions.kb.do_import_kb`` writes it only if there was none.
"""

from __future__ import annotations

import csv
import io
import re
import string
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kefu.errors import Invalid, Msg
from kefu.kb.normalise import normalise
from kefu.kb.read import category_paths
from kefu.kb.richtext import answer_html, answer_to_cell
from kefu.models.kb import KbEntry, KbSimilarQuestion
from kefu.models.tenant import Tenant
from kefu.schemas.kb import MAX_ANSWER_LEN, MAX_CATEGORY_DEPTH, MAX_QUESTION_LEN, MAX_SIMILAR_PER_ENTRY

if TYPE_CHECKING:
    from collections.abc import Callable

    from kefu.actions.kb import ImportResult

STANDARD, SIMILAR, ANSWER, CATEGORY, ENABLED, VALID_FROM, VALID_UNTIL = (
    "标准问题",
    "相似问题",
    "答案",
    "分类",
    "启用",
    "生效时间",
    "失效时间",
)
COLUMNS = (STANDARD, SIMILAR, ANSWER, CATEGORY, ENABLED, VALID_FROM, VALID_UNTIL)
REQUIRED = (STANDARD, ANSWER)
#: English names a file may use instead (for scripts); the export always writes the Chinese ones.
ALIASES = {
    "standard_question": STANDARD,
    "similar_questions": SIMILAR,
    "answer": ANSWER,
    "category": CATEGORY,
    "enabled": ENABLED,
    "valid_from": VALID_FROM,
    "valid_until": VALID_UNTIL,
}
Mode = Literal["append", "upsert", "replace"]
MODES: tuple[Mode, ...] = ("append", "upsert", "replace")
MAX_ROWS = 50_000
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_CATEGORY_NAME = 100
SHEET = "知识库"
HELP_SHEET = "填写说明"

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Spreadsheet programs run a cell starting with one of these as a formula (CSV injection). The CSV export
#: puts a ' before it, which the import removes again.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TRUE = {"是", "启用", "y", "yes", "true", "1", "on", "开"}
_FALSE = {"否", "停用", "禁用", "n", "no", "false", "0", "off", "关"}
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d")


@dataclass(frozen=True)
class RowError:
    row: int  # 1 = the header
    column: str | None
    msg: Msg

    def to_dict(self, lang: str) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.msg.pick(lang)}

    def line(self) -> str:
        where = f"第 {self.row} 行" + (f"「{self.column}」" if self.column else "")
        return f"{where}: {self.msg.zh} / row {self.row}{f' ({self.column})' if self.column else ''}: {self.msg.en}"


@dataclass
class ImportTable:
    """A file read into rows: (row number, column → cell value) for every non-empty data row."""

    columns: list[str]
    rows: list[tuple[int, dict[str, Any]]]
    errors: list[RowError] = field(default_factory=list)


class ImportRejected(Invalid):
    """The file has bad rows; nothing was imported. ``errors`` lists every one."""

    def __init__(self, errors: list[RowError], rows: int) -> None:
        super().__init__(
            Msg(
                f"导入文件有 {len({e.row for e in errors})} 行有误，未导入任何内容",
                f"{len({e.row for e in errors})} rows of the file are invalid; nothing was imported",
            ),
            code="kb.import_rejected",
        )
        self.errors = errors
        self.rows = rows


# --- reading -----------------------------------------------------------------------------------------------


def _unreadable(kind: str, why: str) -> Invalid:
    return Invalid(
        Msg(f"无法读取{kind}文件：{why}", f"cannot read the {kind} file: {why}"),
        code="kb.import_unreadable",
    )


def detect_format(data: bytes, filename: str | None) -> Literal["xlsx", "csv"]:
    name = (filename or "").lower()
    if name.endswith(".xls") or data[:8] == bytes.fromhex("d0cf11e0a1b11ae1"):
        raise Invalid(
            Msg(
                "不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx 或 .csv",
                "old .xls files are not supported; save as .xlsx or .csv",
            ),
            code="kb.import_format",
        )
    if name.endswith((".xlsx", ".xlsm")) or data[:4] == b"PK\x03\x04":
        return "xlsx"
    if name.endswith((".csv", ".txt")) or not name:
        return "csv"
    raise Invalid(
        Msg("只支持 .xlsx 和 .csv 文件", "only .xlsx and .csv files can be imported"), code="kb.import_format"
    )


@dataclass(frozen=True)
class Layout:
    """The columns a file may have: their names, which are required, English aliases, and the row limit."""

    columns: tuple[str, ...]
    required: tuple[str, ...]
    aliases: dict[str, str]
    max_rows: int


#: The knowledge-base import template.
KB_LAYOUT = Layout(COLUMNS, REQUIRED, ALIASES, MAX_ROWS)


def read_table(data: bytes, filename: str | None = None, layout: Layout = KB_LAYOUT) -> ImportTable:
    """Read an import file (by default the knowledge-base template). Raises Invalid when the file cannot be
    read at all; problems with the header or single rows are collected in ``ImportTable.errors``."""
    if len(data) > MAX_FILE_BYTES:
        raise Invalid(
            Msg(f"文件超过 {MAX_FILE_BYTES // 2**20} MB", f"the file is larger than {MAX_FILE_BYTES // 2**20} MB"),
            code="kb.import_too_large",
        )
    raw = _xlsx_rows(data) if detect_format(data, filename) == "xlsx" else _csv_rows(data)
    return _table(raw, layout)


def _csv_rows(data: bytes) -> Iterator[list[Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            # Excel in Chinese Windows saves "CSV" as GBK; GB 18030 is a superset of it.
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise _unreadable("CSV", "编码不是 UTF-8 或 GBK / not UTF-8 or GBK") from None
    try:
        yield from csv.reader(io.StringIO(text, newline=""))
    except csv.Error as e:
        raise _unreadable("CSV", str(e)) from e


def _xlsx_rows(data: bytes) -> Iterator[list[Any]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
        raise _unreadable("Excel", str(e) or type(e).__name__) from e
    try:
        sheet = book[SHEET] if SHEET in book.sheetnames else book.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield list(row)
    finally:
        book.close()


def _cell(value: Any) -> Any:
    """A cell as text, except dates (kept for the time columns)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    if text[:1] == "'" and text[1:2] in _FORMULA_START:
        text = text[1:]
    return text


def _table(raw: Iterator[list[Any]], layout: Layout) -> ImportTable:
    header = next(raw, None)
    table = ImportTable(columns=[], rows=[])
    if header is None:
        table.errors.append(RowError(1, None, Msg("文件是空的", "the file is empty")))
        return table
    names: list[str | None] = []
    for value in header:
        name = str(value).strip().lstrip("\ufeff") if value is not None else ""
        name = layout.aliases.get(name.lower(), name)
        if not name:
            names.append(None)
        elif name not in layout.columns:
            table.errors.append(
                RowError(
                    1,
                    name,
                    Msg(
                        f"未知的列“{name}”（可用的列：{'、'.join(layout.columns)}）",
                        f"unknown column {name!r} (known columns: {', '.join(layout.columns)})",
                    ),
                )
            )
            names.append(None)
        elif name in names:
            table.errors.append(RowError(1, name, Msg(f"列“{name}”出现了两次", f"the column {name!r} appears twice")))
            names.append(None)
        else:
            names.append(name)
            table.columns.append(name)
    for name in layout.required:
        if name not in table.columns:
            table.errors.append(
                RowError(1, name, Msg(f"缺少必填列“{name}”", f"the required column {name!r} is missing"))
            )
    for number, values in enumerate(raw, start=2):
        cells = [_cell(v) for v in values]
        if not any(isinstance(c, datetime) or c.strip() for c in cells):
            continue  # blank rows are skipped (they keep their number)
        if len(table.rows) >= layout.max_rows:
            limit = layout.max_rows
            table.errors.append(
                RowError(
                    number,
                    None,
                    Msg(f"文件超过 {limit} 行，请分批处理", f"more than {limit} rows; split the file"),
                )
            )
            break
        row: dict[str, Any] = {}
        for i, cell in enumerate(cells):
            column = names[i] if i < len(names) else None
            if column is not None:
                row[column] = cell
            elif (isinstance(cell, datetime) or cell.strip()) and (i >= len(names) or not str(header[i] or "").strip()):
                table.errors.append(
                    RowError(
                        number,
                        None,
                        Msg(f"第 {i + 1} 列有内容但没有列名", f"column {i + 1} holds data but has no header"),
                    )
                )
        table.rows.append((number, row))
    return table


# --- validating ----------------------------------------------------------------------------------------------


@dataclass
class PlannedEntry:
    """One valid row of an import file, ready to write."""

    row: int
    standard_question: str
    key: str
    similar: list[tuple[str, str]]  # (question, key)
    answer: str  # sanitised HTML
    category: list[str] | None  # path parts; None: no category
    enabled: bool
    valid_from: datetime | None
    valid_until: datetime | None
    existing_id: int | None = None  # upsert: the entry it updates


def _text(row: dict[str, Any], column: str) -> str:
    value = row.get(column, "")
    return value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)


def _when(value: Any, tz: ZoneInfo) -> datetime | None:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(tz)
    text = str(value).strip()
    if not text:
        return None
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)  # the tenant's zone is attached below
                break
            except ValueError:
                continue
    if parsed is None:
        raise ValueError(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _bool(value: Any) -> bool:
    text = str(value).strip().lower()
    if not text or text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(text)


@dataclass
class _Owner:
    """Who uses a question key: an existing entry (id) or a row of the file."""

    entry_id: int | None
    row: int | None
    label: str


def plan_import(
    db: Session,
    tenant_id: int,
    table: ImportTable,
    mode: Mode,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[list[PlannedEntry], list[RowError]]:
    """Validate every row; return the entries to write and every problem found (empty when all is well).

    Modes: ``append`` adds entries and refuses a standard question the knowledge base already has;
    ``upsert`` updates the entry with the same standard question (by normalised text) and adds the rest;
    ``replace`` deletes every entry of the tenant first and imports the file as the new knowledge base.
    A question (standard or similar) may lead to one entry only, in the file and in the knowledge base."""
    errors = list(table.errors)
    tenant = db.get(Tenant, tenant_id)
    tz = ZoneInfo(tenant.time_zone if tenant else "Asia/Shanghai")
    owners: dict[str, _Owner] = {}
    existing: dict[str, tuple[int, str]] = {}
    if mode != "replace":
        for entry_id, key, standard in db.execute(
            select(KbEntry.id, KbEntry.question_key, KbEntry.standard_question).where(KbEntry.tenant_id == tenant_id)
        ):
            existing[key] = (entry_id, standard)
            owners[key] = _Owner(entry_id, None, standard)
        labels = {entry_id: standard for entry_id, standard in existing.values()}
        for entry_id, key in db.execute(
            select(KbSimilarQuestion.entry_id, KbSimilarQuestion.question_key).where(
                KbSimilarQuestion.tenant_id == tenant_id
            )
        ):
            owners.setdefault(key, _Owner(entry_id, None, labels.get(entry_id, "")))
    if mode == "upsert" and SIMILAR in table.columns:
        # The similar questions of the entries the file updates are replaced by the file's: only their
        # standard questions stay taken.
        keys = {normalise(_text(r, STANDARD).strip()) for _, r in table.rows}
        updated = {existing[k][0] for k in keys if k in existing}
        owners = {
            k: o for k, o in owners.items() if o.entry_id not in updated or existing.get(k, (None, ""))[0] == o.entry_id
        }

    planned: list[PlannedEntry] = []
    total = len(table.rows)
    for i, (number, row) in enumerate(table.rows):
        if progress and i % 500 == 0:
            progress("validate", i, total)
        problems: list[RowError] = []

        def bad(
            column: str | None, zh: str, en: str, number: int = number, problems: list[RowError] = problems
        ) -> None:
            problems.append(RowError(number, column, Msg(zh, en)))

        standard = _text(row, STANDARD).strip()
        key = ""
        if not standard:
            bad(STANDARD, "标准问题为空", "the standard question is empty")
        elif len(standard) > MAX_QUESTION_LEN:
            bad(
                STANDARD,
                f"标准问题超过 {MAX_QUESTION_LEN} 字",
                f"the standard question is longer than {MAX_QUESTION_LEN} characters",
            )
        elif _LINE_CONTROL.search(standard):
            bad(
                STANDARD,
                "标准问题只能有一行，且不能含控制字符",
                "the standard question must be one line without control characters",
            )
        else:
            key = normalise(standard)
            if not key:
                bad(STANDARD, "标准问题只有标点或空白", "the standard question holds nothing but punctuation or spaces")

        similar: list[tuple[str, str]] = []
        seen_keys = {key}
        lines = [s.strip() for s in _text(row, SIMILAR).splitlines()]
        for n, q in enumerate((s for s in lines if s), start=1):
            if len(q) > MAX_QUESTION_LEN:
                bad(
                    SIMILAR,
                    f"第 {n} 个相似问题超过 {MAX_QUESTION_LEN} 字",
                    f"similar question {n} is longer than {MAX_QUESTION_LEN} characters",
                )
                continue
            if _LINE_CONTROL.search(q):
                bad(SIMILAR, f"第 {n} 个相似问题含控制字符", f"similar question {n} holds control characters")
                continue
            qk = normalise(q)
            if qk and qk not in seen_keys:  # a repeat inside the cell, or the standard question again, is dropped
                seen_keys.add(qk)
                similar.append((q, qk))
        if len(similar) > MAX_SIMILAR_PER_ENTRY:
            bad(
                SIMILAR,
                f"相似问题超过 {MAX_SIMILAR_PER_ENTRY} 个",
                f"more than {MAX_SIMILAR_PER_ENTRY} similar questions",
            )

        answer_raw = _text(row, ANSWER).strip()
        answer = ""
        if not answer_raw:
            bad(ANSWER, "答案为空", "the answer is empty")
        elif len(answer_raw) > MAX_ANSWER_LEN:
            bad(ANSWER, f"答案超过 {MAX_ANSWER_LEN} 字", f"the answer is longer than {MAX_ANSWER_LEN} characters")
        elif _CONTROL.search(answer_raw):
            bad(ANSWER, "答案含控制字符", "the answer holds control characters")
        else:
            answer = answer_html(answer_raw)
            if not answer:
                bad(
                    ANSWER,
                    "答案清理后为空（只保留安全的 HTML）",
                    "the answer is empty once sanitised (only safe HTML is kept)",
                )
            elif len(answer) > MAX_ANSWER_LEN:
                bad(ANSWER, f"答案超过 {MAX_ANSWER_LEN} 字", f"the answer is longer than {MAX_ANSWER_LEN} characters")

        category: list[str] | None = None
        path = _text(row, CATEGORY).strip()
        if path:
            parts = [p.strip() for p in path.split("/") if p.strip()]
            if len(parts) > MAX_CATEGORY_DEPTH:
                bad(
                    CATEGORY,
                    f"分类最多 {MAX_CATEGORY_DEPTH} 级",
                    f"categories nest at most {MAX_CATEGORY_DEPTH} levels deep",
                )
            elif any(len(p) > MAX_CATEGORY_NAME for p in parts):
                bad(
                    CATEGORY,
                    f"分类名称超过 {MAX_CATEGORY_NAME} 字",
                    f"a category name is longer than {MAX_CATEGORY_NAME} characters",
                )
            elif any(_LINE_CONTROL.search(p) for p in parts):
                bad(CATEGORY, "分类含控制字符", "the category holds control characters")
            else:
                category = parts or None

        enabled = True
        try:
            enabled = _bool(row.get(ENABLED, ""))
        except ValueError:
            bad(
                ENABLED,
                f"无法识别“{row.get(ENABLED)}”，请填 是 或 否",
                f"cannot read {row.get(ENABLED)!r}: write 是 (yes) or 否 (no)",
            )
        times: dict[str, datetime | None] = {}
        for column in (VALID_FROM, VALID_UNTIL):
            try:
                times[column] = _when(row.get(column, ""), tz)
            except ValueError:
                times[column] = None
                bad(
                    column,
                    f"无法识别时间“{row.get(column)}”，格式如 2026-11-11 或 2026-11-11 08:00",
                    f"cannot read the time {row.get(column)!r}; write e.g. 2026-11-11 or 2026-11-11 08:00",
                )
        valid_from, valid_until = times[VALID_FROM], times[VALID_UNTIL]
        if valid_from and valid_until and valid_until <= valid_from:
            bad(
                VALID_UNTIL,
                "失效时间必须晚于生效时间",
                "失效时间 (valid until) must be later than 生效时间 (valid from)",
            )

        # Uniqueness: against the knowledge base (by mode) and the rows above.
        target: int | None = None
        if key:
            owner = owners.get(key)
            if mode == "upsert" and key in existing:
                target = existing[key][0]
            if owner is not None and owner.row is not None:
                bad(
                    STANDARD,
                    f"标准问题与第 {owner.row} 行重复",
                    f"the standard question repeats a question of row {owner.row}",
                )
            elif owner is not None and owner.entry_id != target:
                if key in existing:
                    bad(
                        STANDARD,
                        f"标准问题“{standard}”已在知识库中（追加模式不改已有条目；要更新请用 upsert 模式）",
                        f"{standard!r} is already in the knowledge base"
                        " (append mode keeps existing entries; use upsert to update)",
                    )
                else:
                    bad(
                        STANDARD,
                        f"标准问题已是现有条目“{owner.label}”的相似问题",
                        f"the standard question is already a similar question of the entry {owner.label!r}",
                    )
        for q, qk in similar:
            owner = owners.get(qk)
            if owner is None or (owner.row is None and owner.entry_id == target and target is not None):
                continue
            if owner.row is not None:
                bad(
                    SIMILAR,
                    f"相似问题“{q}”与第 {owner.row} 行重复",
                    f"the similar question {q!r} repeats a question of row {owner.row}",
                )
            else:
                bad(
                    SIMILAR,
                    f"相似问题“{q}”已属于现有条目“{owner.label}”",
                    f"the similar question {q!r} already belongs to the entry {owner.label!r}",
                )
        # The row now owns its questions, so that a later row repeating one is reported against it.
        for k in [key, *(qk for _, qk in similar)]:
            owner = owners.get(k)
            if k and (owner is None or (owner.row is None and owner.entry_id == target and target is not None)):
                owners[k] = _Owner(target, number, f"第 {number} 行")

        if problems:
            errors.extend(problems)
        else:
            planned.append(
                PlannedEntry(
                    row=number,
                    standard_question=standard,
                    key=key,
                    similar=similar,
                    answer=answer,
                    category=category,
                    enabled=enabled,
                    valid_from=valid_from,
                    valid_until=valid_until,
                    existing_id=target,
                )
            )
    if progress:
        progress("validate", total, total)
    errors.sort(key=lambda e: e.row)
    return planned, errors


# --- writing -------------------------------------------------------------------------------------------------


def _format_time(value: datetime | None, tz: ZoneInfo) -> str:
    if value is None:
        return ""
    local = value.astimezone(tz)
    if local.time() == time(0, 0):
        return local.strftime("%Y-%m-%d")
    return local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")


def export_rows(db: Session, tenant_id: int) -> Iterator[list[str]]:
    """The tenant's entries as template rows (without the header), oldest first."""
    tenant = db.get(Tenant, tenant_id)
    tz = ZoneInfo(tenant.time_zone if tenant else "Asia/Shanghai")
    paths = category_paths(db, tenant_id)
    last = 0
    while True:  # in pages: 10,000 entries with their similar questions never sit in memory at once
        page = list(
            db.scalars(
                select(KbEntry)
                .where(KbEntry.tenant_id == tenant_id, KbEntry.id > last)
                .order_by(KbEntry.id)
                .limit(1000)
                .options(selectinload(KbEntry.similar))
            )
        )
        if not page:
            return
        for e in page:
            yield [
                e.standard_question,
                "\n".join(s.question for s in e.similar),
                answer_to_cell(e.answer),
                paths.get(e.category_id, "") if e.category_id is not None else "",
                "是" if e.enabled else "否",
                _format_time(e.valid_from, tz),
                _format_time(e.valid_until, tz),
            ]
        last = page[-1].id
        db.expunge_all()


EXAMPLE_ROWS = [
    [
        "怎么申请退货",
        "我想退货\n退货流程是什么\n买的东西不想要了怎么退",
        "签收后 7 天内，在“我的订单”中选择该订单，点击“申请售后”即可。",
        "售后/退货",
        "是",
        "",
        "",
    ],
    [
        "双11活动什么时候开始",
        "双十一几号开始\n双11活动时间",
        '活动于 11 月 10 日 20:00 开始，详见<a href="https://shop.example/1111" rel="noopener noreferrer">活动页</a>。',
        "活动",
        "是",
        "2026-10-20",
        "2026-11-12",
    ],
]

HELP_LINES = [
    ("列 column", "说明 / meaning"),
    (STANDARD, "必填。标准问题，文件内不能重复。/ Required: the standard question, unique in the file."),
    (SIMILAR, "可选。其他问法，单元格内每行一个。/ Optional: other wordings, one per line inside the cell."),
    (ANSWER, "必填。纯文本（保留换行）或 HTML（只保留安全标签：链接、图片、列表等）。/ Required: text or safe HTML."),
    (CATEGORY, "可选。分类路径，用 / 分级，如 售后/退货；不存在的分类会自动创建。/ Optional: category path."),
    (ENABLED, "可选。是 / 否，留空为 是。/ Optional: yes (是) or no (否); empty means yes."),
    (VALID_FROM, "可选。生效时间，如 2026-11-11 或 2026-11-11 08:00（企业时区）。/ Optional: in effect from."),
    (VALID_UNTIL, "可选。失效时间（不含）。/ Optional: in effect until (exclusive)."),
    ("", "表头为第 1 行；导入时报告的行号与 Excel 中看到的一致。/ The header is row 1, as Excel shows it."),
]


def _csv_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def write_csv(rows: Iterator[list[str]] | list[list[str]], *, columns: Sequence[str] = COLUMNS) -> bytes:
    """UTF-8 with a byte-order mark, so that Excel opens it with the right encoding."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def write_xlsx(
    rows: Iterator[list[str]] | list[list[str]],
    *,
    columns: Sequence[str] = COLUMNS,
    widths: Sequence[int] = (32, 40, 60, 20, 8, 18, 18),
    sheet_name: str = SHEET,
    help_lines: Sequence[tuple[str, str]] | None = None,
) -> bytes:
    """The rows under a bold header of ``columns`` (by default the knowledge-base template, with its
    instructions sheet)."""
    import openpyxl
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(sheet_name)
    for letter, width in zip(string.ascii_uppercase, widths, strict=False):
        sheet.column_dimensions[letter].width = width
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")

    def cell(value: str, **style: Any) -> WriteOnlyCell:
        c = WriteOnlyCell(sheet, value=value)
        if value.startswith("="):
            c.data_type = "s"  # text, never a formula
        for k, v in style.items():
            setattr(c, k, v)
        return c

    sheet.append([cell(name, font=bold) for name in columns])
    for row in rows:
        sheet.append([cell(v, alignment=wrap) if "\n" in v else cell(v) for v in row])
    notes = book.create_sheet(HELP_SHEET)
    notes.column_dimensions["A"].width = 12
    notes.column_dimensions["B"].width = 100
    for a, b in HELP_LINES if help_lines is None else help_lines:
        notes.append([a, b])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write_file(fmt: Literal["xlsx", "csv"], rows: Iterator[list[str]] | list[list[str]]) -> bytes:
    return write_xlsx(rows) if fmt == "xlsx" else write_csv(rows)


def template(fmt: Literal["xlsx", "csv"]) -> bytes:
    return write_file(fmt, EXAMPLE_ROWS)


MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


# --- the demo ------------------------------------------------------------------------------------------------


def load_demo_kb(db: Session, tenant_id: int) -> ImportResult:
    """The demo shop's FAQ into a tenant (upsert: running it again changes nothing)."""
    from kefu.actions.kb import do_import_kb

    data = resources.files("kefu").joinpath("demo_data", "shop_kb.csv").read_bytes()
    return do_import_kb(db, tenant_id, read_table(data, "shop_kb.csv"), mode="upsert", actor_id=None)
