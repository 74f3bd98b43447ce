from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from kefu.routing.engine import (
    AgentStatus,
    Assign,
    Decision,
    Mode,
    Offer,
    OfferGroup,
    Overflow,
    OverflowReason,
    OverflowRule,
    RoutingEngine,
    RoutingError,
    Withdraw,
    WithdrawGroup,
)

T0 = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def engine_with(mode: Mode, agents: dict[int, int], tiers: dict[int, int] | None = None) -> RoutingEngine:
    """One group (id 1) in ``mode``; agents {id: capacity}, all online."""
    eng = RoutingEngine()
    eng.set_group(1, mode)
    for agent_id, capacity in agents.items():
        eng.set_agent(agent_id, capacity=capacity, groups={1: (tiers or {}).get(agent_id, 0)})
        eng.set_status(agent_id, AgentStatus.online, T0)
    return eng


def assigned(decisions: list[Decision]) -> list[tuple[int, int]]:
    return [(d.conversation_id, d.agent_id) for d in decisions if isinstance(d, Assign)]


# --- distribution modes ----------------------------------------------------------------------------------


def test_round_robin_takes_agents_in_turn_and_skips_full_or_absent_ones() -> None:
    eng = engine_with(Mode.round_robin, {10: 2, 20: 2, 30: 2})
    got = [assigned(eng.enqueue(c, 1, at(c)))[0][1] for c in range(1, 5)]
    assert got == [10, 20, 30, 10]
    eng.set_status(20, AgentStatus.away, at(5))
    assert assigned(eng.enqueue(5, 1, at(5))) == [(5, 30)]  # 20 is away
    assert assigned(eng.enqueue(6, 1, at(6))) == []  # 10 and 30 are full (2 each), 20 away
    assert eng.queue_length(1) == 1
    assert assigned(eng.release(10, at(7))) == [(6, 10)]


def test_primary_agents_before_backup_agents() -> None:
    eng = engine_with(Mode.round_robin, {1: 1, 2: 1, 3: 1}, tiers={3: 0, 1: 1, 2: 1})
    assert assigned(eng.enqueue(100, 1, T0)) == [(100, 3)]
    assert assigned(eng.enqueue(101, 1, T0))[0][1] in (1, 2)


def test_least_busy_prefers_the_fewest_open_conversations() -> None:
    eng = engine_with(Mode.least_busy, {1: 5, 2: 5})
    eng.take(1)
    eng.take(1)
    assert [a for _, a in assigned(eng.enqueue(7, 1, T0))] == [2]
    assert [a for _, a in assigned(eng.enqueue(8, 1, T0))] == [2]
    assert [a for _, a in assigned(eng.enqueue(9, 1, T0))] == [1]  # 2 each now; 1 was idle longer


def test_vip_first_then_first_come_first_served() -> None:
    eng = engine_with(Mode.round_robin, {1: 1})
    eng.set_status(1, AgentStatus.busy, T0)
    eng.enqueue(1, 1, at(1))
    eng.enqueue(2, 1, at(2), priority=5)
    eng.enqueue(3, 1, at(3))
    assert [eng.queue_position(c) for c in (1, 2, 3)] == [2, 1, 3]
    assert eng.queued(1) == [2, 1, 3]
    order = []
    order += assigned(eng.set_status(1, AgentStatus.online, at(4)))
    for t in (5, 6):
        order += assigned(eng.release(1, at(t)))
    assert [c for c, _ in order] == [2, 1, 3]


def test_an_agent_in_two_groups_serves_the_longest_waiting_first() -> None:
    eng = RoutingEngine()
    eng.set_group(1, Mode.round_robin)
    eng.set_group(2, Mode.round_robin)
    eng.set_agent(9, capacity=1, groups={1: 0, 2: 0})
    eng.enqueue(100, 2, at(1))
    eng.enqueue(200, 1, at(2))
    assert assigned(eng.set_status(9, AgentStatus.online, at(3))) == [(100, 9)]
    assert assigned(eng.release(9, at(4))) == [(200, 9)]


def test_bad_input_is_refused() -> None:
    eng = engine_with(Mode.round_robin, {1: 1})
    with pytest.raises(RoutingError):
        eng.enqueue(1, 99, T0)
    eng.set_status(1, AgentStatus.busy, T0)
    eng.enqueue(1, 1, T0)
    with pytest.raises(RoutingError):
        eng.enqueue(1, 1, T0)
    with pytest.raises(RoutingError):
        eng.set_status(404, AgentStatus.online, T0)
    with pytest.raises(RoutingError, match="capacity"):
        eng.set_agent(1, capacity=-1, groups={1: 0})
    with pytest.raises(RoutingError, match="not queued"):
        eng.queue_position(404)
    with pytest.raises(RoutingError, match="unknown skill group"):
        eng.queue_length(404)
    with pytest.raises(RoutingError, match="timezone-aware"):
        eng.enqueue(2, 1, datetime(2026, 11, 11))


