"""The routing service: drives the pure engine from events and writes its decisions through actions.

One process routes at a time (the leader): in the embedded setup that is the only process; scaled out,
the processes hold a lease in Redis and the holder routes, the others stand by and take over within
``LEASE_S`` when it dies. The leader builds each tenant's engine from the database, then follows the
events every process publishes. Assignments of passive groups (round-robin, least-busy) are written in
one transaction per engine step, each a compare-and-set, so a conversation the visitor left or an agent
grabbed at the same moment is simply not assigned (and the agent's load is given back). Broadcast-grab
offers are derived by every process's hub for its own sockets, and grabs go straight to the database,
so they need no leader at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from kefu.actions.conversations import WAITING, do_assign_conversations, do_end_conversation, do_overflow_conversation
from kefu.config import Settings
from kefu.db.base import utcnow
from kefu.db.session import Database
from kefu.events.envelope import EventEnvelope
from kefu.models.conversation import Conversation, ConversationStatus
from kefu.models.skill_group import SkillGroup, SkillGroupAgent
from kefu.models.staff import User
from kefu.models.tenant import Tenant
from kefu.routing.engine import (
    AgentStatus,
    Assign,
    Decision,
    Mode,
    Overflow,
    OverflowRule,
    RoutingEngine,
    RoutingError,
)
from kefu.routing.hours import WorkingHours

log = logging.getLogger(__name__)

LEASE_S = 10.0
TICK_S = 1.0


class RoutingService:
    def __init__(self, database: Database, hub: Any, *, settings: Settings) -> None:
        self.database = database
        self.hub = hub
        self.settings = settings
        self.engines: dict[int, RoutingEngine] = {}
        #: conversation id -> (agent id, group id, accepted at) of what is being served, per tenant.
        self.serving: dict[int, dict[int, tuple[int, int | None, datetime]]] = defaultdict(dict)
        self.is_leader = False
        self._events: asyncio.Queue[EventEnvelope] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._redis: Any = None
        self._me = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._hours: dict[int, WorkingHours | None] = {}
        self._lease_lock = threading.Lock()
        self._stopped = False

    # --- life -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.hub.listeners.append(self._on_event)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._on_event in self.hub.listeners:
            self.hub.listeners.remove(self._on_event)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._task, 5)
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._release_lease_sync)
            with contextlib.suppress(Exception):
                self._redis.close()
            self._redis = None

    def _on_event(self, event: EventEnvelope) -> None:
        if self.is_leader and event.id > 0:
            self._events.put_nowait(event)

    async def _run(self) -> None:
        while True:
            try:
                if not await self._hold_lease():
                    self.is_leader = False
                    await asyncio.sleep(LEASE_S / 3)
                    continue
                if not self.is_leader:
                    self.is_leader = True
                    self._events = asyncio.Queue()
                    await asyncio.to_thread(self._load_all)
                    log.info("routing: this process (%s) is the leader", self._me)
                deadline = asyncio.get_running_loop().time() + TICK_S
                while (left := deadline - asyncio.get_running_loop().time()) > 0:
                    try:
                        event = await asyncio.wait_for(self._events.get(), left)
                    except TimeoutError:
                        break
                    await self._apply(event)
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("routing step failed; reloading")
                self.is_leader = False
                await asyncio.sleep(1)

    # --- leadership -------------------------------------------------------------------------------------

    async def _hold_lease(self) -> bool:
        if self.settings.redis_url_or_none is None:
            return True
        # A synchronous client in a worker thread: awaiting it can always be cancelled at once (a cancelled
        # redis.asyncio command was seen to hold up the shutdown), and the thread ends by its socket timeout.
        return await asyncio.to_thread(self._hold_lease_sync)

    def _lease_client(self) -> Any:
        if self._redis is None:
            import redis

            url = self.settings.redis_url_or_none
            assert url is not None
            self._redis = redis.Redis.from_url(
                url, client_name=f"kefu-routing-{self._me}", socket_timeout=5, socket_connect_timeout=5
            )
        return self._redis

    def _hold_lease_sync(self) -> bool:
        with self._lease_lock:
            if self._stopped:
                return False
            return self._take_or_renew()

    def _take_or_renew(self) -> bool:
        client = self._lease_client()
        key = f"{self.settings.bus_namespace}:routing-leader"
        ms = int(LEASE_S * 1000)
        if client.set(key, self._me, nx=True, px=ms):
            return True
        # Renew only our own lease (compare and extend in one step).
        return bool(
            client.eval(
                "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) "
                "else return 0 end",
                1,
                key,
                self._me,
                ms,
            )
        )

    def _release_lease_sync(self) -> None:
        # Under the lock, after which no lease is taken any more: a lease request still in flight when
        # the service stopped cannot leave a lease behind for a process that is gone.
        with self._lease_lock:
            self._stopped = True
            if self._redis is None:
                return
            key = f"{self.settings.bus_namespace}:routing-leader"
            self._lease_client().eval(
                "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
                1,
                key,
                self._me,
            )

    # --- loading ----------------------------------------------------------------------------------------

    def _load_all(self) -> None:
        with self.database.session() as db:
            tenant_ids = db.scalars(select(Tenant.id)).all()
        self.engines.clear()
        self.serving.clear()
        for tenant_id in tenant_ids:
            self._load_tenant(tenant_id)

    def _load_tenant(self, tenant_id: int) -> list[Decision]:
        """Build the tenant's engine from the database; returns the decisions the loaded state calls for."""
        now = utcnow()
        engine = RoutingEngine()
        serving: dict[int, tuple[int, int | None, datetime]] = {}
        with self.database.session() as db:
            groups = db.scalars(select(SkillGroup).where(SkillGroup.tenant_id == tenant_id)).all()
            for g in groups:
                engine.set_group(g.id, Mode(g.mode.value), now=now)
                self._hours[g.id] = _hours_of(g)
            for g in groups:
                rule = _overflow_rule(g)
                if rule is not None:
                    with contextlib.suppress(RoutingError):
                        engine.set_group(g.id, Mode(g.mode.value), overflow=rule, now=now)
            memberships: dict[int, dict[int, int]] = defaultdict(dict)
            for m in db.scalars(select(SkillGroupAgent).where(SkillGroupAgent.tenant_id == tenant_id)):
                memberships[m.user_id][m.skill_group_id] = m.priority
            users = db.scalars(select(User).where(User.tenant_id == tenant_id, User.deleted_at.is_(None))).all()
            for u in users:
                if u.id not in memberships and u.agent_status == AgentStatus.offline.value:
                    continue
                engine.set_agent(u.id, capacity=u.max_concurrent, groups=memberships.get(u.id, {}), now=now)
            active = db.execute(
                select(
                    Conversation.id, Conversation.agent_id, Conversation.skill_group_id, Conversation.accepted_at
                ).where(Conversation.tenant_id == tenant_id, Conversation.status == ConversationStatus.active)
            ).all()
            for cid, agent_id, group_id, accepted_at in active:
                if agent_id in engine.agents:
                    engine.take(agent_id)
                    serving[cid] = (agent_id, group_id, accepted_at or now)
            statuses = [(u.id, AgentStatus(u.agent_status)) for u in users if u.id in engine.agents]
            waiting = db.execute(
                select(Conversation.id, Conversation.skill_group_id, Conversation.priority, Conversation.queued_at)
                .where(Conversation.tenant_id == tenant_id, Conversation.status.in_(WAITING))
                .order_by(Conversation.queued_at)
            ).all()
        self.engines[tenant_id] = engine
        self.serving[tenant_id] = serving
        decisions: list[Decision] = []
        for user_id, status in statuses:
            if status is not AgentStatus.offline:
                decisions += engine.set_status(user_id, status, now)
        for cid, group_id, priority, queued_at in waiting:
            if group_id in engine.groups:
                decisions += engine.enqueue(cid, group_id, now, priority=priority, queued_at=queued_at or now)
        decisions += engine.dispatch(now)
        self._carry_out(tenant_id, decisions)
        return decisions

    # --- events -----------------------------------------------------------------------------------------

    async def _apply(self, event: EventEnvelope) -> None:
        tenant_id = event.tenant_id
        engine = self.engines.get(tenant_id)
        t = event.type
        if engine is None or t.startswith(("skill_group.", "user.")):
            if t.startswith(("skill_group.", "user.", "tenant.")) or engine is None:
                await asyncio.to_thread(self._load_tenant, tenant_id)
            return
        now = utcnow()
        cid = event.conversation_id
        p = event.payload
        serving = self.serving[tenant_id]
        decisions: list[Decision] = []
        try:
            if t in ("conversation.queued", "conversation.overflowed") and cid is not None:
                group_id = p.get("skill_group_id") or p.get("to_group_id")
                w = engine.waiting.get(cid)
                if w is None or w.group_id != group_id:
                    if w is not None:
                        decisions += engine.remove(cid)
                    queued_at = await asyncio.to_thread(self._queued_at, cid)
                    if group_id in engine.groups and queued_at is not None:
                        decisions += engine.enqueue(
                            cid, group_id, now, priority=int(p.get("priority") or 0), queued_at=queued_at
                        )
            elif t == "conversation.accepted" and cid is not None and event.user_id is not None:
                if cid in engine.waiting:
                    decisions += engine.remove(cid)
                if serving.get(cid, (None,))[0] != event.user_id:
                    if event.user_id in engine.agents:
                        decisions += engine.take(event.user_id)
                    serving[cid] = (event.user_id, p.get("skill_group_id"), event.occurred_at)
            elif t == "conversation.ended" and cid is not None:
                if cid in engine.waiting:
                    decisions += engine.remove(cid)
                decisions += self._release(engine, serving, cid, now)
            elif t == "conversation.transferred" and cid is not None:
                decisions += self._release(engine, serving, cid, now)
                to_agent, to_group = p.get("to_agent_id"), p.get("to_group_id")
                if to_agent is not None:
                    if to_agent in engine.agents:
                        decisions += engine.take(to_agent)
                    serving[cid] = (to_agent, p.get("from_group_id"), now)
                elif to_group in engine.groups:
                    queued_at = await asyncio.to_thread(self._queued_at, cid)
                    decisions += engine.enqueue(
                        cid, to_group, now, priority=int(p.get("priority") or 0), queued_at=queued_at or now
                    )
            elif t == "agent.status_changed" and event.user_id in engine.agents:
                decisions += engine.set_status(event.user_id, AgentStatus(p["status"]), now)
            else:
                return
        except RoutingError:
            log.exception("routing state out of step on %s; reloading tenant %s", t, tenant_id)
            await asyncio.to_thread(self._load_tenant, tenant_id)
            return
        if decisions:
            await asyncio.to_thread(self._carry_out, tenant_id, decisions)

    def _release(
        self, engine: RoutingEngine, serving: dict[int, tuple[int, int | None, datetime]], cid: int, now: datetime
    ) -> list[Decision]:
        was = serving.pop(cid, None)
        if was is None or was[0] not in engine.agents:
            return []
        agent_id, group_id, since = was
        handled = (now - since).total_seconds() if group_id in engine.groups else None
        return engine.release(agent_id, now, group_id=group_id if handled is not None else None, handled_s=handled)

    def _still_waiting(self, ids: list[int]) -> dict[int, tuple[int, datetime]]:
        if not ids:
            return {}
        with self.database.session() as db:
            rows = db.execute(
                select(Conversation.id, Conversation.priority, Conversation.queued_at).where(
                    Conversation.id.in_(ids), Conversation.status.in_(WAITING)
                )
            ).all()
        return {cid: (priority, queued_at) for cid, priority, queued_at in rows if queued_at is not None}

    def _queued_at(self, cid: int) -> datetime | None:
        with self.database.session() as db:
            return db.scalar(select(Conversation.queued_at).where(Conversation.id == cid))

    # --- decisions --------------------------------------------------------------------------------------

    def _carry_out(self, tenant_id: int, decisions: list[Decision]) -> None:
        """Write the engine's assignments and overflows; hand back what the database refused."""
        engine = self.engines[tenant_id]
        serving = self.serving[tenant_id]
        while decisions:
            assigns = [d for d in decisions if isinstance(d, Assign)]
            overflows = [d for d in decisions if isinstance(d, Overflow)]
            decisions = []
            now = utcnow()
            for o in overflows:
                with self.database.session() as db, contextlib.suppress(Exception):
                    do_overflow_conversation(db, o.conversation_id, tenant_id=tenant_id, to_group_id=o.to_group)
            if not assigns:
                continue
            with self.database.session() as db:
                done = set(
                    do_assign_conversations(db, [(a.conversation_id, a.agent_id) for a in assigns], tenant_id=tenant_id)
                )
            refused = [a for a in assigns if a.conversation_id not in done]
            still_waiting = self._still_waiting([a.conversation_id for a in refused])
            for a in assigns:
                if a.conversation_id in done:
                    serving[a.conversation_id] = (a.agent_id, a.group_id, now)
                elif a.conversation_id in still_waiting:
                    # Refused but still waiting (e.g. the agent was just set away): back to its place.
                    priority, queued_at = still_waiting[a.conversation_id]
                    decisions += engine.requeue(
                        a.conversation_id, a.group_id, now, agent_id=a.agent_id, priority=priority, queued_at=queued_at
                    )
                else:
                    # Taken or left meanwhile: the agent's load goes back, and he may get the next one.
                    decisions += engine.release(a.agent_id, now)

    # --- time -------------------------------------------------------------------------------------------

    async def _tick(self) -> None:
        now = utcnow()
        for tenant_id, engine in list(self.engines.items()):
            decisions = engine.tick(now)
            if decisions:
                await asyncio.to_thread(self._carry_out, tenant_id, decisions)
        await asyncio.to_thread(self._end_inactive, now)

    def _end_inactive(self, now: datetime) -> None:
        """Conversations with no message from anyone for the configured time are ended (by timeout)."""
        limit = self.settings.conversation_idle_timeout_s
        if not limit:
            return
        cutoff = now - timedelta(seconds=limit)
        with self.database.session() as db:
            idle = db.execute(
                select(Conversation.id, Conversation.tenant_id)
                .where(
                    Conversation.status == ConversationStatus.active,
                    func.coalesce(Conversation.last_message_at, Conversation.accepted_at) < cutoff,
                )
                .limit(200)
            ).all()
            for cid, tenant_id in idle:
                with contextlib.suppress(Exception):
                    do_end_conversation(db, cid, tenant_id=tenant_id, ended_by="timeout", reason="inactive")

    # --- what visitors are told -------------------------------------------------------------------------

    def closed_message(self, group: SkillGroup) -> dict[str, Any] | None:
        """The off-hours notice when the group is closed now, else None."""
        hours = _hours_of(group)
        if hours is None:
            return None
        now = utcnow()
        if hours.is_open(now):
            return None
        nxt = hours.next_open(now)
        return {
            "code": "off_hours",
            "body": group.off_hours_message or "您好，现在是非工作时间，客服上班后会尽快回复您。",
            "next_open": nxt.isoformat() if nxt else None,
        }

    def queue_info(self, tenant_id: int, conversation_id: int) -> dict[str, Any] | None:
        engine = self.engines.get(tenant_id)
        if engine is None or conversation_id not in engine.waiting:
            return None
        return {
            "position": engine.queue_position(conversation_id),
            "expected_wait_s": engine.expected_wait_s(conversation_id),
        }


def _hours_of(group: SkillGroup) -> WorkingHours | None:
    if not group.working_hours:
        return None
    try:
        return WorkingHours.from_dict(group.working_hours)
    except ValueError:
        log.warning("skill group %s has invalid working hours; treated as always open", group.id)
        return None


def _overflow_rule(group: SkillGroup) -> OverflowRule | None:
    if group.overflow_group_id is None or (group.overflow_after_s is None and group.overflow_queue_len is None):
        return None
    return OverflowRule(
        to_group=group.overflow_group_id,
        after_wait_s=group.overflow_after_s,
        above_queue_len=group.overflow_queue_len,
    )
