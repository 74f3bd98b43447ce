from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kefu.routing.engine import AgentStatus, Assign, Mode, Offer, RoutingEngine, RoutingError, Withdraw

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


def assigned(decisions: list) -> list[tuple[int, int]]:  # type: ignore[type-arg]
    return [(d.conversation_id, d.agent_id) for d in decisions if isinstance(d, Assign)]


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
    order = []
    order += assigned(eng.set_status(1, AgentStatus.online, at(4)))
    for t in (5, 6):
        order += assigned(eng.release(1, at(t)))
    assert [c for c, _ in order] == [2, 1, 3]


def test_broadcast_offers_everyone_and_exactly_one_grab_wins() -> None:
    eng = engine_with(Mode.broadcast_grab, {1: 1, 2: 1, 3: 1})
    decisions = eng.enqueue(50, 1, T0)
    assert decisions == [Offer(50, 1, frozenset({1, 2, 3}))]
    won = eng.grab(50, 2, at(1))
    assert assigned(won) == [(50, 2)] and Withdraw(50, frozenset({1, 3})) in won
    with pytest.raises(RoutingError, match="already taken"):
        eng.grab(50, 1, at(1))
    # Agent 2 is now full: the next conversation is offered only to 1 and 3.
    assert eng.enqueue(51, 1, at(2)) == [Offer(51, 1, frozenset({1, 3}))]
    # An agent who goes away loses his offers; one who comes back gets them.
    assert eng.set_status(3, AgentStatus.away, at(3)) == [Withdraw(51, frozenset({3}))]
    assert eng.set_status(3, AgentStatus.online, at(4)) == [Offer(51, 1, frozenset({3}))]
    assert eng.abandon(51) == [Withdraw(51, frozenset({1, 3}))]


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
