from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kefu.auth import throttle
from kefu.auth.throttle import ThrottlePolicy, ThrottleState

T0 = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
POLICY = ThrottlePolicy(
    free_failures=3,
    base_delay=timedelta(seconds=1),
    max_delay=timedelta(seconds=30),
    lock_after=10,
    lock_for=timedelta(minutes=15),
    forget_after=timedelta(hours=1),
)


def fail(state: ThrottleState, at: datetime, n: int = 1) -> ThrottleState:
    for _ in range(n):
        state = throttle.after_failure(state, at, POLICY)
    return state


def test_first_failures_are_free() -> None:
    state = fail(ThrottleState(), T0, 2)
    assert throttle.check(state, T0, POLICY).allowed


def test_after_the_free_failures_each_attempt_waits_twice_as_long() -> None:
    state = fail(ThrottleState(), T0, 3)
    verdict = throttle.check(state, T0, POLICY)
    assert not verdict.allowed and not verdict.locked and verdict.retry_after == 1
    assert throttle.check(state, T0 + timedelta(seconds=1), POLICY).allowed
    state = fail(state, T0 + timedelta(seconds=1))
    assert throttle.check(state, T0 + timedelta(seconds=2.5), POLICY).retry_after == 0.5
    assert throttle.delay_after(9, POLICY) == timedelta(seconds=30)  # capped


def test_locked_after_too_many_failures_then_released() -> None:
    state = fail(ThrottleState(), T0, 10)
    verdict = throttle.check(state, T0 + timedelta(minutes=5), POLICY)
    assert verdict.locked and not verdict.allowed and verdict.retry_after == 600
    assert throttle.check(state, T0 + timedelta(minutes=15), POLICY).allowed
    assert throttle.current(state, T0 + timedelta(minutes=15), POLICY) == ThrottleState()


def test_failures_are_forgotten_after_a_quiet_hour() -> None:
    state = fail(ThrottleState(), T0, 5)
    later = T0 + timedelta(hours=1)
    assert throttle.check(state, later, POLICY).allowed
    assert throttle.after_failure(state, later, POLICY).failures == 1