# --- defect a: a conversation that leaves and comes back ----------------------------------------------------


def test_a_conversation_that_left_and_came_back_queues_at_the_back() -> None:
    """It must not keep its old place through a stale entry of its first visit."""
    eng = engine_with(Mode.round_robin, {1: 1})
    eng.set_status(1, AgentStatus.busy, T0)
    eng.enqueue(6, 1, at(0), priority=1)  # keeps the head of the queue busy
    eng.enqueue(7, 1, at(1))
    eng.abandon(7)
    eng.enqueue(8, 1, at(2))
    eng.enqueue(7, 1, at(3))  # came back: queued after 8
    assert eng.queued(1) == [6, 8, 7]
    order = assigned(eng.set_status(1, AgentStatus.online, at(4)))
    for t in (5, 6):
        order += assigned(eng.release(1, at(t)))
    assert order == [(6, 1), (8, 1), (7, 1)]
    assert assigned(eng.release(1, at(7))) == []  # served once, not twice


def test_a_grabbed_conversation_that_comes_back_queues_at_the_back() -> None:
    eng = RoutingEngine()
    eng.set_group(1, Mode.broadcast_grab)
    eng.set_agent(1, capacity=5, groups={1: 0})
    eng.set_status(1, AgentStatus.online, T0)
    eng.enqueue(7, 1, at(1))
    eng.grab(7, 1, at(2))
    eng.enqueue(8, 1, at(3))
    eng.enqueue(7, 1, at(4))  # transferred back to the queue
    assert eng.queued(1) == [8, 7] and eng.queue_position(7) == 2
    eng.set_status(1, AgentStatus.away, at(5))
    eng.set_group(1, Mode.round_robin, now=at(6))
    assert assigned(eng.set_status(1, AgentStatus.online, at(7))) == [(8, 1), (7, 1)]
    assert eng.queue_length(1) == 0


# --- defect b: validate before changing ------------------------------------------------------------------------


def test_set_agent_with_an_unknown_group_changes_nothing() -> None:
    eng = RoutingEngine()
    eng.set_group(1, Mode.round_robin)
    eng.set_group(2, Mode.round_robin)
    eng.set_agent(5, capacity=1, groups={1: 0})
    eng.set_status(5, AgentStatus.online, T0)
    with pytest.raises(RoutingError, match="unknown skill group 99"):
        eng.set_agent(5, capacity=3, groups={2: 0, 99: 0})
    assert eng.agents[5].groups == {1: 0} and eng.agents[5].capacity == 1
    assert eng.groups[2].members == set()
    assert assigned(eng.enqueue(1, 1, at(1))) == [(1, 5)]  # still serves group 1
    assert assigned(eng.enqueue(2, 2, at(2))) == []


# --- defect d: configuration changes dispatch -------------------------------------------------------------------


def test_an_agent_added_to_a_group_with_waiting_work_gets_it() -> None:
    eng = RoutingEngine()
    eng.set_group(1, Mode.round_robin)
    eng.set_group(2, Mode.broadcast_grab)
    eng.set_agent(5, capacity=2, groups={})
    eng.set_status(5, AgentStatus.online, T0)
    eng.enqueue(1, 1, at(1))
    eng.enqueue(2, 2, at(2))
    decisions = eng.set_agent(5, capacity=2, groups={1: 0, 2: 0}, now=at(3))
    assert decisions == [Assign(1, 5, 1, at(1)), OfferGroup(2, frozenset({5}))]
    # Raising the capacity of a full agent gives him the next one.
    assert eng.grab(2, 5, at(4))[-1] == WithdrawGroup(2, frozenset({5}))  # full now
    assert eng.enqueue(3, 1, at(5)) == []
    assert eng.enqueue(4, 1, at(6)) == []
    assert eng.set_agent(5, capacity=3, groups={1: 0, 2: 0}, now=at(7)) == [Assign(3, 5, 1, at(5))]
    assert eng.enqueue(9, 2, at(8)) == []  # nobody to offer it to
    assert eng.release(5, at(9)) == [Assign(4, 5, 1, at(6))]
    assert eng.release(5, at(10)) == [OfferGroup(2, frozenset({5}))]
    # Leaving a broadcast group withdraws its queue.
    assert eng.set_agent(5, capacity=3, groups={1: 0}, now=at(11)) == [WithdrawGroup(2, frozenset({5}))]
    assert eng.groups[2].members == set() and eng.offered_agents(2) == frozenset()


