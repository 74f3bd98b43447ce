"""Login throttling, pure: given the failures so far and the time, may this attempt proceed?

After ``free_failures`` failed attempts each further attempt must wait, twice as long each time (up to
``max_delay``); after ``lock_after`` failures the account is locked for ``lock_for``. A success resets it,
and so does a quiet ``forget_after``. Attempts refused by the throttle do not check the password, so a
brute force gains nothing by hammering.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ThrottlePolicy:
    free_failures: int = 3
    base_delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(seconds=30)
    lock_after: int = 10
    lock_for: timedelta = timedelta(minutes=15)
    forget_after: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class ThrottleState:
    failures: int = 0
    last_failure_at: datetime | None = None
    locked_until: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    locked: bool = False
    retry_after: float = 0.0


def current(state: ThrottleState, now: datetime, policy: ThrottlePolicy) -> ThrottleState:
    """The state with expired locks and stale failures forgotten."""
    if state.locked_until is not None and now >= state.locked_until:
        return ThrottleState()
    if (
        state.locked_until is None
        and state.last_failure_at is not None
        and now - state.last_failure_at >= policy.forget_after
    ):
        return ThrottleState()
    return state


def check(state: ThrottleState, now: datetime, policy: ThrottlePolicy = ThrottlePolicy()) -> Verdict:
    state = current(state, now, policy)
    if state.locked_until is not None:
        return Verdict(False, locked=True, retry_after=(state.locked_until - now).total_seconds())
    if state.failures >= policy.free_failures and state.last_failure_at is not None:
        wait_until = state.last_failure_at + delay_after(state.failures, policy)
        if now < wait_until:
            return Verdict(False, retry_after=(wait_until - now).total_seconds())
    return Verdict(True)


def delay_after(failures: int, policy: ThrottlePolicy) -> timedelta:
    if failures < policy.free_failures:
        return timedelta(0)
    exponent = min(failures - policy.free_failures, 16)
    return min(policy.base_delay * (2**exponent), policy.max_delay)


def after_failure(state: ThrottleState, now: datetime, policy: ThrottlePolicy = ThrottlePolicy()) -> ThrottleState:
    state = current(state, now, policy)
    failures = state.failures + 1
    locked_until = now + policy.lock_for if failures >= policy.lock_after else None
    return ThrottleState(failures=failures, last_failure_at=now, locked_until=locked_until)
