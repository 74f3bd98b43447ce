from __future__ import annotations

import math
from fractions import Fraction

import pytest

from kefu.wfm.erlang import agents_needed, average_speed_of_answer, erlang_b, erlang_c, service_level


def erlang_c_by_factorials(a: int, c: int) -> float:
    """The textbook formula in exact arithmetic, as an independent check."""
    top = Fraction(a**c, math.factorial(c)) * Fraction(c, c - a)
    bottom = sum(Fraction(a**k, math.factorial(k)) for k in range(c)) + top
    return float(top / bottom)


@pytest.mark.parametrize(("a", "c"), [(1, 2), (5, 6), (10, 14), (20, 25), (50, 58), (97, 100)])
def test_matches_the_exact_textbook_formula(a: int, c: int) -> None:
    assert erlang_c(a, c) == pytest.approx(erlang_c_by_factorials(a, c), rel=1e-12)


def test_the_classic_call_centre_example() -> None:
    # 10 Erlangs (e.g. 200 calls an hour of 180 s), 14 agents: 17.4 % wait, ASA 7.8 s, 88.8 % within 20 s.
    assert erlang_c(10, 14) == pytest.approx(0.1741, abs=1e-4)
    assert average_speed_of_answer(10, 14, 180) == pytest.approx(7.83, abs=0.01)
    assert service_level(10, 14, 180, 20) == pytest.approx(0.888, abs=1e-3)
    assert service_level(10, 13, 180, 20) < 0.8  # 79.6 %: one agent short
    assert agents_needed(10, 180, 20, 0.8) == 14


def test_large_centres_do_not_overflow() -> None:
    p = erlang_c(900.0, 930)
    assert 0 < p < 1 and math.isfinite(p)
    assert erlang_b(0, 5) == 0 and erlang_c(0, 1) == 0


def test_an_overloaded_queue_always_waits() -> None:
    assert erlang_c(10, 10) == 1.0 and math.isinf(average_speed_of_answer(10, 9, 180))
    assert service_level(10, 8, 180, 20) == 0.0
    with pytest.raises(ValueError):
        agents_needed(10, 180, 20, 1.0)
