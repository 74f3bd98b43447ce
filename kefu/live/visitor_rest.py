"""The visitor's REST fallback (docs/protocol.md "REST fallback for visitors"): what the visitor socket
does, for a widget that cannot keep a WebSocket open (corporate proxies, app web views).

``POST /visitor/session`` is ``hello``; every other request carries the visitor token it returned in the
``X-Visitor-Token`` header, checked on each request (the visitor and the channel must still exist and
the channel be enabled). Messages go through the same group-commit writer as the socket, so a send is
answered only after commit, resends with the same ``client_msg_id`` are stored once, and the agent's
socket hears the message from the same committed event. Conversations are started and queued by the
same code as the socket's (:func:`kefu.live.visitor_socket.open_conversation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from kefu.actions.conversations import do_end_conversation, do_rate_conversation
from kefu.actions.messages import SendRequest
from kefu.actions.visitors import do_open_visitor, visitor_for_token
from kefu.db.session import Database
from kefu.errors import Conflict, Msg, NotAuthenticated
from kefu.live import frames
from kefu.live.hub import ack_frame
from kefu.live.service import Live, messages_after
from kefu.live.visitor_socket import (
    conversation_dict,
    current_conversation,
    customer_of,
    give_feedback,
    open_conversation,
)
from kefu.models.conversation import Conversation, MessageKind, SenderKind
from kefu.schemas.common import MAX_ID
from kefu.schemas.conversation import (
    MessageAck,
    VisitorConversation,
    VisitorFeedback,
    VisitorFeedbackGiven,
    VisitorHuman,
    VisitorMessages,
    VisitorMessageSend,
    VisitorRate,
    VisitorRated,
    VisitorSessionOpen,
    VisitorSessionPublic,
)

router = APIRouter(prefix="/visitor", tags=["访客 visitor (REST fallback)"])

#: The visitor routes, for kefu.app.PUBLIC_PATHS: they authenticate visitors by token, not staff.
PUBLIC_PATHS = frozenset(
    {
        "/visitor/session",
        "/visitor/messages",
        "/visitor/human",
        "/visitor/end",
        "/visitor/rate",
        "/visitor/feedback",
    }
)


@dataclass(frozen=True)
class VisitorRef:
    tenant_id: int
    channel_id: int
    visitor_id: int


def _live(request: Request) -> Live:
    return request.app.state.live  # type: ignore[no-any-return]


def get_visitor(
    request: Request,
    x_visitor_token: Annotated[
        str | None, Header(max_length=512, description="访客令牌 / the visitor token from POST /visitor/session")
    ] = None,
) -> VisitorRef:
    """The visitor of the token; 401 ``visitor.bad_token`` without a valid one, 403 ``channel.disabled``."""
    if not x_visitor_token:
        raise NotAuthenticated(Msg("缺少访客凭证", "the X-Visitor-Token header is missing"), code="visitor.bad_token")
    live = _live(request)
    with live.database.session() as db:
        visitor, channel = visitor_for_token(db, x_visitor_token, secret_key=live.settings.secret_key)
        return VisitorRef(channel.tenant_id, channel.id, visitor.id)


VisitorDep = Annotated[VisitorRef, Depends(get_visitor)]


def _no_conversation(what: Msg) -> Conflict:
    return Conflict(what, code="conversation.none")


# --- session (hello) ------------------------------------------------------------------------------------


@router.post("/session", response_model=VisitorSessionPublic, summary="访客会话（REST 版 hello）/ open a visitor")
def open_session(data: VisitorSessionOpen, request: Request) -> dict[str, Any]:
    live = _live(request)
    customer = customer_of(data.customer.model_dump()) if data.customer is not None else None
    with live.database.session() as db:
        opened = do_open_visitor(
            db,
            widget_key=data.widget_key,
            secret_key=live.settings.secret_key,
            visitor_token=data.visitor_token,
            customer=customer,
            user_agent=request.headers.get("user-agent"),
            ip=request.client.host if request.client else None,
        )
        who = VisitorRef(opened.channel.tenant_id, opened.channel.id, opened.visitor.id)
        token = opened.token
    conv = current_conversation(
        live.database, channel_id=who.channel_id, visitor_id=who.visitor_id, wanted=data.conversation_id
    )
    msgs: list[dict[str, Any]] = []
    if conv is not None:
        start = data.after_seq if data.after_seq is not None else max(0, conv["last_seq"] - frames.SYNC_LIMIT)
        msgs = messages_after(live.database, conv["id"], start, frames.SYNC_LIMIT)
    return {
        "visitor_id": who.visitor_id,
        "visitor_token": token,
        "conversation": conv,
        "messages": msgs,
        "has_more": len(msgs) == frames.SYNC_LIMIT,
    }


# --- messages -------------------------------------------------------------------------------------------


@router.post("/messages", response_model=MessageAck, summary="发送消息 / send a message (ack after commit)")
async def send_message(data: VisitorMessageSend, who: VisitorDep, request: Request) -> dict[str, Any]:
    live = _live(request)
    attachment = None
    if data.kind != "text":
        from kefu.live.uploads import attachment_from_frame

        frame = {"kind": data.kind, "attachment_token": data.attachment_token}
        attachment = await run_in_threadpool(attachment_from_frame, live.settings, who.tenant_id, frame)
    # As the socket's send: to the open conversation, started (and queued when the channel has no bot) if
    # there is none; when it ends between finding it and storing, the message starts a new one.
    for _attempt in range(2):
        conv = await run_in_threadpool(
            open_conversation,
            live,
            tenant_id=who.tenant_id,
            channel_id=who.channel_id,
            visitor_id=who.visitor_id,
            skill_group_id=None,
            queue=False,
        )
        message = SendRequest(
            conversation_id=conv["id"],
            tenant_id=who.tenant_id,
            sender_kind=SenderKind.visitor,
            sender_id=who.visitor_id,
            body=data.body,
            kind=MessageKind(data.kind),
            client_msg_id=data.client_msg_id,
            attachment=attachment,
        )
        try:
            stored = await live.writer.send(message)
        except Conflict as exc:
            if exc.code != "conversation.ended":
                raise
            continue
        if conv["status"] == "bot" and data.kind == "text" and not stored.duplicate:
            # The bot's reply is stored before this answer: the next fetch has it.
            await _bot_turn(live, who, conv["id"], data.body, data.entry_id)
        return ack_frame(stored, message)
    raise Conflict(Msg("会话已结束", "the conversation has ended"), code="conversation.ended")


async def _bot_turn(live: Live, who: VisitorRef, conversation_id: int, text: str, entry_id: int | None) -> None:
    turn = await run_in_threadpool(
        live.bot.turn, tenant_id=who.tenant_id, conversation_id=conversation_id, text=text, entry_id=entry_id
    )
    if turn is not None and turn.reply.handover:
        await run_in_threadpool(
            open_conversation,
            live,
            tenant_id=who.tenant_id,
            channel_id=who.channel_id,
            visitor_id=who.visitor_id,
            skill_group_id=None,
            queue=True,
            reason=f"bot_{turn.reply.outcome}",
        )


@router.post(
    "/feedback", response_model=VisitorFeedbackGiven, summary="评价机器人回答 / helpful or not, on a bot answer"
)
def bot_feedback(data: VisitorFeedback, who: VisitorDep, request: Request) -> dict[str, Any]:
    given = give_feedback(_live(request).database, who.tenant_id, who.visitor_id, data.message_id, data.helpful)
    return {"type": "feedback"} | given


@router.get("/messages", response_model=VisitorMessages, summary="拉取消息 / messages after a sequence number")
def fetch_messages(
    who: VisitorDep,
    request: Request,
    after_seq: Annotated[int, Query(ge=0, le=2**31 - 1, description="messages with seq > after_seq")] = 0,
    conversation_id: Annotated[int | None, Query(gt=0, le=MAX_ID, description="default: the open one")] = None,
) -> dict[str, Any]:
    database = _live(request).database
    conv = current_conversation(database, channel_id=who.channel_id, visitor_id=who.visitor_id, wanted=conversation_id)
    if conv is None:
        return {"conversation": None, "messages": [], "has_more": False}
    msgs = messages_after(database, conv["id"], after_seq, frames.SYNC_LIMIT)
    return {"conversation": conv, "messages": msgs, "has_more": len(msgs) == frames.SYNC_LIMIT}


# --- human, end, rate -----------------------------------------------------------------------------------


@router.post("/human", response_model=VisitorConversation, summary="转人工 / ask for a person")
def ask_for_person(who: VisitorDep, request: Request, data: VisitorHuman | None = None) -> dict[str, Any]:
    return open_conversation(
        _live(request),
        tenant_id=who.tenant_id,
        channel_id=who.channel_id,
        visitor_id=who.visitor_id,
        skill_group_id=data.skill_group_id if data is not None else None,
        queue=True,
    )


@router.post("/end", response_model=VisitorConversation, summary="结束会话 / end the open conversation")
def end_conversation(who: VisitorDep, request: Request) -> dict[str, Any]:
    database = _live(request).database
    conv = current_conversation(database, channel_id=who.channel_id, visitor_id=who.visitor_id, wanted=None)
    if conv is None:
        raise _no_conversation(Msg("没有进行中的会话", "there is no open conversation"))
    with database.session() as db:
        ended = do_end_conversation(db, conv["id"], tenant_id=who.tenant_id, ended_by="visitor")
        return conversation_dict(ended, conv["agent_name"])


@router.post("/rate", response_model=VisitorRated, summary="满意度评价 / rate a conversation")
def rate_conversation(data: VisitorRate, who: VisitorDep, request: Request) -> dict[str, Any]:
    database: Database = _live(request).database
    with database.session() as db:
        query = select(Conversation.id).where(
            Conversation.visitor_id == who.visitor_id, Conversation.channel_id == who.channel_id
        )
        if data.conversation_id is not None:
            query = query.where(Conversation.id == data.conversation_id)
        cid = db.scalar(query.order_by(Conversation.id.desc()).limit(1))
        if cid is None:
            raise _no_conversation(Msg("没有可评价的会话", "there is no conversation to rate"))
        do_rate_conversation(db, cid, tenant_id=who.tenant_id, rating=data.rating, comment=data.comment)
    return {"type": "rated", "conversation_id": cid, "rating": data.rating}
