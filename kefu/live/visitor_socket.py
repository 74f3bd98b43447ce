"""The visitor's WebSocket: ``/ws/visitor`` (see docs/protocol.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from kefu.actions.bot import do_bot_feedback
from kefu.actions.conversations import (
    do_end_conversation,
    do_queue_conversation,
    do_rate_conversation,
    do_start_conversation,
)
from kefu.actions.messages import SendRequest
from kefu.actions.visitors import do_open_visitor
from kefu.db.session import Database
from kefu.errors import Conflict, Invalid, KefuError, Msg, pick_language
from kefu.live import frames
from kefu.live.hub import VisitorConnection
from kefu.live.service import Live, messages_after
from kefu.models.channel import Channel
from kefu.models.conversation import Conversation, ConversationStatus, MessageKind, SenderKind
from kefu.models.skill_group import SkillGroup
from kefu.models.staff import User
from kefu.visitors.identity import SignedCustomer

log = logging.getLogger(__name__)

router = APIRouter()

HELLO_TIMEOUT = 15.0


def conversation_dict(c: Conversation, agent_name: str | None = None) -> dict[str, Any]:
    return {
        "id": c.id,
        "status": c.status.value,
        "skill_group_id": c.skill_group_id,
        "agent_id": c.agent_id,
        "agent_name": agent_name,
        "last_seq": c.last_seq,
        "created_at": c.created_at.isoformat(),
        "queued_at": c.queued_at.isoformat() if c.queued_at else None,
        "ended_at": c.ended_at.isoformat() if c.ended_at else None,
        "rating": c.rating,
        "ratable": c.status is ConversationStatus.ended and c.agent_id is not None and c.rating is None,
    }


def customer_of(data: Any) -> SignedCustomer | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise Invalid(Msg("customer 须为对象", "customer must be an object"), code="frame.bad_field", field="customer")
    try:
        return SignedCustomer(
            customer_id=str(data["id"]),
            ts=int(data["ts"]),
            signature=str(data["sig"]),
            name=data.get("name"),
            phone=data.get("phone"),
            email=data.get("email"),
            vip=data.get("vip"),
        )
    except (KeyError, TypeError, ValueError):
        raise Invalid(
            Msg("customer 须含 id、ts、sig", "customer needs id, ts and sig"), code="frame.bad_field", field="customer"
        ) from None


def current_conversation(
    database: Database, *, channel_id: int, visitor_id: int, wanted: int | None
) -> dict[str, Any] | None:
    """The visitor's conversation ``wanted`` (only if it is his, on this channel), else his open one.
    (Shared by the socket and the REST fallback, kefu/live/visitor_rest.py.)"""
    with database.session() as db:
        query = select(Conversation).where(Conversation.visitor_id == visitor_id, Conversation.channel_id == channel_id)
        if wanted is not None:
            conv = db.scalar(query.where(Conversation.id == wanted))
        else:
            conv = db.scalar(
                query.where(Conversation.status != ConversationStatus.ended).order_by(Conversation.id.desc())
            )
        if conv is None:
            return None
        name = db.get(User, conv.agent_id).display_name if conv.agent_id else None  # type: ignore[union-attr]
        return conversation_dict(conv, name)


def give_feedback(
    database: Database, tenant_id: int, visitor_id: int, message_id: int, helpful: bool
) -> dict[str, Any]:
    """The visitor's verdict on a bot answer (shared by the socket and the REST fallback)."""
    with database.session() as db:
        bot = do_bot_feedback(db, message_id, tenant_id=tenant_id, visitor_id=visitor_id, helpful=helpful)
    return {"message_id": message_id, "helpful": helpful, "feedback": bot.get("feedback")}


