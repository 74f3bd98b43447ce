"""The routing engine: pure, no I/O, the clock passed in.

It holds the live routing state of one tenant — agents (status, capacity, load, skill groups) and the
queue of each skill group — and answers every change with *decisions* (below). The caller (the routing
service) turns decisions into actions that write the database; the database stays the arbiter of races,
e.g. a grab is only won by the one agent whose compare-and-set on the conversation row succeeds.

Because it is pure and takes ``now``, a simulated day runs in seconds (see the Erlang C check in the
tests) and every rule is unit-tested directly. Methods that change the configuration take ``now`` as an
optional keyword; without it the latest time the engine was given is used.

Queue order: higher ``priority`` first (VIP), then earlier ``queued_at``, then arrival order. Each group
keeps its queue in a sorted list, so a position is found in O(log n) and nothing stale stays behind
when a conversation leaves and later comes back under the same id.

Modes:

- round-robin (轮流分配): the next agent after the last one served, in id order, who is online and has
  room; lower tier numbers (primary agents) are tried before higher ones (backup);
- least-busy: the eligible agent with the fewest open conversations (then the lowest load ratio, then
  the one idle the longest);
- broadcast-grab (抢单): the group's whole queue is offered to every *eligible* agent of the group
  (online, with room; tiers do not matter); the first grab wins and the offer is withdrawn from the
  others.

When an agent serves several groups and has room, the best waiting conversation over his passive groups
goes first, so no group starves another.

Decisions (frozen dataclasses; a call returns them in the order they are to be applied):

- ``Assign(conversation_id, agent_id, group_id, queued_at)``: the engine took the conversation out of the
  queue and counted it on the agent. The service accepts it for the agent with a compare-and-set; when
  that fails it calls :meth:`RoutingEngine.requeue` (the visitor still waits) or
  :meth:`RoutingEngine.release` (the conversation is gone).
- ``OfferGroup(group_id, agent_ids)``: these agents join the *offer set* of a broadcast group: show them
  the group's whole queue (``engine.queued(group_id)`` after the call) and, from now on, its arrivals.
  One decision however long the queue is.
- ``WithdrawGroup(group_id, agent_ids)``: these agents leave the offer set (went away, got full, left
  the group, the group stopped broadcasting): take all of the group's conversations off their lists.
- ``Offer(conversation_id, group_id, agent_ids)``: a conversation joined a broadcast group's queue (new
  arrival, overflow, requeue); show it to these agents (the group's offer set at that moment).
- ``Withdraw(conversation_id, group_id, agent_ids)``: a conversation left a broadcast group's queue
  (grabbed, removed, overflowed); take it off these agents' lists. After a grab the winner is not among
  them: his ``Assign`` takes it off his list.
- ``Overflow(conversation_id, from_group, to_group, reason)``: the conversation moved to another group's
  queue keeping its ``queued_at`` and ``priority``; the service records it. Any ``Withdraw`` from the old
  group comes before it and any ``Offer`` or ``Assign`` in the new group after it.

Invariant after every call: an agent sees a broadcast group's conversation exactly when the conversation
waits in that group and the agent is in the group's offer set, which is exactly the group's eligible
agents. Group-level decisions come after the per-conversation ones of the same call (the one exception,
``WithdrawGroup`` when a group stops broadcasting, comes first), so reading ``queued()`` once the call
returned gives an ``OfferGroup`` the right content. No call walks a queue: queue operations are
O(log n), and offers are recomputed only for the agents whose eligibility changed.

The engine keeps derived state (each group's eligible agents, offer set and online capacity), so change
agents and groups only through its methods — never assign ``engine.agents[i].status`` directly.

Overflow (溢出): a group may have an :class:`OverflowRule` to a target group. A conversation *arriving*
in the group (enqueued, or overflowing into it) while it would have to wait behind ``above_queue_len``
or more others moves on at once; one that has waited ``after_wait_s`` seconds *in the group* (since it
entered it: enqueue or overflow time, so a conversation enqueued again after a restart starts counting
again) moves on at the next :meth:`RoutingEngine.tick`. A conversation never enters a group it has
been in before, so there are no cycles and every rule fires at most once per conversation. ``tick``
only looks at the oldest conversation of each group with a time rule.

Expected wait (``expected_wait_s``): position in the queue × the group's mean handling time ÷ the
capacity of the group's online agents — the time until that many conversations have been finished if
every slot is busy (exact for an M/M/c queue). The mean handling time is an exponential moving average
of the accept→release durations the service reports (``release(..., handled_s=...)`` or
``observe_handle_time``).
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sortedcontainers import SortedList


class Mode(enum.StrEnum):
    round_robin = "round_robin"
    broadcast_grab = "broadcast_grab"
    least_busy = "least_busy"


class AgentStatus(enum.StrEnum):
    online = "online"
    busy = "busy"  # present, takes no new conversations
    away = "away"
    offline = "offline"


class OverflowReason(enum.StrEnum):
    wait = "wait"  # waited after_wait_s in the group
    queue_length = "queue_length"  # arrived while above_queue_len or more were waiting


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
    group_id: int
    agent_ids: frozenset[int]


@dataclass(frozen=True)
class OfferGroup:
    group_id: int
    agent_ids: frozenset[int]


@dataclass(frozen=True)
class WithdrawGroup:
    group_id: int
    agent_ids: frozenset[int]


@dataclass(frozen=True)
class Overflow:
    conversation_id: int
    from_group: int
    to_group: int
    reason: OverflowReason


Decision = Assign | Offer | Withdraw | OfferGroup | WithdrawGroup | Overflow


class RoutingError(Exception):
    pass


# --- configuration values --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverflowRule:
    """Move a conversation to ``to_group`` after ``after_wait_s`` seconds in the group, and/or when it
    arrives while ``above_queue_len`` or more conversations are waiting ahead of it."""

    to_group: int
    after_wait_s: float | None = None
    above_queue_len: int | None = None

    def __post_init__(self) -> None:
        if self.after_wait_s is None and self.above_queue_len is None:
            raise RoutingError("an overflow rule needs after_wait_s or above_queue_len")
        if self.after_wait_s is not None and self.after_wait_s < 0:
            raise RoutingError("after_wait_s must not be negative")
        if self.above_queue_len is not None and self.above_queue_len < 0:
            raise RoutingError("above_queue_len must not be negative")


# --- state ---------------------------------------------------------------------------------------------

#: Queue order: (-priority, queued_at, seq, conversation id); seq makes every key unique.
QueueKey = tuple[int, datetime, int, int]
#: Time-overflow order: (since, seq, conversation id).
TimerKey = tuple[datetime, int, int]

#: How many recent assignments are remembered so that ``requeue`` restores them exactly.
_ASSIGNED_MEMO = 10_000


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

    @property
    def online_capacity(self) -> int:
        return self.capacity if self.status is AgentStatus.online else 0


@dataclass
class Waiting:
    conversation_id: int
    group_id: int
    priority: int
    queued_at: datetime
    seq: int
    #: When it entered its current group (enqueue, overflow); time-based overflow counts from here.
    since: datetime
    #: Every group it has waited in, the current one included.
    visited: frozenset[int]

    @property
    def key(self) -> QueueKey:
        return (-self.priority, self.queued_at, self.seq, self.conversation_id)

    @property
    def timer_key(self) -> TimerKey:
        return (self.since, self.seq, self.conversation_id)


@dataclass
class Group:
    id: int
    mode: Mode
    overflow: OverflowRule | None = None
    members: set[int] = field(default_factory=set)
    #: Members who could take a conversation now (online, with room).
    eligible: set[int] = field(default_factory=set)
    #: Broadcast groups: the agents the queue is offered to (equals ``eligible`` between calls).
    offered: set[int] = field(default_factory=set)
    cursor: int | None = None  # the agent served last (round-robin)
    queue: SortedList = field(default_factory=SortedList)  # QueueKey
    #: Waiting conversations the time-based overflow rule may still move (TimerKey).
    timers: SortedList = field(default_factory=SortedList)
    #: Sum of the capacities of the online members.
    online_capacity: int = 0
    #: Exponential moving average of handling times (seconds); None before the first observation.
    mean_handle_s: float | None = None

    def times_out(self, w: Waiting) -> bool:
        rule = self.overflow
        return rule is not None and rule.after_wait_s is not None and rule.to_group not in w.visited


class RoutingEngine:
    def __init__(self, *, handle_time_alpha: float = 0.2) -> None:
        if not 0 < handle_time_alpha <= 1:
            raise RoutingError("handle_time_alpha must be in (0, 1]")
        self.handle_time_alpha = handle_time_alpha
        self.agents: dict[int, Agent] = {}
        self.groups: dict[int, Group] = {}
        self.waiting: dict[int, Waiting] = {}
        self._seq = itertools.count()
        self._now: datetime | None = None
        #: Broadcast group id -> agents whose eligibility may have changed since the last call.
        self._dirty: dict[int, set[int]] = {}
        #: Groups with a time-based overflow rule.
        self._timed: list[Group] = []
        #: Recent assignments by conversation id, oldest first, for ``requeue``.
        self._assigned: dict[int, Waiting] = {}

    # --- configuration ---------------------------------------------------------------------------------

    def set_group(
        self, group_id: int, mode: Mode, *, overflow: OverflowRule | None = None, now: datetime | None = None
    ) -> list[Decision]:
        """Add a group or change its mode and overflow rule (``None``: no overflow)."""
        if overflow is not None:
            if overflow.to_group == group_id:
                raise RoutingError("a group cannot overflow into itself")
            if overflow.to_group not in self.groups:
                raise RoutingError(f"unknown overflow target group {overflow.to_group}")
        clock = self._clock(now)
        out: list[Decision] = []
        group = self.groups.get(group_id)
        if group is None:
            group = self.groups[group_id] = Group(group_id, mode)
        elif group.mode is not mode:
            if group.mode is Mode.broadcast_grab:
                if group.offered:
                    out.append(WithdrawGroup(group_id, frozenset(group.offered)))
                group.offered.clear()
                self._dirty.pop(group_id, None)
            elif mode is Mode.broadcast_grab:
                self._dirty[group_id] = set(group.eligible)
            group.mode = mode
        if overflow != group.overflow:
            group.overflow = overflow
            group.timers = SortedList(
                self.waiting[k[3]].timer_key for k in group.queue if group.times_out(self.waiting[k[3]])
            )
            self._timed = [g for g in self.groups.values() if g.overflow and g.overflow.after_wait_s is not None]
        return self._finish(clock, out)

    def set_agent(
        self, agent_id: int, *, capacity: int, groups: dict[int, int], now: datetime | None = None
    ) -> list[Decision]:
        """Add an agent or change his capacity and groups ({group id: tier}); status and load are kept.
        Returns what the change causes, e.g. waiting work for an agent who joined a group."""
        if capacity < 0:
            raise RoutingError("capacity must not be negative")
        unknown = sorted(set(groups) - set(self.groups))
        if unknown:
            raise RoutingError(f"unknown skill group {', '.join(map(str, unknown))}")
        clock = self._clock(now)
        agent = self.agents.get(agent_id)
        if agent is None:
            agent = self.agents[agent_id] = Agent(agent_id, capacity)
        for gid in agent.groups:
            self.groups[gid].online_capacity -= agent.online_capacity
        for gid in set(agent.groups) - set(groups):
            group = self.groups[gid]
            group.members.discard(agent_id)
            group.eligible.discard(agent_id)
            if group.mode is Mode.broadcast_grab:
                self._dirty.setdefault(gid, set()).add(agent_id)
        for gid in groups:
            self.groups[gid].members.add(agent_id)
        agent.capacity = capacity
        agent.groups = dict(groups)
        for gid in agent.groups:
            self.groups[gid].online_capacity += agent.online_capacity
        self._touch(agent)
        return self._finish(clock, [])

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
        """A conversation asks for a person. ``queued_at`` (default ``now``) orders the queue and is kept
        through overflows; arrival overflow rules apply."""
        if conversation_id in self.waiting:
            raise RoutingError(f"conversation {conversation_id} is already queued")
        if group_id not in self.groups:
            raise RoutingError(f"unknown skill group {group_id}")
        _check_aware(now, queued_at)
        self._now = now
        self._assigned.pop(conversation_id, None)
        w = Waiting(conversation_id, group_id, priority, queued_at or now, next(self._seq), now, frozenset({group_id}))
        out: list[Decision] = []
        self._insert(w, now, out, arrival=True)
        return self._finish(now, out)

    def requeue(
        self,
        conversation_id: int,
        group_id: int,
        now: datetime,
        *,
        agent_id: int,
        priority: int,
        queued_at: datetime,
    ) -> list[Decision]:
        """Undo an ``Assign`` the database refused while the visitor still waits: the agent's load is
        released and the conversation goes back to its original place in ``group_id`` (by ``priority``
        and ``queued_at``; a recent assignment also gets back its tie-break, overflow history and time
        in the group). If the conversation is gone instead, call ``release(agent_id, now)``."""
        if conversation_id in self.waiting:
            raise RoutingError(f"conversation {conversation_id} is already queued")
        if group_id not in self.groups:
            raise RoutingError(f"unknown skill group {group_id}")
        agent = self._agent(agent_id)
        _check_aware(now, queued_at)
        self._now = now
        agent.load = max(0, agent.load - 1)
        self._touch(agent)
        old = self._assigned.pop(conversation_id, None)
        if old is not None and old.group_id == group_id:
            w = Waiting(conversation_id, group_id, priority, queued_at, old.seq, old.since, old.visited)
        else:
            w = Waiting(conversation_id, group_id, priority, queued_at, next(self._seq), now, frozenset({group_id}))
        out: list[Decision] = []
        self._insert(w, now, out, arrival=False)
        return self._finish(now, out)

    def set_status(self, agent_id: int, status: AgentStatus, now: datetime) -> list[Decision]:
        agent = self._agent(agent_id)
        self._now = now
        before = agent.online_capacity
        agent.status = status
        for gid in agent.groups:
            self.groups[gid].online_capacity += agent.online_capacity - before
        self._touch(agent)
        return self._finish(now, [])

    def release(
        self, agent_id: int, now: datetime, *, group_id: int | None = None, handled_s: float | None = None
    ) -> list[Decision]:
        """One of the agent's conversations ended or was transferred away. With ``group_id`` and
        ``handled_s`` (accept→release seconds) the group's mean handling time learns from it."""
        agent = self._agent(agent_id)
        if handled_s is not None:
            if group_id is None:
                raise RoutingError("handled_s needs the group_id it was handled in")
            self._check_handle_time(group_id, handled_s)
        self._now = now
        agent.load = max(0, agent.load - 1)
        if handled_s is not None and group_id is not None:
            self.observe_handle_time(group_id, handled_s)
        self._touch(agent)
        return self._finish(now, [])

    def observe_handle_time(self, group_id: int, seconds: float) -> None:
        """Feed one accept→release duration into the group's moving average."""
        self._check_handle_time(group_id, seconds)
        group = self.groups[group_id]
        if group.mean_handle_s is None:
            group.mean_handle_s = float(seconds)
        else:
            group.mean_handle_s += self.handle_time_alpha * (seconds - group.mean_handle_s)

    def take(self, agent_id: int) -> list[Decision]:
        """The agent got a conversation outside the queue (e.g. a direct transfer to him)."""
        agent = self._agent(agent_id)
        agent.load += 1
        self._touch(agent)
        out: list[Decision] = []
        self._publish_offers(out)
        return out

    def remove(self, conversation_id: int) -> list[Decision]:
        """The conversation left the queue for any reason (the visitor left, it was closed or transferred
        elsewhere): withdraw its offers. Unknown or no longer waiting: nothing happens."""
        self._assigned.pop(conversation_id, None)
        w = self.waiting.get(conversation_id)
        if w is None:
            return []
        out: list[Decision] = []
        self._detach(w, out)
        return out

    def abandon(self, conversation_id: int) -> list[Decision]:
        """The visitor left the queue before anyone accepted (same as ``remove``)."""
        return self.remove(conversation_id)

    def grab(self, conversation_id: int, agent_id: int, now: datetime) -> list[Decision]:
        """An agent grabs an offered conversation. Returns the assignment (and the withdrawal of the offer
        from the others), or raises RoutingError when it is gone or the agent may not take it."""
        w = self.waiting.get(conversation_id)
        if w is None:
            raise RoutingError("the conversation was already taken")
        agent = self._agent(agent_id)
        group = self.groups[w.group_id]
        if group.mode is not Mode.broadcast_grab or agent_id not in group.offered or not agent.has_room:
            raise RoutingError("the agent may not take this conversation now")
        self._now = now
        out: list[Decision] = []
        withdraw: list[Decision] = []
        self._detach(w, withdraw, keep=agent_id)
        out.append(self._assign(w, agent, now))
        out += withdraw
        return self._finish(now, out)

    def tick(self, now: datetime) -> list[Decision]:
        """Time-based overflow; call it every second or so. Cost: one look per group with a time rule,
        plus the conversations that move."""
        self._now = now
        out: list[Decision] = []
        moved = True
        while moved:  # again when a move made another one due (after_wait_s == 0); visits bound it
            moved = False
            for group in self._timed:
                rule = group.overflow
                assert rule is not None and rule.after_wait_s is not None
                limit = now - timedelta(seconds=rule.after_wait_s)
                while group.timers and group.timers[0][0] <= limit:
                    w = self.waiting[group.timers[0][2]]
                    self._move(w, rule.to_group, OverflowReason.wait, now, out)
                    moved = True
        return self._finish(now, out)

    # --- the decision -----------------------------------------------------------------------------------

    def dispatch(self, now: datetime) -> list[Decision]:
        self._now = now
        return self._finish(now, [])

    def _finish(self, now: datetime | None, out: list[Decision]) -> list[Decision]:
        self._dispatch_passive(now, out)
        self._publish_offers(out)
        return out

    def _dispatch_passive(self, now: datetime | None, out: list[Decision]) -> None:
        while True:
            best: Group | None = None
            for group in self.groups.values():
                if (
                    group.mode is not Mode.broadcast_grab
                    and group.queue
                    and group.eligible
                    and (best is None or group.queue[0] < best.queue[0])
                ):
                    best = group
            if best is None:
                return
            w = self.waiting[best.queue[0][3]]
            self._detach(w, out)
            out.append(self._assign(w, self._pick(best), now))

    def _publish_offers(self, out: list[Decision]) -> None:
        """Bring every broadcast group's offer set up to its eligible agents, deciding only the change."""
        for gid, agents in self._dirty.items():
            group = self.groups[gid]
            gone = frozenset(a for a in agents if a in group.offered and a not in group.eligible)
            new = frozenset(a for a in agents if a in group.eligible and a not in group.offered)
            if gone:
                group.offered -= gone
                out.append(WithdrawGroup(gid, gone))
            if new:
                group.offered |= new
                out.append(OfferGroup(gid, new))
        self._dirty.clear()

    def _pick(self, group: Group) -> Agent:
        candidates = [self.agents[a] for a in group.eligible]
        tier = min(a.groups[group.id] for a in candidates)
        candidates = [a for a in candidates if a.groups[group.id] == tier]
        if group.mode is Mode.least_busy:
            return min(candidates, key=lambda a: (a.load, a.load / max(a.capacity, 1), _idle_key(a), a.id))
        # Round-robin: the first candidate after the one served last, in id order, around the ring.
        cursor = group.cursor
        after = [a for a in candidates if cursor is not None and a.id > cursor]
        return min(after or candidates, key=lambda a: a.id)

    def _assign(self, w: Waiting, agent: Agent, now: datetime | None) -> Assign:
        agent.load += 1
        agent.last_assigned_at = now
        self.groups[w.group_id].cursor = agent.id
        self._assigned.pop(w.conversation_id, None)
        self._assigned[w.conversation_id] = w
        if len(self._assigned) > _ASSIGNED_MEMO:
            del self._assigned[next(iter(self._assigned))]
        self._touch(agent)
        return Assign(w.conversation_id, agent.id, w.group_id, w.queued_at)

    # --- queue bookkeeping --------------------------------------------------------------------------------

    def _insert(self, w: Waiting, now: datetime, out: list[Decision], *, arrival: bool) -> None:
        """Put ``w`` into its group's queue; an arrival first follows the queue-length overflow rules."""
        if arrival:
            group = self.groups[w.group_id]
            rule = group.overflow
            if (
                rule is not None
                and rule.above_queue_len is not None
                and rule.to_group not in w.visited
                and len(group.queue) >= rule.above_queue_len
                and (group.mode is Mode.broadcast_grab or not group.eligible)
            ):
                out.append(Overflow(w.conversation_id, w.group_id, rule.to_group, OverflowReason.queue_length))
                w.group_id = rule.to_group
                w.visited |= {rule.to_group}
                w.since = now
                self._insert(w, now, out, arrival=True)
                return
        group = self.groups[w.group_id]
        self.waiting[w.conversation_id] = w
        group.queue.add(w.key)
        if group.times_out(w):
            group.timers.add(w.timer_key)
        if group.mode is Mode.broadcast_grab and group.offered:
            out.append(Offer(w.conversation_id, group.id, frozenset(group.offered)))

    def _detach(self, w: Waiting, out: list[Decision], *, keep: int | None = None) -> None:
        """Take ``w`` out of its queue, withdrawing its offers (except from ``keep``, the grabber)."""
        group = self.groups[w.group_id]
        del self.waiting[w.conversation_id]
        group.queue.remove(w.key)
        group.timers.discard(w.timer_key)
        if group.mode is Mode.broadcast_grab:
            others = group.offered - {keep} if keep is not None else group.offered
            if others:
                out.append(Withdraw(w.conversation_id, group.id, frozenset(others)))

    def _move(self, w: Waiting, to_group: int, reason: OverflowReason, now: datetime, out: list[Decision]) -> None:
        from_group = w.group_id
        self._detach(w, out)
        out.append(Overflow(w.conversation_id, from_group, to_group, reason))
        w.group_id = to_group
        w.visited |= {to_group}
        w.since = now
        self._insert(w, now, out, arrival=True)

    def _touch(self, agent: Agent) -> None:
        """The agent's status, load or capacity changed: update the eligible sets of his groups."""
        room = agent.has_room
        for gid in agent.groups:
            group = self.groups[gid]
            if room:
                group.eligible.add(agent.id)
            else:
                group.eligible.discard(agent.id)
            if group.mode is Mode.broadcast_grab:
                self._dirty.setdefault(gid, set()).add(agent.id)

    # --- reading ------------------------------------------------------------------------------------------

    def queue_position(self, conversation_id: int) -> int:
        """1 for the next in line, counting only conversations ahead in the same group. O(log n)."""
        w = self._waiting(conversation_id)
        return int(self.groups[w.group_id].queue.bisect_left(w.key)) + 1

    def queue_length(self, group_id: int) -> int:
        return len(self._group(group_id).queue)

    def queued(self, group_id: int) -> list[int]:
        """The group's waiting conversation ids, next in line first."""
        return [k[3] for k in self._group(group_id).queue]

    def offered_agents(self, group_id: int) -> frozenset[int]:
        """The agents a broadcast group's queue is offered to (empty for other modes)."""
        return frozenset(self._group(group_id).offered)

    def mean_handle_s(self, group_id: int) -> float | None:
        return self._group(group_id).mean_handle_s

    def expected_wait_s(self, conversation_id: int) -> float | None:
        """Seconds until the conversation is likely served: position × mean handling time ÷ capacity of
        the group's online agents. None while the group has no handling time yet or nobody online (the
        visitor is then told only his position: 您前面还有 N 人)."""
        w = self._waiting(conversation_id)
        group = self.groups[w.group_id]
        if group.mean_handle_s is None or group.online_capacity <= 0:
            return None
        return self.queue_position(conversation_id) * group.mean_handle_s / group.online_capacity

    def _waiting(self, conversation_id: int) -> Waiting:
        w = self.waiting.get(conversation_id)
        if w is None:
            raise RoutingError(f"conversation {conversation_id} is not queued")
        return w

    def _group(self, group_id: int) -> Group:
        group = self.groups.get(group_id)
        if group is None:
            raise RoutingError(f"unknown skill group {group_id}")
        return group

    def _agent(self, agent_id: int) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise RoutingError(f"unknown agent {agent_id}")
        return agent

    def _check_handle_time(self, group_id: int, seconds: float) -> None:
        self._group(group_id)
        if not seconds >= 0:  # also refuses NaN
            raise RoutingError("a handling time must be a non-negative number of seconds")

    def _clock(self, now: datetime | None) -> datetime | None:
        if now is not None:
            self._now = now
        return self._now


def _check_aware(*times: datetime | None) -> None:
    # Naive and aware datetimes cannot be ordered against each other in one queue.
    if any(t is not None and t.utcoffset() is None for t in times):
        raise RoutingError("times must be timezone-aware")


def _idle_key(agent: Agent) -> tuple[int, datetime | None]:
    # Never assigned sorts first, then the longest idle.
    return (0, None) if agent.last_assigned_at is None else (1, agent.last_assigned_at)