def test_changing_the_mode_returns_what_it_causes() -> None:
    eng = engine_with(Mode.broadcast_grab, {1: 1, 2: 1})
    eng.enqueue(10, 1, at(1))
    eng.enqueue(11, 1, at(2))
    eng.enqueue(12, 1, at(3))
    decisions = eng.set_group(1, Mode.round_robin, now=at(4))
    assert decisions == [WithdrawGroup(1, frozenset({1, 2})), Assign(10, 1, 1, at(1)), Assign(11, 2, 1, at(2))]
    eng.release(1, at(5))  # 12 goes to 1
    eng.release(1, at(6))
    assert eng.set_group(1, Mode.broadcast_grab, now=at(7)) == [OfferGroup(1, frozenset({1}))]
    assert eng.set_group(1, Mode.broadcast_grab, now=at(8)) == []


# --- defect c: broadcast offers by group ------------------------------------------------------------------------


def test_broadcast_offers_everyone_and_exactly_one_grab_wins() -> None:
    eng = RoutingEngine()
    eng.set_group(1, Mode.broadcast_grab)
    for a in (1, 2, 3):
        eng.set_agent(a, capacity=1, groups={1: 0})
        assert eng.set_status(a, AgentStatus.online, T0) == [OfferGroup(1, frozenset({a}))]
    assert eng.enqueue(50, 1, T0) == [Offer(50, 1, frozenset({1, 2, 3}))]
    won = eng.grab(50, 2, at(1))
    # 2 wins; the others lose this conversation; 2 is full now and leaves the group's offer set.
    assert won == [Assign(50, 2, 1, T0), Withdraw(50, 1, frozenset({1, 3})), WithdrawGroup(1, frozenset({2}))]
    with pytest.raises(RoutingError, match="already taken"):
        eng.grab(50, 1, at(1))
    assert eng.enqueue(51, 1, at(2)) == [Offer(51, 1, frozenset({1, 3}))]
    # An agent who goes away loses the group's offers; one who comes back gets them.
    assert eng.set_status(3, AgentStatus.away, at(3)) == [WithdrawGroup(1, frozenset({3}))]
    assert eng.set_status(3, AgentStatus.online, at(4)) == [OfferGroup(1, frozenset({3}))]
    assert eng.offered_agents(1) == {1, 3}
    assert eng.abandon(51) == [Withdraw(51, 1, frozenset({1, 3}))]
    assert eng.abandon(51) == []


def test_grab_refuses_an_agent_who_was_not_offered() -> None:
    eng = RoutingEngine()
    eng.set_group(1, Mode.broadcast_grab)
    eng.set_group(2, Mode.broadcast_grab)
    eng.set_group(3, Mode.round_robin)
    eng.set_agent(1, capacity=1, groups={1: 0})
    eng.set_agent(2, capacity=1, groups={2: 0})  # another group
    eng.set_agent(3, capacity=1, groups={1: 0})  # stays offline
    eng.set_agent(4, capacity=1, groups={1: 0, 3: 0})
    for a in (1, 2, 4):
        eng.set_status(a, AgentStatus.online, T0)
    assert assigned(eng.enqueue(60, 3, at(1))) == [(60, 4)]  # 4 is full now
    eng.enqueue(61, 3, at(1))  # waits in a round-robin group
    eng.enqueue(50, 1, at(2))
    for agent in (2, 3, 4):  # another group, offline, full
        with pytest.raises(RoutingError, match="may not take"):
            eng.grab(50, agent, at(3))
    with pytest.raises(RoutingError, match="unknown agent"):
        eng.grab(50, 404, at(3))
    with pytest.raises(RoutingError, match="already taken"):
        eng.grab(60, 1, at(3))
    with pytest.raises(RoutingError, match="may not take"):
        eng.grab(61, 1, at(3))  # not a broadcast group
    assert eng.queued(1) == [50]
    assert assigned(eng.grab(50, 1, at(4))) == [(50, 1)]


