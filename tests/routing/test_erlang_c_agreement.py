"""Theory check: round-robin routing of an M/M/c queue waits as much as Erlang C says.

A simulated stream of Poisson arrivals with exponential handling times is routed by the real (pure)
engine to c agents of concurrency 1. The measured probability of waiting and mean wait must agree with
Erlang C for the same load within 4 standard errors (batch means over 20 batches after a warm-up), and
the run must be precise enough to tell c agents from c ± 1, so the check can fail.
"""

from __future__ import annotations

import heapq
import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from kefu.routing.engine import AgentStatus, Assign, Mode, RoutingEngine
from kefu.wfm.erlang import average_speed_of_answer, erlang_c

T0 = datetime(2026, 11, 11, tzinfo=UTC)


def simulate(arrival_rate: float, service_rate: float, agents: int, customers: int, seed: int) -> list[float]:
    """Waits (in seconds) of every customer, in arrival order."""
    rng = random.Random(seed)
    eng = RoutingEngine()
    eng.set_group(1, Mode.round_robin)
    for a in range(agents):
        eng.set_agent(a, capacity=1, groups={1: 0})
        eng.set_status(a, AgentStatus.online, T0)
    waits: list[float] = [0.0] * customers
    clock: list[tuple[float, int, int]] = [(rng.expovariate(arrival_rate), 0, 0)]  # (time, kind, id)
    arrived = 0
    while clock:
        t, kind, ident = heapq.heappop(clock)
        now = T0 + timedelta(seconds=t)
        if kind == 0:  # arrival of customer `ident`
            arrived += 1
            decisions = eng.enqueue(ident, 1, now)
            if arrived < customers:
                heapq.heappush(clock, (t + rng.expovariate(arrival_rate), 0, arrived))
        else:  # agent `ident` finished
            decisions = eng.release(ident, now)
        for d in decisions:
            assert isinstance(d, Assign)
            waits[d.conversation_id] = (now - d.queued_at).total_seconds()
            heapq.heappush(clock, (t + rng.expovariate(service_rate), 1, d.agent_id))
    return waits


def batch_means(values: list[float], batches: int) -> tuple[float, float]:
    size = len(values) // batches
    means = [statistics.fmean(values[i * size : (i + 1) * size]) for i in range(batches)]
    return statistics.fmean(means), statistics.stdev(means) / batches**0.5


@pytest.mark.parametrize(("arrival_rate", "agents"), [(4.0, 5), (8.5, 10)])
def test_round_robin_waits_agree_with_erlang_c(arrival_rate: float, agents: int) -> None:
    service_rate = 1.0  # handling time 1 s on average; the time unit does not matter
    traffic = arrival_rate / service_rate
    waits = simulate(arrival_rate, service_rate, agents, customers=80_000, seed=20261111)
    steady = waits[len(waits) // 10 :]  # drop the warm-up from an empty system

    p_wait, p_se = batch_means([1.0 if w > 0 else 0.0 for w in steady], 20)
    mean_wait, w_se = batch_means(steady, 20)
    expected_p = erlang_c(traffic, agents)
    expected_w = average_speed_of_answer(traffic, agents, 1 / service_rate)

    assert abs(p_wait - expected_p) < 4 * p_se, (p_wait, expected_p, p_se)
    assert abs(mean_wait - expected_w) < 4 * w_se, (mean_wait, expected_w, w_se)
    # Precise enough to be a real check: one agent more or less is far outside the band.
    for other in (agents - 1, agents + 1):
        if other > traffic:
            assert abs(p_wait - erlang_c(traffic, other)) > 10 * p_se