def open_conversation(
    live: Live,
    *,
    tenant_id: int,
    channel_id: int,
    visitor_id: int,
    skill_group_id: int | None,
    queue: bool,
    reason: str = "visitor",
) -> dict[str, Any]:
    """The visitor's open conversation, started if there is none; queued for a person if asked (or
    when the channel has no bot: then every conversation goes to people). (Shared by the socket and the
    REST fallback.)"""
    with live.database.session() as db:
        conv = db.scalar(
            select(Conversation)
            .where(
                Conversation.visitor_id == visitor_id,
                Conversation.channel_id == channel_id,
                Conversation.status != ConversationStatus.ended,
            )
            .order_by(Conversation.id.desc())
        )
        channel = db.get_one(Channel, channel_id)
        if conv is None:
            conv = do_start_conversation(db, tenant_id=tenant_id, channel_id=channel_id, visitor_id=visitor_id)
        has_bot = bool((channel.config or {}).get("bot_enabled"))
        notice: dict[str, Any] | None = None
        if conv.status is ConversationStatus.bot and (queue or not has_bot):
            group_id = skill_group_id or channel.default_skill_group_id
            if group_id is None:
                raise Conflict(
                    Msg("该渠道未设置接待技能组，暂时无法转人工", "this channel has no skill group for people yet"),
                    code="channel.no_group",
                )
            group = db.scalar(select(SkillGroup).where(SkillGroup.id == group_id, SkillGroup.tenant_id == tenant_id))
            if group is None:
                raise Invalid(Msg("技能组不存在", "no such skill group"), code="skill_group.unknown")
            closed = live.routing.closed_message(group) if live.routing is not None else None
            if closed is not None:
                notice = closed
            else:
                conv = do_queue_conversation(
                    db, conv.id, tenant_id=tenant_id, skill_group_id=group.id, reason=reason if has_bot else "no_bot"
                )
        out = conversation_dict(conv)
        if notice is not None:
            out["notice"] = notice
        return out


