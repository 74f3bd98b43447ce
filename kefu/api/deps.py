"""Dependencies shared by routes: the database session, the caller, the language."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, WebSocket
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from kefu.access.caller import Caller
from kefu.access.scope import caller_for
from kefu.actions.api_tokens import do_touch_api_token
from kefu.auth.lookup import user_for_api_token, user_for_session
from kefu.auth.tokens import CSRF_HEADER, SESSION_COOKIE, csrf_matches
from kefu.config import Settings
from kefu.db.session import Database
from kefu.errors import Forbidden, Msg, NotAuthenticated, pick_language

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_database(request: Request) -> Database:
    return request.app.state.database  # type: ignore[no-any-return]


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_db(request: Request) -> Iterator[Session]:
    with get_database(request).session() as db:
        yield db


DbDep = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def bearer_token(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return None


def resolve_caller(
    db: Session,
    settings: Settings,
    *,
    authorization: str | None,
    cookie: str | None,
    method: str,
    csrf_header: str | None,
) -> Caller:
    """Bearer tokens first (integrations); else the session cookie, with CSRF for changes."""
    token = bearer_token(authorization)
    if token is not None:
        found = user_for_api_token(db, token)
        if found is None:
            raise NotAuthenticated(Msg("API 令牌无效、已过期或已撤销", "the API token is invalid, expired or revoked"))
        user, api_token = found
        do_touch_api_token(db, api_token)
        return caller_for(db, user, via="token")
    if cookie:
        found_session = user_for_session(db, cookie)
        if found_session is not None:
            user, session = found_session
            if method not in SAFE_METHODS and not csrf_matches(settings.secret_key, session.token_hash, csrf_header):
                raise Forbidden(
                    Msg(
                        "缺少或错误的 CSRF 令牌，请刷新页面后重试",
                        "missing or wrong CSRF token; reload the page and retry",
                    ),
                    code="csrf",
                )
            return caller_for(db, user, via="session", session_digest=session.token_hash)
    raise NotAuthenticated(Msg("请先登录", "please log in"))


def get_caller(request: Request, db: DbDep, settings: SettingsDep) -> Caller:
    caller = resolve_caller(
        db,
        settings,
        authorization=request.headers.get("authorization"),
        cookie=request.cookies.get(SESSION_COOKIE),
        method=request.method,
        csrf_header=request.headers.get(CSRF_HEADER),
    )
    request.state.tenant_id = caller.tenant_id
    request.state.user_id = caller.user_id
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_lang(request: Request) -> str:
    return pick_language(request.headers.get("accept-language"))


LangDep = Annotated[str, Depends(get_lang)]


async def socket_caller(websocket: WebSocket) -> Caller:
    """The staff caller of a WebSocket (bearer token, or the session cookie: a socket makes no changes
    through HTTP, so no CSRF token), re-run whenever a socket re-checks its caller."""
    database: Database = websocket.app.state.database
    settings: Settings = websocket.app.state.settings
    cookie = websocket.cookies.get(SESSION_COOKIE)
    authorization = websocket.headers.get("authorization")

    def authenticate() -> Caller:
        with database.session() as db:
            return resolve_caller(
                db, settings, authorization=authorization, cookie=cookie, method="GET", csrf_header=None
            )

    return await run_in_threadpool(authenticate)
