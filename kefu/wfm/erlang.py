"""Erlang C: waiting probability, average speed of answer and service level of an M/M/c queue.

Written here rather than taken from a package: it is a dozen lines, and the evaluation through the
Erlang B recursion stays exact for the hundreds of agents of a big promotion, where the textbook form
with factorials overflows floating point.
"""

from __future__ import annotations

import math


def erlang_b(traffic: float, agents: int) -> float:
    """Blocking probability of M/M/c/c with ``traffic`` Erlangs offered to ``agents`` servers."""
    if traffic < 0 or agents < 0:
        raise ValueError("traffic and agents must not be negative")
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    return b


def erlang_c(traffic: float, agents: int) -> float:
    """Probability that a contact has to wait (M/M/c, infinite queue). 1.0 when the queue cannot settle."""
    if agents <= traffic:
        return 1.0
    b = erlang_b(traffic, agents)
    return agents * b / (agents - traffic * (1 - b))


def average_speed_of_answer(traffic: float, agents: int, handle_time: float) -> float:
    """Mean wait over all contacts (ASA), in the unit of ``handle_time``."""
    if agents <= traffic:
        return math.inf
    return erlang_c(traffic, agents) * handle_time / (agents - traffic)


def service_level(traffic: float, agents: int, handle_time: float, answer_within: float) -> float:
    """Share of contacts answered within ``answer_within`` (same unit as ``handle_time``)."""
    if agents <= traffic:
        return 0.0
    return 1 - erlang_c(traffic, agents) * math.exp(-(agents - traffic) * answer_within / handle_time)


def agents_needed(traffic: float, handle_time: float, answer_within: float, target: float) -> int:
    """Fewest agents whose service level reaches ``target`` (e.g. 0.8 answered within 20 s)."""
    if not 0 < target < 1:
        raise ValueError("the service-level target must be between 0 and 1")
    agents = max(1, math.floor(traffic) + 1)
    while service_level(traffic, agents, handle_time, answer_within) < target:
        agents += 1
    return agents