def test_a_big_queue_is_offered_with_one_decision() -> None:
    eng = RoutingEngine()
    eng.set_group(1, Mode.broadcast_grab)
    for a in range(500):
        eng.set_agent(a, capacity=3, groups={1: 0})
    for c in range(10_000):
        assert eng.enqueue(c, 1, at(c)) == []  # nobody online: nothing to offer
    assert eng.set_status(7, AgentStatus.online, at(10_001)) == [OfferGroup(1, frozenset({7}))]
    assert eng.enqueue(10_000, 1, at(10_002)) == [Offer(10_000, 1, frozenset({7}))]
    for a in range(500):
        eng.set_status(a, AgentStatus.online, at(10_003))
    assert len(eng.offered_agents(1)) == 500
    # A grab: one assignment and one withdrawal of that conversation; the grabber still has room.
    assert eng.queue_position(4_001) == 4_002
    decisions = eng.grab(4_000, 7, at(10_004))
    assert decisions == [Assign(4_000, 7, 1, at(4_000)), Withdraw(4_000, 1, frozenset(range(500)) - {7})]
    assert eng.queue_position(4_001) == 4_001
    assert eng.set_status(8, AgentStatus.away, at(10_005)) == [WithdrawGroup(1, frozenset({8}))]


# --- defect e: requeue and remove -------------------------------------------------------------------------------


def test_requeue_puts_a_refused_assignment_back_in_its_place() -> None:
    eng = engine_with(Mode.round_robin, {1: 1})
    eng.set_status(1, AgentStatus.busy, T0)
    for c in (1, 2, 3):
        eng.enqueue(c, 1, at(c))
    assert assigned(eng.set_status(1, AgentStatus.online, at(4))) == [(1, 1)]
    eng.set_status(1, AgentStatus.away, at(5))  # the accept failed because he just went away
    assert eng.requeue(1, 1, at(6), agent_id=1, priority=0, queued_at=at(1)) == []
    assert eng.agents[1].load == 0
    assert eng.queued(1) == [1, 2, 3]
    assert eng.set_status(1, AgentStatus.online, at(7)) == [Assign(1, 1, 1, at(1))]


def test_requeue_dispatches_again_and_refuses_nonsense() -> None:
    eng = engine_with(Mode.round_robin, {1: 1, 2: 1})
    assert assigned(eng.enqueue(1, 1, at(1))) == [(1, 1)]
    # Agent 1's accept lost; the conversation goes to the next agent in turn.
    assert eng.requeue(1, 1, at(2), agent_id=1, priority=0, queued_at=at(1)) == [Assign(1, 2, 1, at(1))]
    with pytest.raises(RoutingError, match="unknown agent"):
        eng.requeue(1, 1, at(3), agent_id=404, priority=0, queued_at=at(1))
    with pytest.raises(RoutingError, match="unknown skill group"):
        eng.requeue(1, 404, at(3), agent_id=2, priority=0, queued_at=at(1))
    eng.set_status(1, AgentStatus.away, at(3))
    eng.set_status(2, AgentStatus.away, at(3))
    assert eng.requeue(1, 1, at(4), agent_id=2, priority=0, queued_at=at(1)) == []
    with pytest.raises(RoutingError, match="already queued"):
        eng.requeue(1, 1, at(5), agent_id=2, priority=0, queued_at=at(1))
    assert eng.agents[2].load == 0 and eng.queued(1) == [1]  # the refused call changed nothing


def test_requeue_of_a_grab_offers_it_again() -> None:
    eng = engine_with(Mode.broadcast_grab, {1: 1, 2: 1})
    eng.enqueue(9, 1, at(1))
    eng.grab(9, 1, at(2))
    decisions = eng.requeue(9, 1, at(3), agent_id=1, priority=0, queued_at=at(1))
    assert decisions == [Offer(9, 1, frozenset({2})), OfferGroup(1, frozenset({1}))]


def test_remove_withdraws_and_forgets() -> None:
    eng = engine_with(Mode.broadcast_grab, {1: 2})
    eng.enqueue(1, 1, at(1))
    assert eng.remove(1) == [Withdraw(1, 1, frozenset({1}))]
    assert eng.remove(1) == [] and eng.remove(404) == []
    assert eng.queue_length(1) == 0


# --- defect f: expected wait ------------------------------------------------------------------------------------


