from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kefu.access.caller import Caller
from kefu.actions.users import end_sessions
from kefu.auth import throttle
from kefu.auth.passwords import hash_password, needs_rehash, verify_password
from kefu.auth.tokens import new_session_token
from kefu.db.base import utcnow
from kefu.db.session import action
from kefu.errors import Conflict, Forbidden, KefuError, Locked, Msg, TooManyRequests
from kefu.events.record import emit
from kefu.models.staff import LoginThrottle, StaffSession, User
from kefu.models.tenant import Tenant


@dataclass(frozen=True)
class LoginOutcome:
    """A login attempt's result. Failures are results, not exceptions, so that the failure count is
    committed even though the caller answers with an error."""

    user: User | None = None
    session: StaffSession | None = None
    token: str | None = None
    verdict: throttle.Verdict | None = None  # set when the throttle refused the attempt

    @property
    def ok(self) -> bool:
        return self.session is not None


def throttle_key(tenant_slug: str, username: str) -> str:
    return f"{tenant_slug.strip().lower()}\x1f{username.strip().lower()}"


def do_login(
    db: Session,
    *,
    tenant_slug: str,
    username: str,
    password: str,
    session_ttl: timedelta,
    ip: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
    policy: throttle.ThrottlePolicy = throttle.ThrottlePolicy(),
) -> LoginOutcome:
    """Count the attempt with the throttle, verify the password, then record the failure or open a session.

    The password check (argon2, about a tenth of a second by design) runs with no transaction open: on
    SQLite a transaction holds the write lock, and a burst of logins at the start of a shift must not
    queue every other request behind it. The writes that follow are actions of their own.

    Precondition: ``db`` holds no pending changes of the caller's (its read transaction is rolled back).
    """
    now = now or utcnow()
    key = throttle_key(tenant_slug, username)
    try:
        verdict, failures = _count_attempt(db, key=key, now=now, policy=policy)
    except IntegrityError:  # two first attempts for one name raced to create its row; count again
        verdict, failures = _count_attempt(db, key=key, now=now, policy=policy)
    if verdict is not None:
        return LoginOutcome(verdict=verdict)

    tenant_id = db.scalar(select(Tenant.id).where(Tenant.slug == tenant_slug.strip().lower()))
    found = None
    if tenant_id is not None:
        found = db.execute(
            select(User.id, User.password_hash, User.is_active, User.deleted_at).where(
                User.tenant_id == tenant_id, User.username == username.strip()
            )
        ).first()
    db.rollback()  # end the read transaction before the slow part (plain values only were kept)

    assert not db.in_transaction(), "the password check must run outside any transaction"
    # Always verify (against a dummy hash when there is no such user), so timing tells nothing.
    good = verify_password(found.password_hash if found else None, password)
    if not good or found is None or not found.is_active or found.deleted_at is not None:
        if tenant_id is not None:
            _record_login_failure(
                db,
                tenant_id=tenant_id,
                user_id=found.id if found else None,
                username=username,
                ip=ip,
                failures=failures,
                now=now,
            )
        return LoginOutcome()
    token, digest = new_session_token()
    rehash = hash_password(password) if needs_rehash(found.password_hash) else None
    opened = _open_session(
        db,
        key=key,
        user_id=found.id,
        verified_hash=found.password_hash,
        digest=digest,
        rehash=rehash,
        ttl=session_ttl,
        ip=ip,
        user_agent=user_agent,
        now=now,
    )
    if opened is None:
        return LoginOutcome()
    return LoginOutcome(user=opened[0], session=opened[1], token=token)


@action
def _count_attempt(
    db: Session, *, key: str, now: datetime, policy: throttle.ThrottlePolicy
) -> tuple[throttle.Verdict | None, int]:
    """Ask the throttle and, if it lets the attempt through, count it as a failure *before* the password is
    checked (a success wipes the count). Under the row lock, so that attempts sent in parallel are
    counted one after the other and cannot all slip through together."""
    row = db.scalar(select(LoginThrottle).where(LoginThrottle.key == key).with_for_update())
    if row is None:
        row = LoginThrottle(key=key, failures=0)
        db.add(row)
        db.flush()
    state = throttle.ThrottleState(row.failures, row.last_failure_at, row.locked_until)
    verdict = throttle.check(state, now, policy)
    if not verdict.allowed:
        return verdict, state.failures
    new = throttle.after_failure(state, now, policy)
    row.failures, row.last_failure_at, row.locked_until = new.failures, new.last_failure_at, new.locked_until
    return None, new.failures