class VisitorSession:
    """One visitor socket after ``hello``."""

    def __init__(self, live: Live, websocket: WebSocket, lang: str) -> None:
        self.live = live
        self.database = live.database
        self.websocket = websocket
        self.lang = lang
        self.tenant_id = 0
        self.channel_id = 0
        self.visitor_id = 0
        self.conn: VisitorConnection | None = None
        self.open_conversation_id: int | None = None
        #: The open conversation is with the bot: each text message of the visitor gets the bot's turn.
        self.bot_phase = False
        self._bot_turns: set[asyncio.Task[None]] = set()

    # --- hello ------------------------------------------------------------------------------------------

    async def hello(self, frame: dict[str, Any]) -> dict[str, Any]:
        if frame.get("type") != "hello":
            raise Invalid(Msg("第一帧须为 hello", "the first frame must be hello"), code="frame.hello_first")
        widget_key = frames.need_str(frame, "widget_key", max_len=64) or ""
        token = frames.need_str(frame, "visitor_token", optional=True, max_len=512)
        customer = customer_of(frame.get("customer"))
        want_conv = frames.need_int(frame, "conversation_id", optional=True)
        after_seq = frames.need_int(frame, "after_seq", optional=True)
        headers = self.websocket.headers
        client = self.websocket.client
        secret = self.live.settings.secret_key

        def open_visitor() -> tuple[int, int, int, str]:
            with self.database.session() as db:
                opened = do_open_visitor(
                    db,
                    widget_key=widget_key,
                    secret_key=secret,
                    visitor_token=token,
                    customer=customer,
                    user_agent=headers.get("user-agent"),
                    ip=client.host if client else None,
                )
                return opened.channel.tenant_id, opened.channel.id, opened.visitor.id, opened.token

        self.tenant_id, self.channel_id, self.visitor_id, new_token = await run_in_threadpool(open_visitor)
        conn = self.conn = VisitorConnection(self.websocket, self.tenant_id, self.visitor_id)
        conv = await run_in_threadpool(self._current_conversation, want_conv)
        # Watch before reading what was missed: a message committed in between arrives twice at worst,
        # and clients drop a repeated seq.
        self.live.hub.watch_conversation(conn, conv["id"] if conv else None)
        self.bot_phase = conv is not None and conv["status"] == "bot"
        if conv is not None and conv["status"] in ("queued", "offered"):
            self.live.hub.mark_waiting(conv["id"], self.tenant_id, conv["skill_group_id"])
        missed: list[dict[str, Any]] = []
        if conv is not None:
            start = after_seq if after_seq is not None else max(0, conv["last_seq"] - frames.SYNC_LIMIT)
            missed = await run_in_threadpool(messages_after, self.database, conv["id"], start, frames.SYNC_LIMIT)
        return {
            "type": "welcome",
            "protocol": frames.PROTOCOL_VERSION,
            "visitor_id": self.visitor_id,
            "visitor_token": new_token,
            "conversation": conv,
            "messages": missed,
            "has_more": len(missed) == frames.SYNC_LIMIT,
        }

    def _current_conversation(self, wanted: int | None) -> dict[str, Any] | None:
        return current_conversation(
            self.database, channel_id=self.channel_id, visitor_id=self.visitor_id, wanted=wanted
        )

    # --- frames -----------------------------------------------------------------------------------------

    async def handle(self, frame: dict[str, Any]) -> dict[str, Any] | None:
        kind = frame["type"]
        if kind == "send":
            return await self.send(frame)
        if kind == "human":
            return await self.ask_for_person(frame)
        if kind == "sync":
            return await self.sync(frame)
        if kind in ("typing", "read"):
            await self.transient(kind, frame)
            return None
        if kind == "end":
            return await self.end()
        if kind == "rate":
            return await self.rate(frame)
        if kind == "feedback":
            return await self.feedback(frame)
        if kind == "ping":
            return {"type": "pong"}
        raise frames.unknown_type(kind)

    def _open_conversation(self, skill_group_id: int | None, *, queue: bool, reason: str = "visitor") -> dict[str, Any]:
        return open_conversation(
            self.live,
            tenant_id=self.tenant_id,
            channel_id=self.channel_id,
            visitor_id=self.visitor_id,
            skill_group_id=skill_group_id,
            queue=queue,
            reason=reason,
        )

    async def _ensure_watching(self, conv: dict[str, Any]) -> None:
        assert self.conn is not None
        if self.conn.conversation_id != conv["id"]:
            self.live.hub.watch_conversation(self.conn, conv["id"])
            # The router may have assigned it between its start and this watch, so that its event found
            # nobody to tell: what the visitor hears first is the state read after watching.
            fresh = await run_in_threadpool(
                current_conversation,
                self.database,
                channel_id=self.channel_id,
                visitor_id=self.visitor_id,
                wanted=conv["id"],
            )
            if fresh is not None:
                conv = fresh | ({"notice": conv["notice"]} if "notice" in conv else {})
            frame = {"type": "conversation", "conversation_id": conv["id"], "status": conv["status"]}
            if conv["status"] == "active":
                frame |= {"agent_id": conv["agent_id"], "agent_name": conv["agent_name"]}
            self.conn.push(frame)
        if conv["status"] in ("queued", "offered"):
            self.live.hub.mark_waiting(conv["id"], self.tenant_id, conv["skill_group_id"])
        if "notice" in conv:
            self.conn.push({"type": "notice", "conversation_id": conv["id"]} | conv["notice"])

    async def send(self, frame: dict[str, Any]) -> dict[str, Any] | None:
        cmid = frames.client_msg_id(frame)
        body = frames.need_str(frame, "body", max_len=5000) or ""
        kind = frame.get("kind", "text")
        if kind not in ("text", "image", "file"):
            raise Invalid(
                Msg("消息类型须为 text、image 或 file", "kind must be text, image or file"), code="frame.bad_field"
            )
        attachment = await self._attachment(frame) if kind != "text" else None
        entry_id = frames.need_int(frame, "entry_id", optional=True, low=1)
        for _attempt in range(2):
            # The open conversation is remembered, so that a message costs no extra read; when it has
            # ended meanwhile, the visitor's message starts a new one.
            if self.open_conversation_id is None:
                conv = await run_in_threadpool(self._open_conversation, None, queue=False)
                await self._ensure_watching(conv)
                self.open_conversation_id = conv["id"]
                self.bot_phase = conv["status"] == "bot"
            assert self.conn is not None  # set by hello, before any other frame
            try:
                ack = await self.conn.store(
                    self.live.writer,
                    SendRequest(
                        conversation_id=self.open_conversation_id,
                        tenant_id=self.tenant_id,
                        sender_kind=SenderKind.visitor,
                        sender_id=self.visitor_id,
                        body=body,
                        kind=MessageKind(kind),
                        client_msg_id=cmid,
                        attachment=attachment,
                    ),
                    frame.get("ref"),
                )
            except Conflict as exc:
                if exc.code != "conversation.ended":
                    raise
                self.open_conversation_id = None
                continue
            # ack is None when the hub sent it already (then it was a new message, not a resend)
            if self.bot_phase and kind == "text" and not (ack and ack["duplicate"]):
                self._start_bot_turn(self.open_conversation_id, body, entry_id)
            return ack
        raise Conflict(Msg("会话已结束", "the conversation has ended"), code="conversation.ended")

    def _start_bot_turn(self, conversation_id: int, text: str, entry_id: int | None) -> None:
        """The bot answers after the visitor's ack (its reply comes as a ``message`` frame)."""
        task = asyncio.create_task(self._bot_turn(conversation_id, text, entry_id))
        self._bot_turns.add(task)
        task.add_done_callback(self._bot_turns.discard)

    async def _bot_turn(self, conversation_id: int, text: str, entry_id: int | None) -> None:
        try:
            turn = await run_in_threadpool(
                self.live.bot.turn,
                tenant_id=self.tenant_id,
                conversation_id=conversation_id,
                text=text,
                entry_id=entry_id,
            )
            if turn is not None and turn.reply.handover:
                conv = await run_in_threadpool(
                    self._open_conversation, None, queue=True, reason=f"bot_{turn.reply.outcome}"
                )
                self.bot_phase = conv["status"] == "bot"
                await self._ensure_watching(conv)
        except Exception as exc:
            log.warning("the bot's turn in conversation %s failed: %r", conversation_id, exc)

    async def feedback(self, frame: dict[str, Any]) -> dict[str, Any]:
        message_id = frames.need_int(frame, "message_id", low=1) or 0
        helpful = frame.get("helpful")
        if not isinstance(helpful, bool):
            raise Invalid(
                Msg("字段 helpful 须为 true 或 false", "field helpful must be true or false"),
                code="frame.bad_field",
                field="helpful",
            )
        return {"type": "feedback"} | await run_in_threadpool(
            give_feedback, self.database, self.tenant_id, self.visitor_id, message_id, helpful
        )

    async def _attachment(self, frame: dict[str, Any]) -> dict[str, Any]:
        from kefu.live.uploads import attachment_from_frame

        return await run_in_threadpool(attachment_from_frame, self.live.settings, self.tenant_id, frame)

    async def ask_for_person(self, frame: dict[str, Any]) -> dict[str, Any]:
        group_id = frames.need_int(frame, "skill_group_id", optional=True, low=1)
        conv = await run_in_threadpool(self._open_conversation, group_id, queue=True)
        await self._ensure_watching(conv)
        self.open_conversation_id = conv["id"]
        self.bot_phase = conv["status"] == "bot"
        return {"type": "conversation", "conversation_id": conv["id"], "status": conv["status"]}

    async def sync(self, frame: dict[str, Any]) -> dict[str, Any]:
        after = frames.need_int(frame, "after_seq") or 0
        cid = frames.need_int(frame, "conversation_id", optional=True)
        conv = await run_in_threadpool(self._current_conversation, cid)
        if conv is None:
            return {"type": "messages", "conversation_id": None, "messages": [], "has_more": False}
        msgs = await run_in_threadpool(messages_after, self.database, conv["id"], after, frames.SYNC_LIMIT)
        return {
            "type": "messages",
            "conversation_id": conv["id"],
            "messages": msgs,
            "has_more": len(msgs) == frames.SYNC_LIMIT,
        }

    async def transient(self, kind: str, frame: dict[str, Any]) -> None:
        assert self.conn is not None
        cid = self.conn.conversation_id
        if cid is None:
            return None
        payload: dict[str, Any] = {"by": "visitor"}
        if kind == "typing":
            payload["on"] = bool(frame.get("on", True))
        else:
            payload["seq"] = frames.need_int(frame, "seq")
        agent_id = await run_in_threadpool(self._agent_of, cid)
        await self.live.publish_transient(self.live.transient(self.tenant_id, f"live.{kind}", cid, agent_id, payload))
        return None

    def _agent_of(self, cid: int) -> int | None:
        with self.database.session() as db:
            return db.scalar(select(Conversation.agent_id).where(Conversation.id == cid))

    async def end(self) -> dict[str, Any]:
        assert self.conn is not None
        cid = self.conn.conversation_id
        if cid is None:
            raise Conflict(Msg("没有进行中的会话", "there is no open conversation"), code="conversation.none")

        def end() -> dict[str, Any]:
            with self.database.session() as db:
                return conversation_dict(do_end_conversation(db, cid, tenant_id=self.tenant_id, ended_by="visitor"))

        conv = await run_in_threadpool(end)
        return {"type": "conversation", "conversation_id": cid, "status": conv["status"], "ratable": conv["ratable"]}

    async def rate(self, frame: dict[str, Any]) -> dict[str, Any]:
        assert self.conn is not None
        cid = frames.need_int(frame, "conversation_id", optional=True) or self.conn.conversation_id
        rating = frames.need_int(frame, "rating")
        comment = frames.need_str(frame, "comment", optional=True, max_len=1000)
        if cid is None:
            raise Conflict(Msg("没有可评价的会话", "there is no conversation to rate"), code="conversation.none")

        def rate() -> None:
            with self.database.session() as db:
                conv = db.scalar(
                    select(Conversation).where(Conversation.id == cid, Conversation.visitor_id == self.visitor_id)
                )
                if conv is None:
                    raise Conflict(
                        Msg("没有可评价的会话", "there is no conversation to rate"), code="conversation.none"
                    )
                do_rate_conversation(db, cid, tenant_id=self.tenant_id, rating=rating or 0, comment=comment)

        await run_in_threadpool(rate)
        return {"type": "rated", "conversation_id": cid, "rating": rating}


