"""The routing engine: pure, no I/O, the clock passed in.

It holds the live routing state of one tenant — agents (status, capacity, load, skill groups) and the
queue of each skill group — and answers every change with *decisions*: assign a conversation to an
agent, offer it to several agents (broadcast-grab), withdraw offers. The caller (the routing service)
turns decisions into actions that write the database; the database stays the arbiter of races, e.g. a
grab is only won by the one agent whose compare-and-set on the conversation row succeeds.

Because it is pure and takes ``now``, a simulated day runs in seconds (see the Erlang C check in the
tests) and every rule is unit-tested directly.

Queue order: higher ``priority`` first (VIP), then earlier ``queued_at``, then arrival order.
Modes:
- round-robin (轮流分配): the next agent after the last one served, in a fixed ring, who is online
  and has room; lower tier numbers (primary agents) are tried before higher ones (backup);
- least-busy: the eligible agent with the fewest open conversations (then the lowest load ratio, then
  the one idle the longest);
- broadcast-grab (抢单): every eligible agent is offered every waiting conversation at once; the first
  grab wins and the offer is withdrawn from the others.
When an agent serves several groups and has room, the best waiting conversation over his passive groups
goes first, so no group starves another.
"""

from __future__ import annotations

import bisect
import enum
import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime


class Mode(enum.StrEnum):
    round_robin = "round_robin"
    broadcast_grab = "broadcast_grab"
    least_busy = "least_busy"


class AgentStatus(enum.StrEnum):
    online = "online"
    busy = "busy"  # present, takes no new conversations
    away = "away"
    offline = "offline"


# --- decisions ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assign:
    conversation_id: int
    agent_id: int
    group_id: int
    queued_at: datetime


@dataclass(frozen=True)
class Offer:
    conversation_id: int
    group_id: int
    agent_ids: frozenset[int]


@dataclass(frozen=True)
class Withdraw:
    conversation_id: int
    agent_ids: frozenset[int]


Decision = Assign | Offer | Withdraw


class RoutingError(Exception):
    pass


# --- state ---------------------------------------------------------------------------------------------


@dataclass
class Agent:
    id: int
    capacity: int
    status: AgentStatus = AgentStatus.offline
    load: int = 0
    groups: dict[int, int] = field(default_factory=dict)  # group id -> tier (0 = primary)
    last_assigned_at: datetime | None = None

    @property
    def has_room(self) -> bool:
        return self.status is AgentStatus.online and self.load < self.capacity


@dataclass
class Waiting:
    conversation_id: int
    group_id: int
    priority: int
    queued_at: datetime
    seq: int
    offered_to: set[int] = field(default_factory=set)

    def sort_key(self) -> tuple[int, datetime, int]:
        return (-self.priority, self.queued_at, self.seq)


@dataclass
class Group:
    id: int
    mode: Mode
    #: Agent ids of the group in ring order (sorted), for round-robin.
    ring: list[int] = field(default_factory=list)
    cursor: int | None = None  # the agent served last
    heap: list[tuple[tuple[int, datetime, int], int]] = field(default_factory=list)