def test_expected_wait_is_position_times_mean_handling_over_capacity() -> None:
    eng = engine_with(Mode.round_robin, {1: 2, 2: 2})
    for c in range(1, 5):
        eng.enqueue(c, 1, at(c))  # all four served, both agents full
    for c in range(5, 8):
        eng.enqueue(c, 1, at(c))
    assert eng.expected_wait_s(5) is None  # no handling time learnt yet
    eng.observe_handle_time(1, 100)
    assert eng.mean_handle_s(1) == 100
    assert eng.expected_wait_s(7) == pytest.approx(3 * 100 / 4)
    # Releases teach the moving average (alpha 0.2): 100 + 0.2 × (200 − 100) = 120.
    eng.release(1, at(10), group_id=1, handled_s=200)  # 5 goes to agent 1
    assert eng.mean_handle_s(1) == pytest.approx(120)
    assert eng.queue_position(7) == 2
    assert eng.expected_wait_s(7) == pytest.approx(2 * 120 / 4)
    eng.set_status(2, AgentStatus.away, at(11))
    assert eng.expected_wait_s(7) == pytest.approx(2 * 120 / 2)
    eng.set_status(1, AgentStatus.offline, at(12))
    assert eng.expected_wait_s(7) is None  # nobody online


def test_handling_times_are_checked() -> None:
    eng = engine_with(Mode.round_robin, {1: 1})
    with pytest.raises(RoutingError, match="group_id"):
        eng.release(1, T0, handled_s=10)
    with pytest.raises(RoutingError, match="non-negative"):
        eng.release(1, T0, group_id=1, handled_s=float("nan"))
    with pytest.raises(RoutingError, match="unknown skill group"):
        eng.observe_handle_time(2, 10)
    with pytest.raises(RoutingError):
        RoutingEngine(handle_time_alpha=0)


# --- overflow ---------------------------------------------------------------------------------------------------


def two_groups(rule: OverflowRule, mode2: Mode = Mode.round_robin) -> RoutingEngine:
    eng = RoutingEngine()
    eng.set_group(2, mode2)
    eng.set_group(1, Mode.round_robin, overflow=rule)
    return eng


def test_time_overflow_keeps_the_original_queued_at_and_priority() -> None:
    eng = two_groups(OverflowRule(to_group=2, after_wait_s=60))
    eng.set_agent(20, capacity=1, groups={2: 0})
    eng.enqueue(1, 1, at(0), priority=3)
    eng.enqueue(2, 2, at(30))
    assert eng.tick(at(59)) == []
    assert eng.tick(at(60)) == [Overflow(1, 1, 2, OverflowReason.wait)]
    assert eng.queued(2) == [1, 2]  # VIP and earlier: ahead of 2
    assert eng.tick(at(200)) == []
    assert eng.set_status(20, AgentStatus.online, at(201)) == [Assign(1, 20, 2, at(0))]


def test_queue_length_overflow_on_arrival() -> None:
    eng = two_groups(OverflowRule(to_group=2, above_queue_len=2))
    eng.set_agent(20, capacity=1, groups={2: 0})
    eng.set_status(20, AgentStatus.online, T0)
    assert eng.enqueue(1, 1, at(1)) == []
    assert eng.enqueue(2, 1, at(2)) == []
    assert eng.enqueue(3, 1, at(3)) == [Overflow(3, 1, 2, OverflowReason.queue_length), Assign(3, 20, 2, at(3))]
    assert eng.queued(1) == [1, 2]


def test_queue_length_zero_overflows_only_what_would_wait() -> None:
    eng = two_groups(OverflowRule(to_group=2, above_queue_len=0))
    eng.set_agent(10, capacity=1, groups={1: 0})
    eng.set_status(10, AgentStatus.online, T0)
    assert eng.enqueue(1, 1, at(1)) == [Assign(1, 10, 1, at(1))]
    assert eng.enqueue(2, 1, at(2)) == [Overflow(2, 1, 2, OverflowReason.queue_length)]


def test_overflow_chains_but_never_goes_back() -> None:
    eng = RoutingEngine()
    for g in (1, 2, 3):
        eng.set_group(g, Mode.round_robin)
    eng.set_group(1, Mode.round_robin, overflow=OverflowRule(to_group=2, after_wait_s=10, above_queue_len=1))
    eng.set_group(2, Mode.round_robin, overflow=OverflowRule(to_group=1, after_wait_s=10, above_queue_len=1))
    eng.set_group(3, Mode.round_robin, overflow=OverflowRule(to_group=1, after_wait_s=10))
    eng.enqueue(1, 1, at(0))
    assert eng.tick(at(10)) == [Overflow(1, 1, 2, OverflowReason.wait)]
    assert eng.tick(at(20)) == []  # 2 → 1 would be a cycle
    assert eng.tick(at(1000)) == []
    assert len(eng.groups[2].timers) == 0  # nothing left for tick to look at
    # Arrivals: 2 is full → over to 1; 1 is full too but 2 was visited, so it waits in 1.
    assert eng.enqueue(2, 2, at(1001)) == [Overflow(2, 2, 1, OverflowReason.queue_length)]
    assert eng.enqueue(3, 1, at(1002)) == [Overflow(3, 1, 2, OverflowReason.queue_length)]
    assert eng.queued(1) == [2] and eng.queued(2) == [1, 3]
    # A chain 3 → 1 → 2 in one tick.
    eng.enqueue(5, 3, at(1003))
    assert eng.tick(at(1013)) == [
        Overflow(5, 3, 1, OverflowReason.wait),
        Overflow(5, 1, 2, OverflowReason.queue_length),
    ]
    assert eng.waiting[5].group_id == 2 and eng.waiting[5].visited == {1, 2, 3}
    assert eng.queued(2) == [1, 3, 5]  # by queued_at


