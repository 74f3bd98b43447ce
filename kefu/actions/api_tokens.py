from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from kefu.access.caller import Caller
from kefu.access.scope import access_api_token, access_user, require_role
from kefu.auth.tokens import new_api_token
from kefu.db.base import utcnow
from kefu.db.session import action
from kefu.errors import Invalid, Msg
from kefu.events.record import emit
from kefu.models.staff import ApiToken, Role
from kefu.schemas.auth import ApiTokenCreate

#: ``last_used_at`` is written at most this often, so that tokens do not turn every read into a write.
TOUCH_EVERY = timedelta(minutes=1)
MAX_LIFETIME = timedelta(days=3653)


@action
def do_create_api_token(db: Session, caller: Caller, data: ApiTokenCreate) -> tuple[ApiToken, str]:
    """A new bearer token; the plain token is returned once and only its digest is kept."""
    require_role(caller, Role.admin)
    user = access_user(db, caller, data.user_id or caller.user_id)
    if not user.is_active:
        raise Invalid(Msg("不能为已停用的账号创建令牌", "cannot create a token for a deactivated account"))
    if data.expires_at is not None and (
        data.expires_at.tzinfo is None or not utcnow() < data.expires_at <= utcnow() + MAX_LIFETIME
    ):
        raise Invalid(
            Msg(
                "过期时间必须是带时区的将来时间，且不超过 10 年",
                "expires_at must be a future time with a time zone, at most 10 years ahead",
            ),
            code="api_token.expires_at",
        )
    plain, hashed = new_api_token()
    token = ApiToken(
        tenant_id=caller.tenant_id,
        user_id=user.id,
        name=data.name,
        token_hash=hashed,
        prefix=plain[:12],
        created_by_id=caller.user_id,
        expires_at=data.expires_at,
    )
    db.add(token)
    db.flush()
    emit(
        db,
        "api_token.created",
        tenant_id=caller.tenant_id,
        actor_id=caller.user_id,
        user_id=user.id,
        payload={"token_id": token.id, "name": token.name},
    )
    return token, plain


@action
def do_revoke_api_token(db: Session, caller: Caller, token_id: int) -> ApiToken:
    token = access_api_token(db, caller, token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        emit(
            db,
            "api_token.revoked",
            tenant_id=caller.tenant_id,
            actor_id=caller.user_id,
            user_id=token.user_id,
            payload={"token_id": token.id, "name": token.name},
        )
    return token


@action
def do_touch_api_token(db: Session, token: ApiToken) -> None:
    """Bookkeeping only (no event): when the token was last used, shown in the console."""
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        token.last_used_at = now
