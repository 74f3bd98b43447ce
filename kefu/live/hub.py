"""The live hub of one kefu process: its WebSocket connections and the events that become their frames.

Every process subscribes to the bus and delivers to the sockets *it* holds, so a visitor on one process
and an agent on another converse (the bus is Redis when scaled out). Nothing here changes state: the
hub only turns committed events into frames (docs/protocol.md). Offers of broadcast-grab groups (抢单)
are derived here from the same events — a waiting conversation is offered to the connected agents of its
group who are online and have room — and the database decides who wins a grab.

Each connection has its own bounded outgoing queue and sender task, so one slow client never holds up
the others; a client that falls too far behind is closed (4008) and resumes from its last sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import WebSocket
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from kefu.actions.conversations import WAITING, open_load
from kefu.actions.messages import SendRequest, Stored
from kefu.db.session import Database
from kefu.events.bus import SubscriptionLagged
from kefu.events.envelope import EventEnvelope
from kefu.live.frames import encode
from kefu.live.writer import BatchingWriter
from kefu.models.conversation import Conversation
from kefu.models.skill_group import DistributionMode, SkillGroup, SkillGroupAgent
from kefu.models.staff import User

log = logging.getLogger(__name__)

#: Frames waiting for one slow client before it is dropped.
OUTBOX_SIZE = 1000
#: Own messages a socket may have in flight whose ``message`` echo is held back (see ``Connection.own``).
OWN_IN_FLIGHT = 1000
_NOT_OWN, _ACKED, _ACKED_HERE = object(), object(), object()
#: Offers sent to an agent at once when he becomes free (the oldest first; more follow as they go).
OFFER_SNAPSHOT = 50
CLOSE_TOO_SLOW = 4008
CLOSE_RESYNC = 4000


class Connection:
    """One socket with its own sender task."""

    def __init__(self, websocket: WebSocket, tenant_id: int) -> None:
        self.websocket = websocket
        self.tenant_id = tenant_id
        #: Frames to send: a dict, or a frame already encoded once for several sockets (str).
        self._outbox: asyncio.Queue[dict[str, Any] | str | None] = asyncio.Queue(maxsize=OUTBOX_SIZE)
        self._sender: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self.closed = False
        #: Frames pushed before the first one (welcome) was sent; they follow it.
        self._early: list[dict[str, Any] | str] | None = []
        #: Messages this socket sent, by (conversation id, sender kind, client_msg_id), whose ``message``
        #: event has not come by yet: the socket gets its own message in the ``ack`` (which carries it) and
        #: no ``message`` frame for it — one frame fewer per message on the hot path. The value is the
        #: send's ``ref`` until its ack is out, then ``_ACKED``.
        self.own: dict[tuple[int, str, str], Any] = {}

    def own_message(self, event: EventEnvelope) -> bool:
        """Whether ``event`` is the ``message`` of a send on this socket (then no ``message`` frame goes
        out for it). If the event comes before the sender's ack was sent, the ack goes out now, in the
        message's place: the socket still sees every seq in order."""
        if not self.own:
            return False
        p = event.payload
        key = (event.conversation_id or 0, p.get("sender_kind") or "", p.get("client_msg_id") or "")
        ref = self.own.get(key, _NOT_OWN)
        if ref is _NOT_OWN:
            return False
        if ref is _ACKED:
            del self.own[key]
        else:
            self.own[key] = _ACKED_HERE
            frame = ack_of_event(event)
            if ref is not None:
                frame["ref"] = ref
            self.push(frame)
        return True

    async def store(self, writer: BatchingWriter, request: SendRequest, ref: Any = None) -> dict[str, Any] | None:
        """Store a message sent on this socket. The ``ack`` frame for it (which carries the message), or None
        when the hub already sent that ack (see ``own_message``)."""
        key = (request.conversation_id, request.sender_kind.value, request.client_msg_id or "")
        if request.client_msg_id is not None:
            if len(self.own) >= OWN_IN_FLIGHT:  # events lost (bus down): echo again rather than grow
                self.own.clear()
            self.own[key] = ref
        try:
            stored = await writer.send(request)
        except BaseException:
            self.own.pop(key, None)
            raise
        state = self.own.get(key, _NOT_OWN)
        if state is _ACKED_HERE:  # the event came first and its ack went out in its place
            del self.own[key]
            return None
        if stored.duplicate:  # stored before: no event comes for it
            self.own.pop(key, None)
        elif state is not _NOT_OWN:
            self.own[key] = _ACKED  # the event is still to come; it is not sent here
        return ack_frame(stored, request)

    def start(self, first: dict[str, Any]) -> None:
        early, self._early = self._early or [], None
        self.push(first)
        for frame in early:
            self.push(frame)
        self._sender = asyncio.create_task(self._send_loop())

    def push(self, frame: dict[str, Any] | str) -> None:
        if self.closed:
            return
        if self._early is not None:
            self._early.append(frame)
            if len(self._early) > OUTBOX_SIZE:
                self._early = None
                self.closed = True
            return
        try:
            self._outbox.put_nowait(frame)
        except asyncio.QueueFull:
            self.closed = True
            self._closer = asyncio.create_task(self._close(CLOSE_TOO_SLOW, "too slow"))

    async def _send_loop(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                frame = await self._outbox.get()
                if frame is None:
                    return
                await self.websocket.send_text(frame if isinstance(frame, str) else encode(frame))

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.websocket.close(code=code, reason=reason)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True
        await self._close(code, reason)

    async def stop(self) -> None:
        self.closed = True
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(BaseException):
                await self._sender


class VisitorConnection(Connection):
    def __init__(self, websocket: WebSocket, tenant_id: int, visitor_id: int) -> None:
        super().__init__(websocket, tenant_id)
        self.visitor_id = visitor_id
        self.conversation_id: int | None = None


@dataclass
class AgentView:
    """What the hub knows of a connected agent to decide his offers."""

    user_id: int
    tenant_id: int
    status: str
    capacity: int
    load: int
    #: His skill groups in broadcast-grab mode.
    grab_groups: set[int] = field(default_factory=set)
    offered: set[int] = field(default_factory=set)

    @property
    def has_room(self) -> bool:
        return self.status == "online" and self.load < self.capacity


class AgentConnection(Connection):
    def __init__(self, websocket: WebSocket, tenant_id: int, user_id: int) -> None:
        super().__init__(websocket, tenant_id)
        self.user_id = user_id


def ack_frame(stored: Stored, request: SendRequest) -> dict[str, Any]:
    """The answer to a ``send``: the message as stored (the same object as in a ``message`` frame)."""
    message = {
        "id": stored.message_id,
        "seq": stored.seq,
        "sender": request.sender_kind.value,
        "sender_id": request.sender_id,
        "kind": request.kind.value,
        "body": request.body,
        "attachment": request.attachment,
        "meta": request.meta,
        "client_msg_id": stored.client_msg_id,
        "created_at": stored.created_at.isoformat(),
    }
    return _ack(stored.conversation_id, message, duplicate=stored.duplicate)


def ack_of_event(event: EventEnvelope) -> dict[str, Any]:
    """The ``ack`` of a committed message, built from its ``message.sent`` event."""
    return _ack(event.conversation_id, message_frame(event)["message"], duplicate=False)


def _ack(conversation_id: int | None, message: dict[str, Any], *, duplicate: bool) -> dict[str, Any]:
    return {
        "type": "ack",
        "client_msg_id": message["client_msg_id"],
        "conversation_id": conversation_id,
        "message_id": message["id"],
        "seq": message["seq"],
        "created_at": message["created_at"],
        "duplicate": duplicate,
        "message": message,
    }


def message_frame(event: EventEnvelope) -> dict[str, Any]:
    p = event.payload
    return {
        "type": "message",
        "conversation_id": event.conversation_id,
        "message": {
            "id": p.get("message_id"),
            "seq": p.get("seq"),
            "sender": p.get("sender_kind"),
            "sender_id": p.get("sender_id"),
            "kind": p.get("kind"),
            "body": p.get("body"),
            "attachment": p.get("attachment"),
            "meta": p.get("meta"),
            "client_msg_id": p.get("client_msg_id"),
            "created_at": p.get("created_at") or event.occurred_at.isoformat(),
        },
    }


class Hub:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.visitors: dict[int, set[VisitorConnection]] = defaultdict(set)  # by conversation id
        self.agents: dict[int, set[AgentConnection]] = defaultdict(set)  # by user id
        self.views: dict[int, AgentView] = {}
        #: Connected agents by broadcast group, to offer a new conversation.
        self.grab_members: dict[int, set[int]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        #: Conversations watched by visitors of this process that wait in a queue: id -> skill group id.
        self.waiting: dict[int, int] = {}
        self.waiting_tenant: dict[int, int] = {}
        #: Called with each event after the hub handled it (the routing service, tests).
        self.listeners: list[Callable[[EventEnvelope], None]] = []

    # --- life -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        await self._ready.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._task, 5)

    async def _run(self) -> None:
        while True:
            with contextlib.closing(self.database.bus.subscribe(maxsize=100_000)) as sub:
                self._ready.set()
                try:
                    async for event in sub:
                        try:
                            await self.handle(event)
                        except Exception:
                            log.exception("live hub failed on event %s %s", event.type, event.id)
                except SubscriptionLagged:
                    log.warning("live hub fell behind the bus; connections resync")
                    await self._resync_all()

    async def _resync_all(self) -> None:
        """Events were lost: every client reconnects and resumes from what it has (protocol: code 4000)."""
        for conns in list(self.visitors.values()) + list(self.agents.values()):
            for conn in list(conns):
                await conn.close(CLOSE_RESYNC, "resync")

    # --- connections ------------------------------------------------------------------------------------

    def watch_conversation(self, conn: VisitorConnection, conversation_id: int | None) -> None:
        if conn.conversation_id is not None:
            self.visitors[conn.conversation_id].discard(conn)
            if not self.visitors[conn.conversation_id]:
                del self.visitors[conn.conversation_id]
                self.waiting.pop(conn.conversation_id, None)
                self.waiting_tenant.pop(conn.conversation_id, None)
        conn.conversation_id = conversation_id
        if conversation_id is not None:
            self.visitors[conversation_id].add(conn)

    def mark_waiting(self, conversation_id: int, tenant_id: int, group_id: int | None) -> None:
        if group_id is None:
            self.waiting.pop(conversation_id, None)
            self.waiting_tenant.pop(conversation_id, None)
        elif conversation_id in self.visitors:
            self.waiting[conversation_id] = group_id
            self.waiting_tenant[conversation_id] = tenant_id

    def drop_visitor(self, conn: VisitorConnection) -> None:
        self.watch_conversation(conn, None)

    async def add_agent(self, conn: AgentConnection) -> AgentView:
        self.agents[conn.user_id].add(conn)
        view = await run_in_threadpool(self._load_view, conn.user_id, conn.tenant_id)
        old = self.views.get(conn.user_id)
        if old is not None:
            view.offered = old.offered
        self._set_view(view)
        return view

    def drop_agent(self, conn: AgentConnection) -> None:
        conns = self.agents.get(conn.user_id)
        if conns is None:
            return
        conns.discard(conn)
        if not conns:
            del self.agents[conn.user_id]
            view = self.views.pop(conn.user_id, None)
            if view is not None:
                for gid in view.grab_groups:
                    self.grab_members[gid].discard(view.user_id)

    def connected_agent_ids(self) -> set[int]:
        return set(self.agents)

    def _set_view(self, view: AgentView) -> None:
        old = self.views.get(view.user_id)
        if old is not None:
            for gid in old.grab_groups - view.grab_groups:
                self.grab_members[gid].discard(view.user_id)
        for gid in view.grab_groups:
            self.grab_members[gid].add(view.user_id)
        self.views[view.user_id] = view

    def _load_view(self, user_id: int, tenant_id: int) -> AgentView:
        with self.database.session() as db:
            user = db.get_one(User, user_id)
            groups = db.scalars(
                select(SkillGroup.id)
                .join(SkillGroupAgent, SkillGroupAgent.skill_group_id == SkillGroup.id)
                .where(SkillGroupAgent.user_id == user_id, SkillGroup.mode == DistributionMode.broadcast_grab)
            ).all()
            return AgentView(
                user_id=user_id,
                tenant_id=tenant_id,
                status=user.agent_status,
                capacity=user.max_concurrent,
                load=open_load(db, user_id),
                grab_groups=set(groups),
            )

    def _waiting_in(self, group_ids: set[int], limit: int) -> list[dict[str, Any]]:
        if not group_ids:
            return []
        with self.database.session() as db:
            rows = db.scalars(
                select(Conversation)
                .where(Conversation.skill_group_id.in_(group_ids), Conversation.status.in_(WAITING))
                .order_by(Conversation.priority.desc(), Conversation.queued_at, Conversation.id)
                .limit(limit)
            ).all()
            return [offer_of(c) for c in rows]

    # --- sending ----------------------------------------------------------------------------------------

    def to_agent(self, user_id: int | None, frame: dict[str, Any] | str) -> None:
        if user_id is None:
            return
        for conn in self.agents.get(user_id, ()):
            conn.push(frame)

    def to_visitors(self, conversation_id: int | None, frame: dict[str, Any] | str) -> None:
        if conversation_id is None:
            return
        for conn in self.visitors.get(conversation_id, ()):
            conn.push(frame)

    # --- events -----------------------------------------------------------------------------------------

    async def handle(self, event: EventEnvelope) -> None:
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            await handler(self, event)
        for listener in self.listeners:
            listener(event)

    async def _on_message(self, event: EventEnvelope) -> None:
        # Encoded once for every socket it goes to (the visitor's tabs and the agent's), except the socket
        # that sent it: that one has the message in its ``ack``.
        cid = event.conversation_id
        if cid is None:
            return
        text = encode(message_frame(event))
        receivers: list[Connection] = [*self.visitors.get(cid, ())]
        if event.user_id is not None:
            receivers += self.agents.get(event.user_id, ())
        for conn in receivers:
            if not conn.own_message(event):
                conn.push(text)

    async def _on_transient(self, event: EventEnvelope) -> None:
        """Typing indicators and read receipts: to the other side only, never stored."""
        frame = {"type": event.type.removeprefix("live."), "conversation_id": event.conversation_id} | event.payload
        if event.payload.get("by") == "visitor":
            self.to_agent(event.user_id, frame)
        else:
            self.to_visitors(event.conversation_id, frame)

    async def _on_queued(self, event: EventEnvelope) -> None:
        p = event.payload
        group_id = p.get("skill_group_id") or p.get("to_group_id")
        self.to_visitors(
            event.conversation_id,
            {
                "type": "conversation",
                "conversation_id": event.conversation_id,
                "status": "queued",
                "skill_group_id": group_id,
            },
        )
        if event.conversation_id is not None:
            self._withdraw_everywhere(event.conversation_id, keep=None, reason="moved")
            if isinstance(group_id, int):
                self.mark_waiting(event.conversation_id, event.tenant_id, group_id)
        if not isinstance(group_id, int):
            return
        members = self.grab_members.get(group_id)
        if not members or event.conversation_id is None:
            return
        offer = {
            "type": "offer",
            "conversation_id": event.conversation_id,
            "skill_group_id": group_id,
            "priority": p.get("priority", 0),
            "queued_at": p.get("queued_at") or event.occurred_at.isoformat(),
        }
        for user_id in list(members):
            view = self.views.get(user_id)
            if view is not None and view.has_room:
                view.offered.add(event.conversation_id)
                self.to_agent(user_id, offer)

    def _withdraw_everywhere(self, conversation_id: int, *, keep: int | None, reason: str) -> None:
        frame = {"type": "offer_withdrawn", "conversation_id": conversation_id, "reason": reason}
        for view in self.views.values():
            if conversation_id in view.offered:
                view.offered.discard(conversation_id)
                if view.user_id != keep:
                    self.to_agent(view.user_id, frame)

    async def _on_accepted(self, event: EventEnvelope) -> None:
        cid = event.conversation_id
        agent_id = event.user_id
        if cid is None:
            return
        self._withdraw_everywhere(cid, keep=agent_id, reason="taken")
        self.mark_waiting(cid, event.tenant_id, None)
        self.to_visitors(
            cid,
            {
                "type": "conversation",
                "conversation_id": cid,
                "status": "active",
                "agent_id": agent_id,
                "agent_name": await self._name(agent_id),
            },
        )
        self.to_agent(
            agent_id,
            {
                "type": "assigned",
                "conversation_id": cid,
                "by": event.payload.get("by"),
                "skill_group_id": event.payload.get("skill_group_id"),
            },
        )
        await self._change_load(agent_id, +1)

    async def _on_ended(self, event: EventEnvelope) -> None:
        cid = event.conversation_id
        if cid is None:
            return
        self._withdraw_everywhere(cid, keep=None, reason="ended")
        self.mark_waiting(cid, event.tenant_id, None)
        frame = {
            "type": "conversation",
            "conversation_id": cid,
            "status": "ended",
            "ended_by": event.payload.get("ended_by"),
            "ratable": event.payload.get("was") == "active",
        }
        self.to_visitors(cid, frame)
        self.to_agent(event.user_id, frame)
        if event.payload.get("was") == "active":
            await self._change_load(event.user_id, -1)

    async def _on_transferred(self, event: EventEnvelope) -> None:
        cid = event.conversation_id
        p = event.payload
        if cid is None:
            return
        frm, to = p.get("from_agent_id"), p.get("to_agent_id")
        self.to_agent(
            frm,
            {
                "type": "transferred_away",
                "conversation_id": cid,
                "to_agent_id": to,
                "to_group_id": p.get("to_group_id"),
            },
        )
        await self._change_load(frm, -1)
        if to is not None:
            self.to_agent(
                to,
                {
                    "type": "assigned",
                    "conversation_id": cid,
                    "by": "transfer",
                    "note": p.get("note"),
                    "from_agent_id": frm,
                },
            )
            self.to_visitors(
                cid,
                {
                    "type": "conversation",
                    "conversation_id": cid,
                    "status": "active",
                    "agent_id": to,
                    "agent_name": await self._name(to),
                },
            )
            await self._change_load(to, +1)
        else:
            await self._on_queued(event)

    async def _on_status(self, event: EventEnvelope) -> None:
        user_id = event.user_id
        if user_id is None:
            return
        self.to_agent(
            user_id, {"type": "status", "status": event.payload.get("status"), "reason": event.payload.get("reason")}
        )
        view = self.views.get(user_id)
        if view is not None:
            before = view.has_room
            view.status = str(event.payload.get("status"))
            await self._room_changed(view, before)

    async def _on_membership(self, event: EventEnvelope) -> None:
        """A group's mode or agents changed: reload the connected agents it may concern."""
        affected = [event.user_id] if event.user_id in self.views else list(self.views)
        for user_id in affected:
            if user_id is None or user_id not in self.agents:
                continue
            view = self.views[user_id]
            fresh = await run_in_threadpool(self._load_view, user_id, view.tenant_id)
            fresh.offered = view.offered
            self._set_view(fresh)

    async def _change_load(self, user_id: int | None, delta: int) -> None:
        view = self.views.get(user_id) if user_id is not None else None
        if view is None:
            return
        before = view.has_room
        view.load = max(0, view.load + delta)
        await self._room_changed(view, before)

    async def _room_changed(self, view: AgentView, before: bool) -> None:
        if before and not view.has_room and view.offered:
            for cid in list(view.offered):
                self.to_agent(view.user_id, {"type": "offer_withdrawn", "conversation_id": cid, "reason": "full"})
            view.offered.clear()
        elif not before and view.has_room and view.grab_groups:
            for offer in await run_in_threadpool(self._waiting_in, view.grab_groups, OFFER_SNAPSHOT):
                if offer["conversation_id"] not in view.offered:
                    view.offered.add(offer["conversation_id"])
                    self.to_agent(view.user_id, offer)

    async def offers_for(self, view: AgentView) -> list[dict[str, Any]]:
        if not view.has_room:
            return []
        offers = await run_in_threadpool(self._waiting_in, view.grab_groups, OFFER_SNAPSHOT)
        view.offered.update(o["conversation_id"] for o in offers)
        return offers

    async def _name(self, user_id: int | None) -> str | None:
        if user_id is None:
            return None

        def load() -> str | None:
            with self.database.session() as db:
                user = db.get(User, user_id)
                return user.display_name if user else None

        return await run_in_threadpool(load)


def offer_of(c: Conversation) -> dict[str, Any]:
    return {
        "type": "offer",
        "conversation_id": c.id,
        "skill_group_id": c.skill_group_id,
        "priority": c.priority,
        "queued_at": c.queued_at.isoformat() if c.queued_at else None,
    }


_HANDLERS: dict[str, Callable[[Hub, EventEnvelope], Any]] = {
    "message.sent": Hub._on_message,
    "live.typing": Hub._on_transient,
    "live.read": Hub._on_transient,
    "conversation.queued": Hub._on_queued,
    "conversation.overflowed": Hub._on_queued,
    "conversation.accepted": Hub._on_accepted,
    "conversation.ended": Hub._on_ended,
    "conversation.transferred": Hub._on_transferred,
    "agent.status_changed": Hub._on_status,
    "skill_group.updated": Hub._on_membership,
    "skill_group.deleted": Hub._on_membership,
    "skill_group.agent_added": Hub._on_membership,
    "skill_group.agent_removed": Hub._on_membership,
    "skill_group.agent_updated": Hub._on_membership,
    "user.updated": Hub._on_membership,
}