def test_time_overflow_counts_the_time_in_the_current_group() -> None:
    eng = RoutingEngine()
    for g in (1, 2, 3):
        eng.set_group(g, Mode.round_robin)
    eng.set_group(2, Mode.round_robin, overflow=OverflowRule(to_group=3, after_wait_s=60))
    eng.set_group(1, Mode.round_robin, overflow=OverflowRule(to_group=2, after_wait_s=60))
    eng.enqueue(1, 1, at(0))
    assert eng.tick(at(60)) == [Overflow(1, 1, 2, OverflowReason.wait)]
    assert eng.tick(at(119)) == []
    assert eng.tick(at(120)) == [Overflow(1, 2, 3, OverflowReason.wait)]


def test_overflow_between_broadcast_groups_moves_the_offers() -> None:
    eng = RoutingEngine()
    eng.set_group(2, Mode.broadcast_grab)
    eng.set_group(1, Mode.broadcast_grab, overflow=OverflowRule(to_group=2, after_wait_s=30))
    eng.set_agent(10, capacity=1, groups={1: 0})
    eng.set_agent(20, capacity=1, groups={2: 0})
    eng.set_status(10, AgentStatus.online, T0)
    eng.set_status(20, AgentStatus.online, T0)
    assert eng.enqueue(1, 1, at(0)) == [Offer(1, 1, frozenset({10}))]
    assert eng.tick(at(30)) == [
        Withdraw(1, 1, frozenset({10})),
        Overflow(1, 1, 2, OverflowReason.wait),
        Offer(1, 2, frozenset({20})),
    ]
    with pytest.raises(RoutingError):
        eng.grab(1, 10, at(31))
    assert assigned(eng.grab(1, 20, at(31))) == [(1, 20)]


def test_a_new_rule_applies_to_conversations_already_waiting() -> None:
    eng = RoutingEngine()
    eng.set_group(1, Mode.round_robin)
    eng.set_group(2, Mode.round_robin)
    eng.enqueue(1, 1, at(0))
    assert eng.tick(at(100)) == []
    eng.set_group(1, Mode.round_robin, overflow=OverflowRule(to_group=2, after_wait_s=60), now=at(101))
    assert eng.tick(at(102)) == [Overflow(1, 1, 2, OverflowReason.wait)]
    eng.set_group(1, Mode.round_robin, now=at(103))  # rule removed
    eng.enqueue(2, 1, at(104))
    assert eng.tick(at(1000)) == []


def test_requeue_after_overflow_keeps_the_history() -> None:
    eng = RoutingEngine()
    eng.set_group(1, Mode.round_robin)
    eng.set_group(2, Mode.round_robin, overflow=OverflowRule(to_group=1, after_wait_s=10))
    eng.set_group(1, Mode.round_robin, overflow=OverflowRule(to_group=2, after_wait_s=10))
    eng.set_agent(20, capacity=1, groups={2: 0})
    eng.enqueue(1, 1, at(0))
    eng.tick(at(10))  # 1 → 2
    assert assigned(eng.set_status(20, AgentStatus.online, at(11))) == [(1, 20)]
    eng.set_status(20, AgentStatus.away, at(12))
    eng.requeue(1, 2, at(13), agent_id=20, priority=0, queued_at=at(0))
    assert eng.tick(at(100)) == []  # does not go back to 1


def test_overflow_rules_are_checked() -> None:
    eng = RoutingEngine()
    eng.set_group(1, Mode.round_robin)
    with pytest.raises(RoutingError, match="itself"):
        eng.set_group(1, Mode.round_robin, overflow=OverflowRule(to_group=1, after_wait_s=5))
    with pytest.raises(RoutingError, match="unknown overflow target"):
        eng.set_group(1, Mode.round_robin, overflow=OverflowRule(to_group=2, after_wait_s=5))
    with pytest.raises(RoutingError, match="needs"):
        OverflowRule(to_group=2)
    with pytest.raises(RoutingError, match="negative"):
        OverflowRule(to_group=2, after_wait_s=-1)
    with pytest.raises(RoutingError, match="negative"):
        OverflowRule(to_group=2, above_queue_len=-1)
    assert eng.groups[1].overflow is None