@action
def _record_login_failure(
    db: Session, *, tenant_id: int, user_id: int | None, username: str, ip: str | None, failures: int, now: datetime
) -> None:
    emit(
        db,
        "staff.login_failed",
        tenant_id=tenant_id,
        user_id=user_id,
        occurred_at=now,
        payload={"username": username.strip()[:64], "failures": failures, "ip": ip},
    )


@action
def _open_session(
    db: Session,
    *,
    key: str,
    user_id: int,
    verified_hash: str,
    digest: str,
    rehash: str | None,
    ttl: timedelta,
    ip: str | None,
    user_agent: str | None,
    now: datetime,
) -> tuple[User, StaffSession] | None:
    """Open the session unless the account changed since its password was verified (a reset or a
    deactivation in between must win, and a rehash must not bring an old password back)."""
    user = db.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None or user.password_hash != verified_hash or not user.is_active or user.deleted_at is not None:
        return None
    row = db.get(LoginThrottle, key)
    if row is not None:
        db.delete(row)
    if rehash is not None:
        user.password_hash = rehash
    session = StaffSession(
        token_hash=digest,
        tenant_id=user.tenant_id,
        user_id=user.id,
        created_at=now,
        expires_at=now + ttl,
        ip=ip,
        user_agent=(user_agent or "")[:300] or None,
    )
    db.add(session)
    db.flush()
    emit(
        db,
        "staff.logged_in",
        tenant_id=user.tenant_id,
        actor_id=user.id,
        user_id=user.id,
        payload={"ip": ip, "session_id": session.id},
    )
    return user, session


@action
def do_logout(db: Session, session_digest: str) -> None:
    session = db.scalar(select(StaffSession).where(StaffSession.token_hash == session_digest))
    if session is None or session.ended_at is not None:
        return
    session.ended_at = utcnow()
    emit(
        db,
        "staff.logged_out",
        tenant_id=session.tenant_id,
        actor_id=session.user_id,
        user_id=session.user_id,
        payload={"session_id": session.id},
    )


def refusal(verdict: throttle.Verdict) -> KefuError:
    """The error for an attempt the throttle refused."""
    if verdict.locked:
        minutes = max(1, round(verdict.retry_after / 60))
        return Locked(
            Msg(
                f"失败次数过多，账户已锁定，请 {minutes} 分钟后再试",
                f"too many failed attempts; the account is locked for {minutes} minutes",
            ),
            code="login.locked",
            retry_after=round(verdict.retry_after),
        )
    return TooManyRequests(
        Msg("尝试过于频繁，请稍后再试", "too many attempts; wait a moment and retry"),
        retry_after=verdict.retry_after,
        code="login.slow_down",
    )


def do_change_own_password(
    db: Session,
    caller: Caller,
    *,
    current_password: str,
    new_password: str,
    now: datetime | None = None,
    policy: throttle.ThrottlePolicy = throttle.ThrottlePolicy(),
) -> None:
    """Change one's own password: the current one is checked under the same throttle as logins (a stolen
    session must not become a way to guess it), outside any transaction; the other sessions end."""
    now = now or utcnow()
    slug, username, current_hash = db.execute(
        select(Tenant.slug, User.username, User.password_hash)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(User.id == caller.user_id)
    ).one()
    key = throttle_key(slug, username)
    verdict, _ = _count_attempt(db, key=key, now=now, policy=policy)
    if verdict is not None:
        raise refusal(verdict)
    assert not db.in_transaction(), "the password check must run outside any transaction"
    if not verify_password(current_hash, current_password):
        raise Forbidden(Msg("当前密码不正确", "the current password is wrong"), code="user.wrong_current_password")
    _set_own_password(db, caller, key=key, verified_hash=current_hash, new_hash=hash_password(new_password))


@action
def _set_own_password(db: Session, caller: Caller, *, key: str, verified_hash: str, new_hash: str) -> None:
    user = db.scalar(select(User).where(User.id == caller.user_id).with_for_update())
    if user is None or user.password_hash != verified_hash:
        raise Conflict(
            Msg("密码刚刚被修改过，请重新操作", "the password was changed just now; try again"),
            code="user.password_changed",
        )
    user.password_hash = new_hash
    row = db.get(LoginThrottle, key)
    if row is not None:
        db.delete(row)
    end_sessions(db, user.id, keep=caller.session_digest)
    emit(
        db,
        "user.updated",
        tenant_id=user.tenant_id,
        actor_id=user.id,
        user_id=user.id,
        payload={"changed": {"password": "***"}},
    )