async def serve_frames(websocket: WebSocket, handle: Any, lang: str) -> None:
    """Read frames until the socket closes; each frame is answered (reply or error) in order of arrival
    of its answer. Frames are handled concurrently so a slow one (a commit) does not hold up typing."""
    pending: set[asyncio.Task[None]] = set()
    conn_push = handle.__self__.conn.push

    async def one(frame: dict[str, Any]) -> None:
        ref = frame.get("ref")
        try:
            reply = await handle(frame)
        except KefuError as exc:
            conn_push(frames.error_frame(exc, lang, ref))
            return
        if reply is not None:
            if ref is not None:
                reply["ref"] = ref
            conn_push(reply)

    try:
        while True:
            raw = await websocket.receive_text()
            try:
                frame = frames.parse(raw)
            except KefuError as exc:
                conn_push(frames.error_frame(exc, lang))
                continue
            task = asyncio.create_task(one(frame))
            pending.add(task)
            task.add_done_callback(pending.discard)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        for task in pending:
            task.cancel()


@router.websocket("/ws/visitor")
async def visitor_socket(websocket: WebSocket) -> None:
    live: Live = websocket.app.state.live
    lang = pick_language(websocket.headers.get("accept-language"))
    await websocket.accept()
    session = VisitorSession(live, websocket, lang)
    try:
        raw = await asyncio.wait_for(websocket.receive_text(), HELLO_TIMEOUT)
        first = frames.parse(raw)
        if isinstance(first.get("lang"), str):
            session.lang = lang = "en" if first["lang"].startswith("en") else "zh"
        welcome = await session.hello(first)
    except (TimeoutError, WebSocketDisconnect):
        with contextlib.suppress(Exception):
            await websocket.close(code=4400, reason="hello expected")
        return
    except KefuError as exc:
        with contextlib.suppress(Exception):
            await websocket.send_json(frames.error_frame(exc, lang))
            await websocket.close(code=4401 if exc.status in (401, 403, 404) else 4400, reason=exc.code)
        return
    assert session.conn is not None
    session.conn.start(welcome)
    try:
        await serve_frames(websocket, session.handle, lang)
    finally:
        live.hub.drop_visitor(session.conn)
        await session.conn.stop()
