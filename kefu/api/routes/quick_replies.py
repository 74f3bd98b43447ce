"""Quick replies (快捷回复): the agent's own and his teams' canned texts (kefu/actions/quick_replies.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import case, select

from kefu.access.caller import Caller
from kefu.actions.quick_replies import (
    access_quick_reply,
    can_edit,
    do_create_quick_reply,
    do_delete_quick_reply,
    do_update_quick_reply,
    visible_clause,
)
from kefu.api.deps import CallerDep, DbDep
from kefu.api.paging import PageNo, PageSize, like_pattern, page_of, paginate
from kefu.api.params import PathId
from kefu.models.quick_reply import QuickReply, QuickReplyScope
from kefu.schemas.common import Page
from kefu.schemas.quick_reply import QuickReplyCreate, QuickReplyPublic, QuickReplyUpdate

router = APIRouter(prefix="/quick-replies", tags=["快捷回复 quick replies"])


def _out(caller: Caller, reply: QuickReply) -> QuickReplyPublic:
    out = QuickReplyPublic.model_validate(reply)
    out.can_edit = can_edit(caller, reply)
    return out


@router.get(
    "",
    response_model=Page[QuickReplyPublic],
    summary="快捷回复列表 / the quick replies the caller may use",
    description="本人的个人回复，以及本人所在团队及其上级团队的团队回复（主管另见其管辖团队的，管理员见全部团队的）。"
    " / The caller's personal replies and the team replies of his teams and the teams above them (a "
    "supervisor also those of the teams he keeps; an administrator every team's).",
)
def list_quick_replies(
    caller: CallerDep,
    db: DbDep,
    scope: Annotated[QuickReplyScope | None, Query(description="personal | team")] = None,
    q: Annotated[str | None, Query(max_length=100, description="标题或内容包含 / title or body contains")] = None,
    page: PageNo = 1,
    page_size: PageSize = 100,
) -> Page[QuickReplyPublic]:
    query = (
        select(QuickReply)
        .where(visible_clause(db, caller))
        .order_by(case((QuickReply.scope == QuickReplyScope.team, 0), else_=1), QuickReply.id)
    )
    if scope is not None:
        query = query.where(QuickReply.scope == scope)
    if q:
        pattern = like_pattern(q)
        query = query.where(QuickReply.title.ilike(pattern, escape="\\") | QuickReply.body.ilike(pattern, escape="\\"))
    rows, total = paginate(db, query, page, page_size)
    return page_of([_out(caller, r) for r in rows], total, page, page_size)


@router.post(
    "",
    response_model=QuickReplyPublic,
    status_code=201,
    summary="新建快捷回复 / create a quick reply",
    description="个人回复任何员工可建；团队回复由该团队的主管（或上级团队主管）和管理员创建。"
    " / Anyone creates personal replies; team replies are created by the team's supervisors and the "
    "administrators.",
)
def create_quick_reply(data: QuickReplyCreate, caller: CallerDep, db: DbDep) -> QuickReplyPublic:
    return _out(caller, do_create_quick_reply(db, caller, data))


@router.get("/{quick_reply_id}", response_model=QuickReplyPublic, summary="快捷回复详情 / one quick reply")
def get_quick_reply(quick_reply_id: PathId, caller: CallerDep, db: DbDep) -> QuickReplyPublic:
    return _out(caller, access_quick_reply(db, caller, quick_reply_id))


@router.patch("/{quick_reply_id}", response_model=QuickReplyPublic, summary="修改快捷回复 / change a quick reply")
def update_quick_reply(
    quick_reply_id: PathId, data: QuickReplyUpdate, caller: CallerDep, db: DbDep
) -> QuickReplyPublic:
    return _out(caller, do_update_quick_reply(db, caller, quick_reply_id, data))


@router.delete("/{quick_reply_id}", status_code=204, summary="删除快捷回复 / delete a quick reply")
def delete_quick_reply(quick_reply_id: PathId, caller: CallerDep, db: DbDep) -> Response:
    do_delete_quick_reply(db, caller, quick_reply_id)
    return Response(status_code=204)