class RoutingEngine:
    def __init__(self) -> None:
        self.agents: dict[int, Agent] = {}
        self.groups: dict[int, Group] = {}
        self.waiting: dict[int, Waiting] = {}
        self._seq = itertools.count()

    # --- configuration ---------------------------------------------------------------------------------

    def set_group(self, group_id: int, mode: Mode) -> list[Decision]:
        group = self.groups.get(group_id)
        if group is None:
            self.groups[group_id] = Group(group_id, mode)
            return []
        old = group.mode
        group.mode = mode
        decisions: list[Decision] = []
        if old is Mode.broadcast_grab and mode is not Mode.broadcast_grab:
            for w in self._queued(group_id):
                if w.offered_to:
                    decisions.append(Withdraw(w.conversation_id, frozenset(w.offered_to)))
                    w.offered_to.clear()
        return decisions

    def set_agent(self, agent_id: int, *, capacity: int, groups: dict[int, int]) -> None:
        """Add an agent or change his capacity and groups ({group id: tier}); status and load are kept."""
        if capacity < 0:
            raise RoutingError("capacity must not be negative")
        agent = self.agents.get(agent_id)
        if agent is None:
            agent = self.agents[agent_id] = Agent(agent_id, capacity)
        for gid in set(agent.groups) - set(groups):
            ring = self.groups[gid].ring
            ring.pop(bisect.bisect_left(ring, agent_id))
        for gid in set(groups) - set(agent.groups):
            if gid not in self.groups:
                raise RoutingError(f"unknown skill group {gid}")
            bisect.insort(self.groups[gid].ring, agent_id)
        agent.capacity = capacity
        agent.groups = dict(groups)

    # --- changes -----------------------------------------------------------------------------------------

    def enqueue(
        self,
        conversation_id: int,
        group_id: int,
        now: datetime,
        *,
        priority: int = 0,
        queued_at: datetime | None = None,
    ) -> list[Decision]:
        if conversation_id in self.waiting:
            raise RoutingError(f"conversation {conversation_id} is already queued")
        group = self.groups.get(group_id)
        if group is None:
            raise RoutingError(f"unknown skill group {group_id}")
        w = Waiting(conversation_id, group_id, priority, queued_at or now, next(self._seq))
        self.waiting[conversation_id] = w
        heapq.heappush(group.heap, (w.sort_key(), conversation_id))
        return self.dispatch(now)

    def set_status(self, agent_id: int, status: AgentStatus, now: datetime) -> list[Decision]:
        agent = self._agent(agent_id)
        agent.status = status
        return self.dispatch(now)

    def release(self, agent_id: int, now: datetime) -> list[Decision]:
        """One of the agent's conversations ended or was transferred away."""
        agent = self._agent(agent_id)
        agent.load = max(0, agent.load - 1)
        return self.dispatch(now)

    def take(self, agent_id: int) -> None:
        """The agent got a conversation outside the queue (e.g. a direct transfer to him)."""
        self._agent(agent_id).load += 1

    def abandon(self, conversation_id: int) -> list[Decision]:
        """The visitor left the queue before anyone accepted."""
        w = self.waiting.pop(conversation_id, None)
        if w is None or not w.offered_to:
            return []
        return [Withdraw(conversation_id, frozenset(w.offered_to))]

    def grab(self, conversation_id: int, agent_id: int, now: datetime) -> list[Decision]:
        """An agent grabs an offered conversation. Returns the assignment (and the withdrawal of the offer
        from the others), or raises RoutingError when it is gone or the agent may not take it."""
        w = self.waiting.get(conversation_id)
        if w is None:
            raise RoutingError("the conversation was already taken")
        agent = self._agent(agent_id)
        if agent_id not in w.offered_to or not agent.has_room:
            raise RoutingError("the agent may not take this conversation now")
        del self.waiting[conversation_id]
        others = frozenset(w.offered_to - {agent_id})
        decisions: list[Decision] = [self._assign(w, agent, now)]
        if others:
            decisions.append(Withdraw(conversation_id, others))
        return decisions + self.dispatch(now)

    # --- the decision -----------------------------------------------------------------------------------

    def dispatch(self, now: datetime) -> list[Decision]:
        decisions: list[Decision] = []
        self._dispatch_passive(now, decisions)
        self._refresh_offers(decisions)
        return decisions

    def _dispatch_passive(self, now: datetime, out: list[Decision]) -> None:
        passive = [g for g in self.groups.values() if g.mode is not Mode.broadcast_grab]
        while True:
            best: tuple[tuple[int, datetime, int], Group, Agent] | None = None
            for group in passive:
                head = self._head(group)
                if head is None or (best is not None and head.sort_key() >= best[0]):
                    continue
                agent = self._pick(group)
                if agent is not None:
                    best = (head.sort_key(), group, agent)
            if best is None:
                return
            _, group, agent = best
            _, conversation_id = heapq.heappop(group.heap)
            w = self.waiting.pop(conversation_id)
            out.append(self._assign(w, agent, now))

    def _refresh_offers(self, out: list[Decision]) -> None:
        """Broadcast groups: every waiting conversation is offered to exactly the agents who could grab
        it now; offers to agents who no longer can are withdrawn."""
        for group in self.groups.values():
            if group.mode is not Mode.broadcast_grab:
                continue
            eligible = frozenset(a for a in group.ring if self.agents[a].has_room)
            for w in self._queued(group.id):
                gone = w.offered_to - eligible
                new = eligible - w.offered_to
                if gone:
                    out.append(Withdraw(w.conversation_id, frozenset(gone)))
                if new:
                    out.append(Offer(w.conversation_id, group.id, frozenset(new)))
                w.offered_to = set(eligible)

    def _pick(self, group: Group) -> Agent | None:
        candidates = [self.agents[a] for a in group.ring if self.agents[a].has_room]
        if not candidates:
            return None
        tier = min(a.groups[group.id] for a in candidates)
        candidates = [a for a in candidates if a.groups[group.id] == tier]
        if group.mode is Mode.least_busy:
            return min(candidates, key=lambda a: (a.load, a.load / max(a.capacity, 1), _idle_key(a), a.id))
        # Round-robin: the first candidate after the one served last, around the ring.
        if group.cursor is not None:
            for agent in candidates:
                if agent.id > group.cursor:
                    return agent
        return candidates[0]

    def _assign(self, w: Waiting, agent: Agent, now: datetime) -> Assign:
        agent.load += 1
        agent.last_assigned_at = now
        self.groups[w.group_id].cursor = agent.id
        return Assign(w.conversation_id, agent.id, w.group_id, w.queued_at)

    # --- reading ------------------------------------------------------------------------------------------

    def _head(self, group: Group) -> Waiting | None:
        # Entries of conversations that left the queue (abandoned, grabbed) are dropped lazily.
        while group.heap:
            conversation_id = group.heap[0][1]
            w = self.waiting.get(conversation_id)
            if w is not None and w.group_id == group.id:
                return w
            heapq.heappop(group.heap)
        return None

    def _queued(self, group_id: int) -> Iterator[Waiting]:
        """The group's waiting conversations, in heap order (not sorted: offers need no order)."""
        for _, conversation_id in self.groups[group_id].heap:
            w = self.waiting.get(conversation_id)
            if w is not None and w.group_id == group_id:
                yield w

    def queue_position(self, conversation_id: int) -> int:
        """1 for the next in line, counting only conversations ahead in the same group."""
        w = self.waiting[conversation_id]
        return 1 + sum(1 for o in self.waiting.values() if o.group_id == w.group_id and o.sort_key() < w.sort_key())

    def queue_length(self, group_id: int) -> int:
        return sum(1 for w in self.waiting.values() if w.group_id == group_id)

    def _agent(self, agent_id: int) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise RoutingError(f"unknown agent {agent_id}")
        return agent


def _idle_key(agent: Agent) -> tuple[int, datetime | None]:
    # Never assigned sorts first, then the longest idle.
    return (0, None) if agent.last_assigned_at is None else (1, agent.last_assigned_at)
