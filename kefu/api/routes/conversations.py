"""Conversations for staff: list, read, fetch messages, end and transfer (会话管理).

Scoped like every other row: the caller's tenant first; then an administrator sees the whole tenant, a
supervisor or inspector the conversations owned by a team of his subtree (``Conversation.team_id``) and
those he serves himself, an agent only those he serves. Supervisors and administrators may end or
transfer any conversation in their scope, an agent only his own; inspectors only read. The rules are
the agent socket's (kefu/live/agent_socket.py ``_conversation_in_scope``), so REST and socket agree.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from kefu.access.caller import Caller
from kefu.access.scope import access_conversation, conversation_visible_clause
from kefu.actions.conversations import do_end_conversation, do_transfer_conversation
from kefu.api.deps import CallerDep, DbDep
from kefu.api.paging import PageNo, PageSize, page_of, paginate
from kefu.api.params import PathId, QueryId
from kefu.errors import Forbidden, Msg
from kefu.live.frames import SYNC_LIMIT
from kefu.live.service import message_dict
from kefu.models.conversation import Conversation, ConversationStatus, Message, SenderKind
from kefu.models.staff import Role
from kefu.schemas.common import Page
from kefu.schemas.conversation import (
    AnswerSuggestions,
    ConversationMessages,
    ConversationPublic,
    ConversationTransfer,
    MessagePublic,
)

router = APIRouter(prefix="/conversations", tags=["会话 conversations"])


def ender_of(caller: Caller, conv: Conversation) -> str:
    """Who ends or transfers, as ``ended_by``: the serving agent, or a supervisor/administrator whose scope
    holds the conversation. Anyone else who can see it (an inspector) gets 403."""
    if conv.agent_id == caller.user_id:
        return "agent"
    if caller.role in (Role.admin, Role.supervisor) and caller.sees_team(conv.team_id):
        return "supervisor"
    raise Forbidden(
        Msg("您不是该会话的接待坐席，也不是其主管", "you neither serve this conversation nor supervise it"),
        code="conversation.not_yours",
    )


@router.get("", response_model=Page[ConversationPublic], summary="会话列表 / list conversations")
def list_conversations(
    caller: CallerDep,
    db: DbDep,
    status: ConversationStatus | None = None,
    skill_group_id: QueryId = None,
    agent_id: QueryId = None,
    page: PageNo = 1,
    page_size: PageSize = 20,
) -> Page[ConversationPublic]:
    query = (
        select(Conversation)
        .where(Conversation.tenant_id == caller.tenant_id, conversation_visible_clause(caller))
        .order_by(Conversation.id.desc())
    )
    if status is not None:
        query = query.where(Conversation.status == status)
    if skill_group_id is not None:
        query = query.where(Conversation.skill_group_id == skill_group_id)
    if agent_id is not None:
        query = query.where(Conversation.agent_id == agent_id)
    rows, total = paginate(db, query, page, page_size)
    return page_of([ConversationPublic.model_validate(c) for c in rows], total, page, page_size)


@router.get("/{conversation_id}", response_model=ConversationPublic, summary="会话详情 / one conversation")
def get_conversation(conversation_id: PathId, caller: CallerDep, db: DbDep) -> Conversation:
    return access_conversation(db, caller, conversation_id)


@router.get(
    "/{conversation_id}/messages",
    response_model=ConversationMessages,
    summary="会话消息 / messages after a sequence number",
)
def list_messages(
    conversation_id: PathId,
    caller: CallerDep,
    db: DbDep,
    after_seq: Annotated[int, Query(ge=0, le=2**31 - 1, description="messages with seq > after_seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=SYNC_LIMIT)] = SYNC_LIMIT,
) -> ConversationMessages:
    conv = access_conversation(db, caller, conversation_id)
    rows = db.scalars(
        select(Message)
        .where(Message.conversation_id == conv.id, Message.seq > after_seq)
        .order_by(Message.seq)
        .limit(limit)
    ).all()
    return ConversationMessages(
        conversation=ConversationPublic.model_validate(conv),
        messages=[MessagePublic.model_validate(message_dict(m)) for m in rows],
        has_more=len(rows) == limit and rows[-1].seq < conv.last_seq,
    )


@router.get(
    "/{conversation_id}/suggestions",
    response_model=AnswerSuggestions,
    summary="推荐答案 / knowledge-base answers for the visitor's latest message (agent assist)",
)
def suggest_answers(
    conversation_id: PathId,
    caller: CallerDep,
    db: DbDep,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=10)] = 3,
) -> AnswerSuggestions:
    conv = access_conversation(db, caller, conversation_id)
    latest = db.execute(
        select(Message.id, Message.body)
        .where(Message.conversation_id == conv.id, Message.sender_kind == SenderKind.visitor, Message.body != "")
        .order_by(Message.seq.desc())
        .limit(1)
    ).one_or_none()
    if latest is None:
        return AnswerSuggestions(conversation_id=conv.id, for_message_id=None, query="", items=[])
    items = request.app.state.live.bot.suggestions(caller.tenant_id, latest.body, k=limit)
    return AnswerSuggestions.model_validate(
        {"conversation_id": conv.id, "for_message_id": latest.id, "query": latest.body, "items": items}
    )


@router.post("/{conversation_id}/end", response_model=ConversationPublic, summary="结束会话 / end a conversation")
def end_conversation(conversation_id: PathId, caller: CallerDep, db: DbDep) -> Conversation:
    conv = access_conversation(db, caller, conversation_id)
    ended_by = ender_of(caller, conv)
    return do_end_conversation(db, conv.id, tenant_id=caller.tenant_id, ended_by=ended_by, actor_id=caller.user_id)


@router.post(
    "/{conversation_id}/transfer",
    response_model=ConversationPublic,
    summary="转接会话 / transfer to an agent or a skill group",
)
def transfer_conversation(
    conversation_id: PathId, data: ConversationTransfer, caller: CallerDep, db: DbDep
) -> Conversation:
    conv = access_conversation(db, caller, conversation_id)
    ender_of(caller, conv)
    return do_transfer_conversation(
        db,
        conv.id,
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        to_agent_id=data.to_agent_id,
        to_group_id=data.to_group_id,
        note=data.note,
    )
