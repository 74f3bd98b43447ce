"""The live part of one kefu process: hub, message writer, presence and the routing service, started and
stopped with the application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from kefu.actions.agents import do_set_agent_status
from kefu.actions.conversations import WAITING
from kefu.bot.service import BotService
from kefu.config import Settings
from kefu.db.session import Database
from kefu.events.envelope import EventEnvelope
from kefu.live.hub import Hub
from kefu.live.presence import Presence
from kefu.live.writer import make_writer
from kefu.models.conversation import Conversation, Message
from kefu.ops.gc_tuning import tune_gc_for_serving
from kefu.routing.engine import AgentStatus

log = logging.getLogger(__name__)

#: Seconds between queue-position updates to waiting visitors.
QUEUE_UPDATE_S = 3.0


def message_dict(m: Message) -> dict[str, Any]:
    return {
        "id": m.id,
        "seq": m.seq,
        "sender": m.sender_kind.value,
        "sender_id": m.sender_id,
        "kind": m.kind.value,
        "body": m.body,
        "attachment": m.attachment,
        "meta": m.meta,
        "client_msg_id": m.client_msg_id,
        "created_at": m.created_at.isoformat(),
    }


def messages_after(database: Database, conversation_id: int, after_seq: int, limit: int) -> list[dict[str, Any]]:
    with database.session() as db:
        rows = db.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.seq > after_seq)
            .order_by(Message.seq)
            .limit(limit)
        ).all()
        return [message_dict(m) for m in rows]


class Live:
    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self.hub = Hub(database)
        self.writer = make_writer(database, settings.message_writer)
        #: The self-service bot: its matchers are kept current by the knowledge-base events.
        self.bot = BotService(database)
        self.hub.listeners.append(self.bot.registry.handle)
        #: Agents of this process whose last connection closed, and the task that will set them away.
        self._away_timers: dict[int, asyncio.Task[None]] = {}
        self.routing: Any = None
        self.presence = Presence(settings.redis_url_or_none, settings.bus_namespace, self.hub.connected_agent_ids)
        self._queue_task: asyncio.Task[None] | None = None
        self._presence_gone: asyncio.Task[None] | None = None
        self._warm_task: asyncio.Task[int] | None = None
        self._gc_task: asyncio.Task[None] | None = None
        #: What each waiting visitor was last told, so only changes are sent.
        self._told: dict[int, tuple[int, int | None]] = {}

    async def start(self) -> None:
        await asyncio.to_thread(self.writer.start)  # a writer process takes a moment to start
        await self.hub.start()
        from kefu.routing.service import RoutingService

        self.routing = RoutingService(self.database, self.hub, settings=self.settings)
        await self.routing.start()
        await self.presence.start()
        self._queue_task = asyncio.create_task(self._queue_updates())
        self._warm_task = asyncio.create_task(asyncio.to_thread(self.bot.warm))
        if self.settings.gc_tuning:
            self._gc_task = asyncio.create_task(self._tune_gc_after_warm())

    async def _tune_gc_after_warm(self) -> None:
        """Once the bot's matchers are built, what the server keeps for its whole life is frozen out of the
        garbage collector's sight (``kefu.ops.gc_tuning``)."""
        assert self._warm_task is not None
        with contextlib.suppress(Exception):  # a failed warm-up is logged by the bot; tune anyway
            await self._warm_task
        tune_gc_for_serving()

    async def stop(self) -> None:
        if self._queue_task is not None:
            self._queue_task.cancel()
            with contextlib.suppress(BaseException):
                await self._queue_task
        await self.presence.stop()
        if self.routing is not None:
            await self.routing.stop()
        for task in self._away_timers.values():
            task.cancel()
        await self.hub.stop()
        await asyncio.to_thread(self.writer.stop)

    async def publish_transient(self, event: EventEnvelope) -> None:
        """Typing and read receipts: over the bus to every process, never stored."""
        await asyncio.to_thread(self.database.bus.publish, [event])

    def transient(
        self, tenant_id: int, type: str, conversation_id: int, agent_id: int | None, payload: dict[str, Any]
    ) -> EventEnvelope:
        return EventEnvelope(
            id=0,
            tenant_id=tenant_id,
            type=type,
            occurred_at=datetime.now(UTC),
            user_id=agent_id,
            conversation_id=conversation_id,
            payload=payload,
        )

    # --- presence -----------------------------------------------------------------------------------------

    async def agent_connected(self, user_id: int) -> None:
        timer = self._away_timers.pop(user_id, None)
        if timer is not None:
            timer.cancel()
        await self.presence.connected(user_id)

    def agent_disconnected(self, tenant_id: int, user_id: int) -> None:
        """His last socket on this process closed: after the grace time with no new connection he is set
        away, so that routing gives his share of the queue to others."""
        if user_id in self.hub.agents:
            return
        self._presence_gone = asyncio.create_task(self.presence.disconnected(user_id))
        old = self._away_timers.pop(user_id, None)
        if old is not None:
            old.cancel()
        self._away_timers[user_id] = asyncio.create_task(self._set_away_later(tenant_id, user_id))

    async def _set_away_later(self, tenant_id: int, user_id: int) -> None:
        await asyncio.sleep(self.settings.agent_away_after_s)
        self._away_timers.pop(user_id, None)
        if user_id in self.hub.agents:
            return
        if await self.presence.connected_elsewhere(user_id):
            return

        def set_away() -> None:
            from kefu.models.staff import User

            with self.database.session() as db:
                user = db.get(User, user_id)
                if user is None or user.agent_status not in ("online", "busy"):
                    return
                do_set_agent_status(db, user_id, tenant_id=tenant_id, status=AgentStatus.away, reason="disconnected")

        try:
            await asyncio.to_thread(set_away)
        except Exception:
            log.exception("could not set agent %s away after his last connection closed", user_id)

    # --- what waiting visitors are told -------------------------------------------------------------------

    async def _queue_updates(self) -> None:
        """Every few seconds, each waiting visitor of this process hears his place in the queue and the
        expected wait, when they changed."""
        while True:
            await asyncio.sleep(QUEUE_UPDATE_S)
            with contextlib.suppress(Exception):
                await self.push_queue_positions()

    async def push_queue_positions(self) -> None:
        waiting = dict(self.hub.waiting)
        self._told = {cid: told for cid, told in self._told.items() if cid in waiting}
        if not waiting:
            return
        positions = await asyncio.to_thread(self._positions, waiting)
        for cid, (position, wait_s) in positions.items():
            told = (position, None if wait_s is None else round(wait_s))
            if self._told.get(cid) == told:
                continue
            self._told[cid] = told
            self.hub.to_visitors(
                cid,
                {"type": "queue", "conversation_id": cid, "position": told[0], "expected_wait_s": told[1]},
            )

    def _positions(self, waiting: dict[int, int]) -> dict[int, tuple[int, float | None]]:
        """Place in line (1 = next) per conversation, from the database (any process can answer), with the
        routing leader's expected wait when this process is the leader."""
        out: dict[int, tuple[int, float | None]] = {}
        groups = set(waiting.values())
        with self.database.session() as db:
            for group_id in groups:
                ids = db.scalars(
                    select(Conversation.id)
                    .where(Conversation.skill_group_id == group_id, Conversation.status.in_(WAITING))
                    .order_by(Conversation.priority.desc(), Conversation.queued_at, Conversation.id)
                ).all()
                for place, cid in enumerate(ids, start=1):
                    if waiting.get(cid) == group_id:
                        out[cid] = (place, None)
        routing = self.routing
        if routing is not None and routing.is_leader:
            for cid in out:
                tenant_id = self.hub.waiting_tenant.get(cid)
                info = routing.queue_info(tenant_id, cid) if tenant_id is not None else None
                if info is not None:
                    out[cid] = (out[cid][0], info["expected_wait_s"])
        return out
