"""Schemas of the knowledge base (知识库) and its learning queue."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from kefu.models.kb import LearningReason, LearningStatus
from kefu.schemas.common import MULTI_LINE, ONE_LINE, Id, Name, ORMModel

MAX_QUESTION_LEN = 200
MAX_SIMILAR_PER_ENTRY = 200
#: Of the answer as sent (HTML or plain text); the stored HTML is at most this long too.
MAX_ANSWER_LEN = 10_000
MAX_CATEGORY_DEPTH = 5
MAX_WORD_LEN = 50
MAX_SYNONYMS_PER_SET = 50

Question = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION_LEN, pattern=ONE_LINE),
    Field(examples=["怎么申请退货"]),
]
Answer = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ANSWER_LEN, pattern=MULTI_LINE),
    Field(
        description="答案：HTML（保存前按白名单清理，脚本与事件属性一律去除）或纯文本（换行保留）"
        " / the answer: HTML (sanitised against an allow-list before it is stored: scripts and event "
        "handlers never survive) or plain text (line breaks kept)",
        examples=['签收后 7 天内可在<a href="https://shop.example/orders">我的订单</a>申请退货。'],
    ),
]
Word = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_WORD_LEN, pattern=r"^[^\x00-\x20\x7f]*$"),
    Field(description="词语（不含空格）/ a word (no spaces)", examples=["小米14"]),
]
ValidFrom = Annotated[
    AwareDatetime,
    Field(description="生效时间（含），带时区 / in effect from (inclusive), with time zone"),
]
ValidUntil = Annotated[
    AwareDatetime,
    Field(description="失效时间（不含），带时区 / in effect until (exclusive), with time zone"),
]

_ENTRY_EXAMPLE: dict[str, Any] = {
    "standard_question": "怎么申请退货",
    "similar_questions": ["我想退货", "退货流程是什么", "买的东西不想要了怎么退"],
    "answer": "签收后 7 天内，在“我的订单”中选择该订单，点击“申请售后”即可。",
    "category_id": 3,
    "enabled": True,
    "valid_from": None,
    "valid_until": "2026-12-31T16:00:00Z",
}


class KbEntryCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ENTRY_EXAMPLE]})

    standard_question: Question
    similar_questions: list[Question] = Field(default_factory=list, max_length=MAX_SIMILAR_PER_ENTRY)
    answer: Answer
    category_id: Id | None = None
    enabled: bool = True
    valid_from: ValidFrom | None = None
    valid_until: ValidUntil | None = None


class KbEntryUpdate(BaseModel):
    """Fields left out stay. ``similar_questions`` replaces the whole list (rows of questions kept keep
    their ids); an explicit null clears ``category_id``, ``valid_from`` or ``valid_until``."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"answer": "新的答案"}, {"enabled": False}, {"valid_until": None}]}
    )

    standard_question: Question | None = None
    similar_questions: list[Question] | None = Field(None, max_length=MAX_SIMILAR_PER_ENTRY)
    answer: Answer | None = None
    category_id: Id | None = None
    enabled: bool | None = None
    valid_from: ValidFrom | None = None
    valid_until: ValidUntil | None = None


class SimilarQuestionCreate(BaseModel):
    question: Question


class EntryMerge(BaseModel):
    merged_entry_id: Id = Field(
        description="并入本条目后被删除的条目 / the entry merged into this one (then deleted)", examples=[42]
    )


class EntryBrief(BaseModel):
    """An entry as the duplicate lists name it."""

    id: int
    standard_question: str
    similar_count: int
    category_path: str | None


class DuplicateSide(EntryBrief):
    matched_question: str = Field(description="相似的那个问法 / the question of this entry that matched")


class DuplicatePairPublic(BaseModel):
    """Two entries that ask the same thing; ``first`` has the more questions (the one to keep by default)."""

    score: float = Field(description="0..1，越高越像 / how alike, 0..1")
    first: DuplicateSide
    second: DuplicateSide


class DuplicateDismiss(BaseModel):
    entry_id: Id = Field(description="一个条目 / one entry of the pair", examples=[41])
    other_entry_id: Id = Field(description="另一个条目 / the other entry", examples=[42])


class DismissedPairPublic(BaseModel):
    """A pair an administrator marked 不是重复 (not duplicates): the duplicate list leaves it out."""

    id: int
    first: EntryBrief  # the lower entry id
    second: EntryBrief
    dismissed_by: str | None = Field(description="标记人 / who marked it (null: account deleted)")
    dismissed_at: datetime


