"""The knowledge base (知识库) and its learning queue.

Administrators change everything; every member of staff reads and searches entries and categories
(agents search while chatting); administrators, supervisors and inspectors also read the dictionary,
the synonyms, the learning queue and the export. See ``kefu.actions.kb`` and docs/kb.md.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, UploadFile
from sqlalchemy import case, exists, or_, select
from sqlalchemy.orm import selectinload

from kefu.actions.kb import (
    access_entry,
    access_learning_item,
    do_add_dictionary_words,
    do_add_similar_question,
    do_attach_to_entry,
    do_create_category,
    do_create_entry,
    do_create_entry_from_question,
    do_create_synonym_set,
    do_delete_category,
    do_delete_entry,
    do_delete_synonym_set,
    do_ignore,
    do_import_kb,
    do_merge_entries,
    do_remove_dictionary_word,
    do_remove_similar_question,
    do_reopen,
    do_update_category,
    do_update_entry,
    do_update_synonym_set,
    require_kb_admin,
    require_kb_staff,
)
from kefu.api.deps import CallerDep, DbDep, LangDep
from kefu.api.paging import PageNo, PageSize, like_pattern, page_of, paginate
from kefu.api.params import PathId, QueryId
from kefu.db.base import utcnow
from kefu.errors import Invalid
from kefu.kb.io import MAX_FILE_BYTES, MEDIA_TYPES, ImportRejected, Mode, export_rows, read_table, template, write_file
from kefu.kb.read import categories_public, category_paths, category_subtree, entry_public, learning_public
from kefu.models.kb import (
    KbCategory,
    KbDictionaryWord,
    KbEntry,
    KbLearningItem,
    KbSimilarQuestion,
    KbSynonymSet,
    LearningReason,
    LearningStatus,
)
from kefu.schemas.common import Page
from kefu.schemas.kb import (
    DictionaryWordPublic,
    DictionaryWordsAdd,
    EntryMerge,
    ImportReport,
    KbCategoryCreate,
    KbCategoryPublic,
    KbCategoryUpdate,
    KbEntryCreate,
    KbEntryPublic,
    KbEntryUpdate,
    LearningAttach,
    LearningCreateEntry,
    LearningItemPublic,
    SimilarQuestionCreate,
    SynonymSetIn,
    SynonymSetPublic,
)

router = APIRouter(prefix="/kb", tags=["知识库 knowledge base"])

SearchText = Annotated[
    str | None,
    Query(
        max_length=100,
        description="标准问题、相似问题或答案包含 / standard question, similar question or answer contains",
    ),
]
FileFormat = Annotated[Literal["xlsx", "csv"], Query(description="文件格式 / file format")]


# --- entries ---------------------------------------------------------------------------------------------


@router.get(
    "/entries",
    response_model=Page[KbEntryPublic],
    summary="知识库条目列表与搜索 / list and search entries",
    description="所有员工可查（坐席在会话中搜索知识库）。/ Every member of staff may read and search entries.",
)
def list_entries(
    caller: CallerDep,
    db: DbDep,
    q: SearchText = None,
    category_id: QueryId = None,
    include_subcategories: Annotated[
        bool, Query(description="包含下级分类的条目 / include entries of sub-categories")
    ] = True,
    enabled: Annotated[bool | None, Query(description="启用/停用 / enabled or disabled")] = None,
    in_effect: Annotated[
        bool | None, Query(description="现在是否被机器人使用（启用且在有效期内）/ used by the bot now")
    ] = None,
    page: PageNo = 1,
    page_size: PageSize = 20,
) -> Page[KbEntryPublic]:
    query = (
        select(KbEntry)
        .where(KbEntry.tenant_id == caller.tenant_id)
        .options(selectinload(KbEntry.similar))
        .order_by(KbEntry.id)
    )
    if category_id is not None:
        ids = category_subtree(db, caller.tenant_id, category_id) if include_subcategories else {category_id}
        query = query.where(KbEntry.category_id.in_(ids))
    if enabled is not None:
        query = query.where(KbEntry.enabled.is_(enabled))
    now = utcnow()
    effective = (
        KbEntry.enabled.is_(True)
        & (KbEntry.valid_from.is_(None) | (KbEntry.valid_from <= now))
        & (KbEntry.valid_until.is_(None) | (KbEntry.valid_until > now))
    )
    if in_effect is not None:
        query = query.where(effective if in_effect else ~effective)
    if q:
        pattern = like_pattern(q)
        similar = exists().where(
            KbSimilarQuestion.entry_id == KbEntry.id, KbSimilarQuestion.question.ilike(pattern, escape="\\")
        )
        query = query.where(
            or_(
                KbEntry.standard_question.ilike(pattern, escape="\\"),
                KbEntry.answer.ilike(pattern, escape="\\"),
                similar,
            )
        )
    rows, total = paginate(db, query, page, page_size)
    paths = category_paths(db, caller.tenant_id)
    return page_of([entry_public(e, paths, now) for e in rows], total, page, page_size)


def _entry_out(db: DbDep, tenant_id: int, entry: KbEntry) -> KbEntryPublic:
    return entry_public(entry, category_paths(db, tenant_id), utcnow())


@router.post(
    "/entries",
    response_model=KbEntryPublic,
    status_code=201,
    summary="新建条目 / create an entry (administrators)",
    description="标准问题与相似问题按规范化文本（全半角、大小写、标点、空白）在企业内唯一。"
    " / Standard and similar questions are unique in the tenant by normalised text (width, case, "
    "punctuation, spaces).",
)
def create_entry(data: KbEntryCreate, caller: CallerDep, db: DbDep) -> KbEntryPublic:
    return _entry_out(db, caller.tenant_id, do_create_entry(db, caller, data))


@router.get("/entries/{entry_id}", response_model=KbEntryPublic, summary="条目详情 / one entry")
def get_entry(entry_id: PathId, caller: CallerDep, db: DbDep) -> KbEntryPublic:
    return _entry_out(db, caller.tenant_id, access_entry(db, caller, entry_id))


@router.patch(
    "/entries/{entry_id}",
    response_model=KbEntryPublic,
    summary="修改条目 / change an entry (administrators)",
    description="未提交的字段保持不变；similar_questions 提交时替换整个列表；category_id、valid_from、valid_until "
    "提交 null 表示清除。 / Fields left out stay; similar_questions replaces the whole list; null clears "
    "category_id, valid_from or valid_until.",
)
def update_entry(entry_id: PathId, data: KbEntryUpdate, caller: CallerDep, db: DbDep) -> KbEntryPublic:
    return _entry_out(db, caller.tenant_id, do_update_entry(db, caller, entry_id, data))


@router.delete("/entries/{entry_id}", status_code=204, summary="删除条目 / delete an entry (administrators)")
def delete_entry(entry_id: PathId, caller: CallerDep, db: DbDep) -> Response:
    do_delete_entry(db, caller, entry_id)
    return Response(status_code=204)


@router.post(
    "/entries/{entry_id}/similar-questions",
    response_model=KbEntryPublic,
    status_code=201,
    summary="添加相似问题 / add a similar question (administrators)",
    description="已有的问法（按规范化文本）不重复添加。/ A wording the entry already has is not added twice.",
)
def add_similar(entry_id: PathId, data: SimilarQuestionCreate, caller: CallerDep, db: DbDep) -> KbEntryPublic:
    return _entry_out(db, caller.tenant_id, do_add_similar_question(db, caller, entry_id, data.question))


@router.delete(
    "/entries/{entry_id}/similar-questions/{similar_id}",
    status_code=204,
    summary="删除相似问题 / remove a similar question (administrators)",
)
def remove_similar(entry_id: PathId, similar_id: PathId, caller: CallerDep, db: DbDep) -> Response:
    do_remove_similar_question(db, caller, entry_id, similar_id)
    return Response(status_code=204)


@router.post(
    "/entries/{entry_id}/merge",
    response_model=KbEntryPublic,
    summary="合并条目 / merge another entry into this one (administrators)",
    description="被合并条目的标准问题和相似问题成为本条目的相似问题，被合并条目删除（其答案不保留）。"
    " / The merged entry's standard and similar questions become this entry's similar questions; the merged "
    "entry is deleted (its answer is not kept).",
)
def merge_entries(entry_id: PathId, data: EntryMerge, caller: CallerDep, db: DbDep) -> KbEntryPublic:
    return _entry_out(db, caller.tenant_id, do_merge_entries(db, caller, entry_id, data.merged_entry_id))


# --- categories ------------------------------------------------------------------------------------------


@router.get(
    "/categories",
    response_model=list[KbCategoryPublic],
    summary="分类（全部，按路径排序）/ all categories, by path",
)
def list_categories(caller: CallerDep, db: DbDep) -> list[KbCategoryPublic]:
    rows = db.scalars(select(KbCategory).where(KbCategory.tenant_id == caller.tenant_id))
    return sorted(categories_public(db, caller.tenant_id, rows), key=lambda c: (c.path, c.id))


@router.post("/categories", response_model=KbCategoryPublic, status_code=201, summary="新建分类 / create a category")
def create_category(data: KbCategoryCreate, caller: CallerDep, db: DbDep) -> KbCategoryPublic:
    category = do_create_category(db, caller, data)
    return categories_public(db, caller.tenant_id, [category])[0]


@router.patch(
    "/categories/{category_id}",
    response_model=KbCategoryPublic,
    summary="重命名或移动分类 / rename or move a category",
    description="parent_id 为 null 表示移到顶级。/ A null parent_id moves it to the top level.",
)
def update_category(category_id: PathId, data: KbCategoryUpdate, caller: CallerDep, db: DbDep) -> KbCategoryPublic:
    category = do_update_category(db, caller, category_id, data)
    return categories_public(db, caller.tenant_id, [category])[0]


@router.delete(
    "/categories/{category_id}",
    status_code=204,
    summary="删除分类 / delete a category",
    description="只能删除空分类（没有条目和子分类）。/ Only an empty category (no entries, no sub-categories).",
)
def delete_category(category_id: PathId, caller: CallerDep, db: DbDep) -> Response:
    do_delete_category(db, caller, category_id)
    return Response(status_code=204)


# --- dictionary and synonyms -----------------------------------------------------------------------------


@router.get("/dictionary", response_model=Page[DictionaryWordPublic], summary="企业词典 / the tenant's dictionary")
def list_dictionary(
    caller: CallerDep,
    db: DbDep,
    q: Annotated[str | None, Query(max_length=50, description="词语包含 / word contains")] = None,
    page: PageNo = 1,
    page_size: PageSize = 50,
) -> Page[DictionaryWordPublic]:
    require_kb_staff(caller)
    query = select(KbDictionaryWord).where(KbDictionaryWord.tenant_id == caller.tenant_id).order_by(KbDictionaryWord.id)
    if q:
        query = query.where(KbDictionaryWord.word.ilike(like_pattern(q), escape="\\"))
    rows, total = paginate(db, query, page, page_size)
    return page_of([DictionaryWordPublic.model_validate(r) for r in rows], total, page, page_size)


@router.post(
    "/dictionary",
    response_model=list[DictionaryWordPublic],
    status_code=201,
    summary="添加词语 / add words (administrators)",
    description="返回新加入的词；已有的词跳过。/ Returns the words added; words already there are skipped.",
)
def add_dictionary_words(data: DictionaryWordsAdd, caller: CallerDep, db: DbDep) -> list[DictionaryWordPublic]:
    return [DictionaryWordPublic.model_validate(r) for r in do_add_dictionary_words(db, caller, data.words)]


@router.delete("/dictionary/{word_id}", status_code=204, summary="删除词语 / remove a word (administrators)")
def remove_dictionary_word(word_id: PathId, caller: CallerDep, db: DbDep) -> Response:
    do_remove_dictionary_word(db, caller, word_id)
    return Response(status_code=204)


@router.get("/synonyms", response_model=Page[SynonymSetPublic], summary="同义词组 / synonym sets")
def list_synonyms(caller: CallerDep, db: DbDep, page: PageNo = 1, page_size: PageSize = 50) -> Page[SynonymSetPublic]:
    require_kb_staff(caller)
    query = select(KbSynonymSet).where(KbSynonymSet.tenant_id == caller.tenant_id).order_by(KbSynonymSet.id)
    rows, total = paginate(db, query, page, page_size)
    return page_of([SynonymSetPublic.model_validate(r) for r in rows], total, page, page_size)


@router.post(
    "/synonyms",
    response_model=SynonymSetPublic,
    status_code=201,
    summary="新建同义词组 / create a synonym set (administrators)",
)
def create_synonym_set(data: SynonymSetIn, caller: CallerDep, db: DbDep) -> KbSynonymSet:
    return do_create_synonym_set(db, caller, data.words)


@router.put(
    "/synonyms/{synonym_set_id}",
    response_model=SynonymSetPublic,
    summary="修改同义词组 / replace a synonym set's words (administrators)",
)
def update_synonym_set(synonym_set_id: PathId, data: SynonymSetIn, caller: CallerDep, db: DbDep) -> KbSynonymSet:
    return do_update_synonym_set(db, caller, synonym_set_id, data.words)


@router.delete(
    "/synonyms/{synonym_set_id}", status_code=204, summary="删除同义词组 / delete a synonym set (administrators)"
)
def delete_synonym_set(synonym_set_id: PathId, caller: CallerDep, db: DbDep) -> Response:
    do_delete_synonym_set(db, caller, synonym_set_id)
    return Response(status_code=204)


# --- import, export, template ------------------------------------------------------------------------------


@router.post(
    "/import",
    response_model=ImportReport,
    summary="导入知识库（Excel/CSV）/ import entries from .xlsx or .csv (administrators)",
    description="先校验整个文件：任何一行有误则不导入任何内容，并以 422 返回每一行的错误（error.errors：row 行号、"
    "column 列、message）。mode：append 只追加（已存在的标准问题报错）；upsert 更新同名条目并追加其余；replace "
    "先删除全部条目再导入。dry_run=true 只校验。模板见 GET /kb/template。"
    " / The whole file is validated first: if any row is bad nothing is imported and the answer is 422 with "
    "every bad row in error.errors (row, column, message). mode: append adds (an existing standard question "
    "is an error); upsert updates entries with the same standard question and adds the rest; replace deletes "
    "every entry first. dry_run=true only validates. Template: GET /kb/template.",
)
def import_entries(
    file: UploadFile,
    caller: CallerDep,
    db: DbDep,
    lang: LangDep,
    mode: Annotated[Mode, Query(description="append | upsert | replace")] = "append",
    dry_run: Annotated[bool, Query(description="只校验不导入 / validate only")] = False,
) -> ImportReport:
    require_kb_admin(caller)
    data = file.file.read(MAX_FILE_BYTES + 1)
    table = read_table(data, file.filename)
    try:
        result = do_import_kb(db, caller.tenant_id, table, mode=mode, actor_id=caller.user_id, dry_run=dry_run)
    except ImportRejected as e:
        raise Invalid(e.msg, code=e.code, rows=e.rows, errors=[err.to_dict(lang) for err in e.errors]) from e
    return ImportReport(
        ok=True,
        dry_run=result.dry_run,
        mode=result.mode,
        rows=result.rows,
        created=result.created,
        updated=result.updated,
        deleted=result.deleted,
        categories_created=result.categories_created,
    )


def _download(content: bytes, fmt: str, stem: str) -> Response:
    return Response(
        content=content,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{stem}.{fmt}"'},
    )


_FILE_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {MEDIA_TYPES["xlsx"]: {}, MEDIA_TYPES["csv"]: {}}, "description": "文件 / the file"}
}


@router.get(
    "/export",
    response_class=Response,
    responses=_FILE_RESPONSES,
    summary="导出知识库 / export every entry in the import template",
)
def export_entries(caller: CallerDep, db: DbDep, format: FileFormat = "xlsx") -> Response:
    require_kb_staff(caller)
    content = write_file(format, export_rows(db, caller.tenant_id))
    return _download(content, format, f"kb-{date.today():%Y%m%d}")


@router.get(
    "/template",
    response_class=Response,
    responses=_FILE_RESPONSES,
    summary="下载导入模板 / the import template, with two example rows",
)
def import_template(caller: CallerDep, format: FileFormat = "xlsx") -> Response:
    require_kb_staff(caller)
    return _download(template(format), format, "kb-template")


# --- learning queue ----------------------------------------------------------------------------------------


@router.get(
    "/learning",
    response_model=Page[LearningItemPublic],
    summary="待学习问题 / the learning queue",
    description="机器人未能回答或被评为无帮助的问题，按规范化文本归并。默认待处理的在前，再按次数从多到少。"
    " / Questions the bot could not answer or whose answer was unhelpful, grouped by normalised text; open "
    "ones first, then by count.",
)
def list_learning(
    caller: CallerDep,
    db: DbDep,
    status: LearningStatus | None = None,
    reason: Annotated[LearningReason | None, Query(description="最近一次的原因 / the latest reason")] = None,
    q: Annotated[str | None, Query(max_length=100, description="问题包含 / text contains")] = None,
    page: PageNo = 1,
    page_size: PageSize = 20,
) -> Page[LearningItemPublic]:
    require_kb_staff(caller)
    query = (
        select(KbLearningItem)
        .where(KbLearningItem.tenant_id == caller.tenant_id)
        .order_by(
            case((KbLearningItem.status == LearningStatus.open, 0), else_=1),
            KbLearningItem.ask_count.desc(),
            KbLearningItem.last_asked_at.desc(),
            KbLearningItem.id,
        )
    )
    if status is not None:
        query = query.where(KbLearningItem.status == status)
    if reason is not None:
        query = query.where(KbLearningItem.last_reason == reason)
    if q:
        query = query.where(KbLearningItem.text.ilike(like_pattern(q), escape="\\"))
    rows, total = paginate(db, query, page, page_size)
    return page_of(learning_public(db, caller.tenant_id, rows), total, page, page_size)


def _item_out(db: DbDep, tenant_id: int, item: KbLearningItem) -> LearningItemPublic:
    return learning_public(db, tenant_id, [item])[0]


@router.get("/learning/{item_id}", response_model=LearningItemPublic, summary="待学习问题详情 / one item")
def get_learning_item(item_id: PathId, caller: CallerDep, db: DbDep) -> LearningItemPublic:
    return _item_out(db, caller.tenant_id, access_learning_item(db, caller, item_id))


@router.post(
    "/learning/{item_id}/attach",
    response_model=LearningItemPublic,
    summary="挂到已有条目作为相似问题 / attach to an entry as a similar question (administrators)",
    description="机器人立即使用（kb.entry_updated）。/ The bot uses it at once (kb.entry_updated).",
)
def attach_learning_item(item_id: PathId, data: LearningAttach, caller: CallerDep, db: DbDep) -> LearningItemPublic:
    item = do_attach_to_entry(db, caller, item_id, data.entry_id, data.question)
    return _item_out(db, caller.tenant_id, item)


@router.post(
    "/learning/{item_id}/create-entry",
    response_model=LearningItemPublic,
    status_code=201,
    summary="新建条目 / make a new entry of it (administrators)",
    description="返回的 entry_id 为新条目。/ entry_id in the answer is the new entry.",
)
def create_entry_from_learning_item(
    item_id: PathId, data: LearningCreateEntry, caller: CallerDep, db: DbDep
) -> LearningItemPublic:
    item, _entry = do_create_entry_from_question(db, caller, item_id, data)
    return _item_out(db, caller.tenant_id, item)


@router.post("/learning/{item_id}/ignore", response_model=LearningItemPublic, summary="忽略 / ignore (administrators)")
def ignore_learning_item(item_id: PathId, caller: CallerDep, db: DbDep) -> LearningItemPublic:
    return _item_out(db, caller.tenant_id, do_ignore(db, caller, item_id))


@router.post(
    "/learning/{item_id}/reopen",
    response_model=LearningItemPublic,
    summary="重新打开 / back to the open queue (administrators)",
)
def reopen_learning_item(item_id: PathId, caller: CallerDep, db: DbDep) -> LearningItemPublic:
    return _item_out(db, caller.tenant_id, do_reopen(db, caller, item_id))
