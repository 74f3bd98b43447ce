"""Turning a cookie or a bearer token into the caller (reads only)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.auth.tokens import digest
from kefu.db.base import utcnow
from kefu.models.staff import ApiToken, StaffSession, User


def user_for_session(db: Session, token: str) -> tuple[User, StaffSession] | None:
    row = db.execute(
        select(User, StaffSession)
        .join(StaffSession, StaffSession.user_id == User.id)
        .where(StaffSession.token_hash == digest(token))
    ).first()
    if row is None:
        return None
    user, session = row
    if session.ended_at is not None or session.expires_at <= utcnow() or not _usable(user):
        return None
    return user, session


def user_for_api_token(db: Session, token: str) -> tuple[User, ApiToken] | None:
    row = db.execute(
        select(User, ApiToken).join(ApiToken, ApiToken.user_id == User.id).where(ApiToken.token_hash == digest(token))
    ).first()
    if row is None:
        return None
    user, api_token = row
    if api_token.revoked_at is not None or not _usable(user):
        return None
    if api_token.expires_at is not None and api_token.expires_at <= utcnow():
        return None
    return user, api_token


def _usable(user: User) -> bool:
    return user.is_active and user.deleted_at is None