# --- the randomized check ---------------------------------------------------------------------------------------


class Shadow:
    """What the service would know from the decisions alone, plus the checks of every step."""

    def __init__(self, eng: RoutingEngine) -> None:
        self.eng = eng
        self.held: dict[int, tuple[int, int]] = {}  # conversation -> (agent, group), from Assign
        self.info: dict[int, tuple[int, datetime]] = {}  # conversation -> (priority, queued_at)
        self.groups_of: dict[int, list[int]] = {}  # conversation -> groups it waited in, in order
        self.view: dict[int, set[tuple[int, int]]] = defaultdict(set)  # agent -> {(group, conversation)}
        self.recent: list[Assign] = []

    def apply(self, decisions: list[Decision], *, ticked: bool = False) -> None:
        eng = self.eng
        for d in decisions:
            if isinstance(d, Assign):
                agent = eng.agents[d.agent_id]
                assert agent.status is AgentStatus.online and d.group_id in agent.groups
                assert d.conversation_id not in self.held
                assert d.queued_at == self.info[d.conversation_id][1]
                self.held[d.conversation_id] = (d.agent_id, d.group_id)
                self.recent.append(d)
                self.view[d.agent_id].discard((d.group_id, d.conversation_id))  # the winner's offer is used up
            elif isinstance(d, Overflow):
                path = self.groups_of[d.conversation_id]
                assert path[-1] == d.from_group and d.to_group not in path
                path.append(d.to_group)
            elif isinstance(d, Offer):
                for a in d.agent_ids:
                    self.view[a].add((d.group_id, d.conversation_id))
            elif isinstance(d, Withdraw):
                for a in d.agent_ids:
                    self.view[a].discard((d.group_id, d.conversation_id))
            elif isinstance(d, OfferGroup):
                for a in d.agent_ids:
                    self.view[a] |= {(d.group_id, c) for c in eng.queued(d.group_id)}
            elif isinstance(d, WithdrawGroup):
                for a in d.agent_ids:
                    self.view[a] = {(g, c) for g, c in self.view[a] if g != d.group_id}
        self.check(decisions, ticked=ticked)

    def check(self, decisions: list[Decision], *, ticked: bool = False) -> None:
        eng = self.eng
        loads: dict[int, int] = defaultdict(int)
        for agent_id, _ in self.held.values():
            loads[agent_id] += 1
        for agent in eng.agents.values():
            assert agent.load == loads[agent.id]
        for d in decisions:
            if isinstance(d, Assign):
                agent = eng.agents[d.agent_id]
                assert agent.load <= agent.capacity, "an assignment put an agent above capacity"
        assert not set(eng.waiting) & set(self.held), "a conversation both waiting and assigned"
        expected_view: dict[int, set[tuple[int, int]]] = defaultdict(set)
        for group in eng.groups.values():
            queue = eng.queued(group.id)
            assert sorted(queue) == sorted(c for c, w in eng.waiting.items() if w.group_id == group.id)
            keys = [(-self.info[c][0], self.info[c][1]) for c in queue]
            assert keys == sorted(keys), "queue order: VIP first, then time"
            for c in queue:
                assert self.groups_of[c][-1] == group.id
                assert eng.waiting[c].visited == set(self.groups_of[c])
            eligible = {
                a for a in group.members if eng.agents[a].status is AgentStatus.online and eng.agents[a].has_room
            }
            if group.mode is Mode.broadcast_grab:
                assert eng.offered_agents(group.id) == eligible, "offers go to exactly the eligible agents"
                for a in eligible:
                    expected_view[a] |= {(group.id, c) for c in queue}
            else:
                assert not group.offered
                assert not (queue and eligible), "a passive group has waiting work and a free agent"
                for d in decisions:  # nothing better than what was assigned stays behind
                    if isinstance(d, Assign) and d.group_id == group.id and queue:
                        priority, queued_at = self.info[d.conversation_id]
                        assert keys[0] >= (-priority, queued_at)
            rule = group.overflow
            if ticked and rule is not None and rule.after_wait_s is not None:
                assert eng._now is not None
                for c in queue:
                    w = eng.waiting[c]
                    if rule.to_group not in w.visited:
                        assert (eng._now - w.since).total_seconds() < rule.after_wait_s, "tick left one overdue"
            assert group.online_capacity == sum(
                eng.agents[a].capacity for a in group.members if eng.agents[a].status is AgentStatus.online
            )
        assert {a: v for a, v in self.view.items() if v} == {a: v for a, v in expected_view.items() if v}