class SimilarQuestionPublic(ORMModel):
    id: int
    question: str


class KbEntryPublic(ORMModel):
    id: int
    standard_question: str
    similar_questions: list[SimilarQuestionPublic]
    answer: str = Field(description="清理过的 HTML，可直接显示 / sanitised HTML, safe to show as is")
    category_id: int | None
    category_path: str | None = Field(description="分类路径，如 售后/退货 / the category path, e.g. 售后/退货")
    enabled: bool
    valid_from: datetime | None
    valid_until: datetime | None
    in_effect: bool = Field(
        description="现在是否被机器人使用（启用且在有效期内）/ used by the bot now (enabled and within its validity)"
    )
    created_at: datetime
    updated_at: datetime


class KbCategoryCreate(BaseModel):
    name: Annotated[Name, StringConstraints(pattern=r"^[^/\x00-\x1f\x7f]*$")] = Field(
        description="分类名称（不含 /）/ category name (no /)", examples=["退货"]
    )
    parent_id: Id | None = None


class KbCategoryUpdate(BaseModel):
    """Fields left out stay; ``parent_id`` null moves the category to the top level."""

    name: Annotated[Name, StringConstraints(pattern=r"^[^/\x00-\x1f\x7f]*$")] | None = None
    parent_id: Id | None = None


class KbCategoryPublic(ORMModel):
    id: int
    parent_id: int | None
    name: str
    path: str = Field(description="完整路径 / full path, e.g. 售后/退货")
    entry_count: int = Field(description="直接属于该分类的条目数 / entries directly in this category")
    created_at: datetime
    updated_at: datetime


class DictionaryWordsAdd(BaseModel):
    words: list[Word] = Field(min_length=1, max_length=1000, examples=[["小米14", "华为Mate60"]])


class DictionaryWordPublic(ORMModel):
    id: int
    word: str
    created_at: datetime


class SynonymSetIn(BaseModel):
    words: list[Word] = Field(
        min_length=2,
        max_length=MAX_SYNONYMS_PER_SET,
        description="同义的词（至少两个；一个词只能属于一组）"
        " / words that mean the same (two or more; a word is in one set at most)",
        examples=[["退款", "退钱", "返款"]],
    )


class SynonymSetPublic(ORMModel):
    id: int
    words: list[str]
    created_at: datetime
    updated_at: datetime


class ImportRowError(BaseModel):
    row: int = Field(description="文件中的行号（表头为第 1 行）/ row number in the file (the header is row 1)")
    column: str | None = Field(None, description="列名 / column")
    message: str


class ImportReport(BaseModel):
    ok: bool
    dry_run: bool
    mode: str
    rows: int = Field(description="数据行数 / data rows read")
    created: int = 0
    updated: int = 0
    deleted: int = 0
    categories_created: int = 0
    errors: list[ImportRowError] = Field(default_factory=list)


class LearningPick(BaseModel):
    entry_id: int
    question: str = Field(description="条目的标准问题 / the entry's standard question")
    count: int = Field(description="访客在推荐问题中选它的次数 / times visitors picked it among the suggestions")


class LearningItemPublic(ORMModel):
    id: int
    text: str
    samples: list[str]
    ask_count: int
    unhelpful_count: int
    last_reason: LearningReason
    candidates: list[int] = Field(
        description="机器人推荐的条目 id，最可能的在前 / entry ids the bot proposed, best first"
    )
    candidate_questions: list[str] = Field(description="这些条目的标准问题 / their standard questions")
    picks: list[LearningPick] = Field(
        default_factory=list,
        description="问过这个问题的访客在「您是不是想问」中选了哪些条目，次数多的在前"
        " / the entries visitors who asked this picked among the suggestions, most picked first",
    )
    status: LearningStatus
    entry_id: int | None = Field(description="挂到或新建的条目 / the entry it was attached to or made into")
    first_asked_at: datetime
    last_asked_at: datetime
    resolved_at: datetime | None


class LearningAttach(BaseModel):
    entry_id: Id
    question: Question | None = Field(
        None,
        description="作为相似问题加入的文字，默认为最先问到的原话"
        " / the wording to add; default the first wording asked",
    )


class LearningCreateEntry(BaseModel):
    standard_question: Question | None = Field(
        None, description="默认为最先问到的原话 / default: the first wording asked"
    )
    answer: Answer
    category_id: Id | None = None
