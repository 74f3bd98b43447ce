"""The agent's WebSocket: ``/ws/agent`` (see docs/protocol.md).

Authenticated like the REST API (the workspace's session cookie, from our own origin, or a bearer API
token for programs); the caller is re-read every ``RECHECK_EVERY`` seconds so a closed account or an
ended session ends the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from kefu.access.caller import Caller
from kefu.actions.agents import do_set_agent_status, parse_status
from kefu.actions.conversations import (
    do_end_conversation,
    do_grab_conversation,
    do_transfer_conversation,
    no_longer_waiting,
)
from kefu.actions.messages import SendRequest
from kefu.api.deps import socket_caller
from kefu.api.routes.events import _origin_ok
from kefu.errors import Forbidden, Invalid, KefuError, Msg, not_found, pick_language
from kefu.live import frames
from kefu.live.hub import AgentConnection
from kefu.live.service import Live, messages_after
from kefu.live.visitor_socket import conversation_dict, serve_frames
from kefu.models.conversation import Conversation, ConversationStatus, MessageKind, SenderKind
from kefu.models.staff import Role, User
from kefu.routing.engine import AgentStatus

router = APIRouter()

RECHECK_EVERY = 30.0


class AgentSession:
    def __init__(self, live: Live, websocket: WebSocket, caller: Caller, lang: str) -> None:
        self.live = live
        self.database = live.database
        self.websocket = websocket
        self.caller = caller
        self.lang = lang
        self.conn = AgentConnection(websocket, caller.tenant_id, caller.user_id)

    @property
    def user_id(self) -> int:
        return self.caller.user_id

    @property
    def tenant_id(self) -> int:
        return self.caller.tenant_id

    async def welcome(self, status: AgentStatus | None) -> dict[str, Any]:
        def prepare() -> tuple[str, int, list[dict[str, Any]]]:
            with self.database.session() as db:
                user = db.get_one(User, self.user_id)
                wanted = status
                if wanted is None and user.agent_status == AgentStatus.offline.value:
                    wanted = AgentStatus.online
                if wanted is not None:
                    user = do_set_agent_status(
                        db, self.user_id, tenant_id=self.tenant_id, status=wanted, reason="login"
                    )
                open_convs = db.scalars(
                    select(Conversation)
                    .where(Conversation.agent_id == self.user_id, Conversation.status == ConversationStatus.active)
                    .order_by(Conversation.accepted_at)
                ).all()
                return user.agent_status, user.max_concurrent, [conversation_dict(c) for c in open_convs]

        agent_status, capacity, conversations = await run_in_threadpool(prepare)
        view = await self.live.hub.add_agent(self.conn)
        view.status = agent_status
        await self.live.agent_connected(self.user_id)
        offers = await self.live.hub.offers_for(view)
        return {
            "type": "welcome",
            "protocol": frames.PROTOCOL_VERSION,
            "user_id": self.user_id,
            "status": agent_status,
            "capacity": capacity,
            "conversations": conversations,
            "offers": offers,
        }

    async def handle(self, frame: dict[str, Any]) -> dict[str, Any] | None:
        kind = frame["type"]
        if kind == "send":
            return await self.send(frame)
        if kind == "grab":
            return await self.grab(frame)
        if kind == "status":
            return await self.status(frame)
        if kind == "sync":
            return await self.sync(frame)
        if kind in ("typing", "read"):
            await self.transient(kind, frame)
            return None
        if kind == "transfer":
            return await self.transfer(frame)
        if kind == "end":
            return await self.end(frame)
        if kind == "ping":
            return {"type": "pong"}
        raise frames.unknown_type(kind)

    def _conversation_in_scope(self, cid: int, *, serving_only: bool) -> Conversation:
        """The conversation if the caller may act on it: he serves it, or (not ``serving_only``) he is a
        supervisor whose teams include its team, or an admin."""
        with self.database.session() as db:
            conv = db.scalar(
                select(Conversation).where(Conversation.id == cid, Conversation.tenant_id == self.tenant_id)
            )
            if conv is None:
                raise not_found("会话", "conversation")
            if conv.agent_id == self.user_id:
                return conv
            if (
                not serving_only
                and self.caller.role in (Role.admin, Role.supervisor)
                and self.caller.sees_team(conv.team_id)
            ):
                return conv
            if self.caller.role is not Role.agent and self.caller.sees_team(conv.team_id):
                raise Forbidden(
                    Msg("您不是该会话的接待坐席", "you are not serving this conversation"),
                    code="conversation.not_yours",
                )
            raise not_found("会话", "conversation")

    async def send(self, frame: dict[str, Any]) -> dict[str, Any] | None:
        cid = frames.need_int(frame, "conversation_id")
        cmid = frames.client_msg_id(frame)
        body = frames.need_str(frame, "body", max_len=5000) or ""
        kind = frame.get("kind", "text")
        if kind not in ("text", "image", "file"):
            raise Invalid(
                Msg("消息类型须为 text、image 或 file", "kind must be text, image or file"), code="frame.bad_field"
            )
        attachment = None
        if kind != "text":
            from kefu.live.uploads import attachment_from_frame

            attachment = await run_in_threadpool(attachment_from_frame, self.live.settings, self.tenant_id, frame)
        assert cid is not None
        return await self.conn.store(
            self.live.writer,
            SendRequest(
                conversation_id=cid,
                tenant_id=self.tenant_id,
                sender_kind=SenderKind.agent,
                sender_id=self.user_id,
                body=body,
                kind=MessageKind(kind),
                client_msg_id=cmid,
                attachment=attachment,
            ),
            frame.get("ref"),
        )

    async def grab(self, frame: dict[str, Any]) -> dict[str, Any]:
        cid = frames.need_int(frame, "conversation_id")
        assert cid is not None

        def grab() -> dict[str, Any]:
            with self.database.session() as db:  # a loser of the race is told from a read (no write lock)
                lost = no_longer_waiting(db, cid, self.tenant_id, self.user_id)
            if lost is not None:
                raise lost
            with self.database.session() as db:
                return conversation_dict(do_grab_conversation(db, cid, tenant_id=self.tenant_id, agent_id=self.user_id))

        conv = await run_in_threadpool(grab)
        return {"type": "grabbed", "conversation_id": cid, "conversation": conv}

    async def status(self, frame: dict[str, Any]) -> dict[str, Any]:
        status = parse_status(frames.need_str(frame, "status", max_len=16) or "")

        def set_status() -> str:
            with self.database.session() as db:
                return do_set_agent_status(db, self.user_id, tenant_id=self.tenant_id, status=status).agent_status

        return {"type": "status", "status": await run_in_threadpool(set_status), "reason": "agent"}

    async def sync(self, frame: dict[str, Any]) -> dict[str, Any]:
        cid = frames.need_int(frame, "conversation_id")
        after = frames.need_int(frame, "after_seq") or 0
        assert cid is not None
        await run_in_threadpool(self._conversation_in_scope, cid, serving_only=False)
        msgs = await run_in_threadpool(messages_after, self.database, cid, after, frames.SYNC_LIMIT)
        return {
            "type": "messages",
            "conversation_id": cid,
            "messages": msgs,
            "has_more": len(msgs) == frames.SYNC_LIMIT,
        }

    async def transient(self, kind: str, frame: dict[str, Any]) -> None:
        cid = frames.need_int(frame, "conversation_id")
        assert cid is not None
        await run_in_threadpool(self._conversation_in_scope, cid, serving_only=True)
        payload: dict[str, Any] = {"by": "agent"}
        if kind == "typing":
            payload["on"] = bool(frame.get("on", True))
        else:
            payload["seq"] = frames.need_int(frame, "seq")
        await self.live.publish_transient(
            self.live.transient(self.tenant_id, f"live.{kind}", cid, self.user_id, payload)
        )

    async def transfer(self, frame: dict[str, Any]) -> dict[str, Any]:
        cid = frames.need_int(frame, "conversation_id")
        to_agent = frames.need_int(frame, "to_agent_id", optional=True, low=1)
        to_group = frames.need_int(frame, "to_group_id", optional=True, low=1)
        note = frames.need_str(frame, "note", optional=True, max_len=500) or ""
        assert cid is not None
        await run_in_threadpool(self._conversation_in_scope, cid, serving_only=False)

        def transfer() -> dict[str, Any]:
            with self.database.session() as db:
                conv = do_transfer_conversation(
                    db,
                    cid,
                    tenant_id=self.tenant_id,
                    actor_id=self.user_id,
                    to_agent_id=to_agent,
                    to_group_id=to_group,
                    note=note,
                )
                return conversation_dict(conv)

        return {"type": "transferred", "conversation_id": cid, "conversation": await run_in_threadpool(transfer)}

    async def end(self, frame: dict[str, Any]) -> dict[str, Any]:
        cid = frames.need_int(frame, "conversation_id")
        assert cid is not None
        conv = await run_in_threadpool(self._conversation_in_scope, cid, serving_only=False)
        ended_by = "agent" if conv.agent_id == self.user_id else "supervisor"

        def end() -> dict[str, Any]:
            with self.database.session() as db:
                return conversation_dict(
                    do_end_conversation(db, cid, tenant_id=self.tenant_id, ended_by=ended_by, actor_id=self.user_id)
                )

        return {"type": "conversation", "conversation_id": cid, "status": (await run_in_threadpool(end))["status"]}


@router.websocket("/ws/agent")
async def agent_socket(websocket: WebSocket) -> None:
    live: Live = websocket.app.state.live
    lang = pick_language(websocket.headers.get("accept-language"))
    # Accepted first, so that a refusal reaches the client as a close code with a reason (a socket closed
    # before accepting is only an HTTP 403 to the browser).
    await websocket.accept()
    try:
        caller = await socket_caller(websocket)
    except KefuError as exc:
        await websocket.close(code=4401 if exc.status == 401 else 4403, reason=exc.code)
        return
    if caller.via == "session" and not _origin_ok(websocket):
        await websocket.close(code=4403, reason="cross-origin")
        return
    if caller.role is Role.inspector:
        await websocket.close(code=4403, reason="role")
        return
    session = AgentSession(live, websocket, caller, lang)
    try:
        status = None
        raw = await asyncio.wait_for(websocket.receive_text(), 15.0)
        hello = frames.parse(raw)
        if hello.get("type") != "hello":
            raise Invalid(Msg("第一帧须为 hello", "the first frame must be hello"), code="frame.hello_first")
        if hello.get("status") is not None:
            status = parse_status(str(hello["status"]))
        welcome = await session.welcome(status)
    except (TimeoutError, WebSocketDisconnect):
        with contextlib.suppress(Exception):
            await websocket.close(code=4400, reason="hello expected")
        live.hub.drop_agent(session.conn)
        return
    except KefuError as exc:
        with contextlib.suppress(Exception):
            await websocket.send_json(frames.error_frame(exc, lang))
            await websocket.close(code=4400, reason=exc.code)
        live.hub.drop_agent(session.conn)
        return
    session.conn.start(welcome)
    watchdog = asyncio.create_task(_recheck(websocket, session))
    try:
        await serve_frames(websocket, session.handle, lang)
    finally:
        watchdog.cancel()
        live.hub.drop_agent(session.conn)
        await session.conn.stop()
        live.agent_disconnected(caller.tenant_id, caller.user_id)


async def _recheck(websocket: WebSocket, session: AgentSession) -> None:
    """End the socket when the session ended or the account was closed."""
    checked = time.monotonic()
    while True:
        await asyncio.sleep(max(1.0, RECHECK_EVERY - (time.monotonic() - checked)))
        checked = time.monotonic()
        try:
            session.caller = await socket_caller(websocket)
        except KefuError as exc:
            with contextlib.suppress(Exception):
                await websocket.close(code=4401 if exc.status == 401 else 4403, reason=exc.code)
            return