def test_randomized_operations_keep_every_invariant() -> None:
    for seed in range(12):
        run_random(seed, steps=1500)


def run_random(seed: int, steps: int) -> None:
    rng = random.Random(seed)
    eng = RoutingEngine()
    shadow = Shadow(eng)
    group_ids = [1, 2, 3, 4]
    modes = list(Mode)
    for g in group_ids:
        shadow.apply(eng.set_group(g, rng.choice(modes), now=T0))
    agent_ids = list(range(100, 100 + rng.randint(3, 8)))
    for a in agent_ids:
        groups = {g: rng.randint(0, 1) for g in rng.sample(group_ids, rng.randint(1, 3))}
        shadow.apply(eng.set_agent(a, capacity=rng.randint(1, 3), groups=groups, now=T0))
    clock = 0.0
    next_conversation = 1
    for _ in range(steps):
        clock += rng.choice([0, 0.5, 1, 3, 20])
        now = at(clock)
        op = rng.random()
        waiting = sorted(eng.waiting)
        if op < 0.25:
            gone = [c for c in shadow.info if c not in eng.waiting and c not in shadow.held]
            if gone and rng.random() < 0.3:
                c = rng.choice(sorted(gone))  # comes back under the same id
            else:
                c = next_conversation
                next_conversation += 1
            priority = rng.choice([0, 0, 0, 1, 5])
            queued_at = now - timedelta(seconds=rng.choice([0, 0, 5, 100]))
            shadow.info[c] = (priority, queued_at)
            shadow.groups_of[c] = [g := rng.choice(group_ids)]
            shadow.apply(eng.enqueue(c, g, now, priority=priority, queued_at=queued_at))
        elif op < 0.32 and waiting:
            c = rng.choice(waiting)
            shadow.apply(eng.remove(c))
        elif op < 0.47:
            shadow.apply(eng.set_status(rng.choice(agent_ids), rng.choice(list(AgentStatus)), now))
        elif op < 0.62 and shadow.held:
            c = rng.choice(sorted(shadow.held))
            agent_id, group_id = shadow.held.pop(c)
            shadow.apply(eng.release(agent_id, now, group_id=group_id, handled_s=rng.uniform(10, 600)))
        elif op < 0.75:
            offered = sorted((a, c) for a, items in shadow.view.items() for _, c in items)
            if offered:
                a, c = rng.choice(offered)
                shadow.apply(eng.grab(c, a, now))
            waiting = sorted(eng.waiting)
            if waiting:  # somebody not offered is refused, and nothing changes
                c = rng.choice(waiting)
                a = rng.choice(agent_ids)
                if (eng.waiting[c].group_id, c) not in shadow.view[a]:
                    with pytest.raises(RoutingError):
                        eng.grab(c, a, now)
                    shadow.check([])
        elif op < 0.82 and shadow.recent:
            d = shadow.recent.pop(rng.randrange(len(shadow.recent)))
            if shadow.held.get(d.conversation_id) == (d.agent_id, d.group_id):
                del shadow.held[d.conversation_id]
                priority, queued_at = shadow.info[d.conversation_id]
                decisions = eng.requeue(
                    d.conversation_id, d.group_id, now, agent_id=d.agent_id, priority=priority, queued_at=queued_at
                )
                shadow.apply(decisions)
        elif op < 0.92:
            shadow.apply(eng.tick(now), ticked=True)
        elif op < 0.96:
            a = rng.choice(agent_ids)
            groups = {g: rng.randint(0, 1) for g in rng.sample(group_ids, rng.randint(0, 3))}
            capacity = max(eng.agents[a].capacity, rng.randint(1, 4))  # never below what he holds
            shadow.apply(eng.set_agent(a, capacity=capacity, groups=groups, now=now))
        else:
            g = rng.choice(group_ids)
            rule = None
            if rng.random() < 0.7:
                target = rng.choice([x for x in group_ids if x != g])
                after_wait_s = rng.choice([None, 0, 5, 30])
                above_queue_len = rng.choice([None, 0, 2, 5]) if after_wait_s is not None else rng.choice([0, 2, 5])
                rule = OverflowRule(to_group=target, after_wait_s=after_wait_s, above_queue_len=above_queue_len)
            shadow.apply(eng.set_group(g, rng.choice(modes), overflow=rule, now=now))
    assert next_conversation > 100  # the run did something
