from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response

from kefu.access.caller import Caller
from kefu.actions.auth import do_change_own_password, do_login, do_logout, refusal
from kefu.api.deps import CallerDep, DbDep, SettingsDep
from kefu.auth.tokens import CSRF_COOKIE, SESSION_COOKIE, csrf_token
from kefu.errors import Msg, NotAuthenticated
from kefu.models.staff import User
from kefu.models.tenant import Tenant
from kefu.ops.metrics import LOGINS
from kefu.schemas.auth import LoginRequest, LoginResponse, Me
from kefu.schemas.user import PasswordChange

router = APIRouter(prefix="/auth", tags=["认证 auth"])


def me_of(db: DbDep, caller: Caller) -> Me:
    user = db.get_one(User, caller.user_id)
    tenant = db.get_one(Tenant, caller.tenant_id)
    return Me(
        user_id=user.id,
        tenant_id=tenant.id,
        tenant_slug=tenant.slug,
        tenant_name=tenant.name,
        time_zone=tenant.time_zone,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        team_ids=sorted(caller.team_ids),
        visible_team_ids=None if caller.visible_team_ids is None else sorted(caller.visible_team_ids),
    )


@router.post(
    "/login",
    response_model=LoginResponse,
    summary="登录 / log in",
    responses={
        401: {"description": "wrong credentials"},
        423: {"description": "locked"},
        429: {"description": "too many attempts, wait"},
    },
)
def login(data: LoginRequest, request: Request, response: Response, db: DbDep, settings: SettingsDep) -> LoginResponse:
    outcome = do_login(
        db,
        tenant_slug=data.tenant,
        username=data.username,
        password=data.password,
        session_ttl=timedelta(hours=settings.session_hours),
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )
    if outcome.verdict is not None:
        LOGINS.labels("throttled").inc()
        raise refusal(outcome.verdict)
    if not outcome.ok:
        LOGINS.labels("failed").inc()
        raise NotAuthenticated(
            Msg("企业标识、用户名或密码错误", "wrong tenant, username or password"), code="login.failed"
        )
    LOGINS.labels("ok").inc()
    assert outcome.session is not None and outcome.token is not None and outcome.user is not None
    max_age = int(settings.session_hours * 3600)
    response.set_cookie(
        SESSION_COOKIE,
        outcome.token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    csrf = csrf_token(settings.secret_key, outcome.session.token_hash)
    # Readable by our own pages (not HttpOnly) so they can echo it in the X-CSRF-Token header.
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=max_age,
        httponly=False,
        samesite="strict",
        secure=settings.cookie_secure,
        path="/",
    )
    from kefu.access.scope import caller_for

    caller = caller_for(db, outcome.user, session_digest=outcome.session.token_hash)
    return LoginResponse(me=me_of(db, caller), csrf_token=csrf, expires_at=outcome.session.expires_at)


@router.post("/logout", status_code=204, summary="退出登录 / log out")
def logout(caller: CallerDep, response: Response, db: DbDep) -> Response:
    if caller.session_digest:
        do_logout(db, caller.session_digest)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/me", response_model=Me, summary="当前用户 / who am I")
def me(caller: CallerDep, db: DbDep) -> Me:
    return me_of(db, caller)


@router.post(
    "/password",
    status_code=204,
    summary="修改自己的密码 / change one's own password",
    responses={403: {"description": "wrong current password"}, 429: {"description": "too many attempts"}},
)
def change_password(data: PasswordChange, caller: CallerDep, db: DbDep) -> Response:
    do_change_own_password(db, caller, current_password=data.current_password, new_password=data.new_password)
    return Response(status_code=204)
