from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.auth import throttle
from kefu.auth.passwords import hash_password, needs_rehash, verify_password
from kefu.auth.tokens import new_session_token
from kefu.db.base import utcnow
from kefu.db.session import action
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


@action
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
    now = now or utcnow()
    key = throttle_key(tenant_slug, username)
    row = db.get(LoginThrottle, key)
    state = (
        throttle.ThrottleState(row.failures, row.last_failure_at, row.locked_until) if row else throttle.ThrottleState()
    )
    verdict = throttle.check(state, now, policy)
    if not verdict.allowed:
        return LoginOutcome(verdict=verdict)

    tenant = db.scalar(select(Tenant).where(Tenant.slug == tenant_slug.strip().lower()))
    user = None
    if tenant is not None:
        user = db.scalar(select(User).where(User.tenant_id == tenant.id, User.username == username.strip()))
    # Always verify (against a dummy hash when there is no such user), so timing tells nothing.
    good = verify_password(user.password_hash if user else None, password)
    if not good or user is None or not user.is_active or user.deleted_at is not None:
        new = throttle.after_failure(state, now, policy)
        if row is None:
            row = LoginThrottle(key=key)
            db.add(row)
        row.failures, row.last_failure_at, row.locked_until = (
            new.failures,
            new.last_failure_at,
            new.locked_until,
        )
        if tenant is not None:
            emit(
                db,
                "staff.login_failed",
                tenant_id=tenant.id,
                user_id=user.id if user else None,
                payload={
                    "username": username.strip()[:64],
                    "failures": new.failures,
                    "ip": ip,
                    "locked": new.locked_until is not None,
                },
            )
        return LoginOutcome()

    if row is not None:
        db.delete(row)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    token, digest = new_session_token()
    session = StaffSession(
        token_hash=digest,
        tenant_id=user.tenant_id,
        user_id=user.id,
        created_at=now,
        expires_at=now + session_ttl,
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
    return LoginOutcome(user=user, session=session, token=token)


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
