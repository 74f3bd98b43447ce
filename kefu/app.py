"""The ASGI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from kefu import __version__
from kefu.api.errors import install_error_handlers
from kefu.api.routes import (
    api_tokens,
    auth,
    bot,
    channels,
    conversations,
    desk,
    events,
    ops,
    skill_groups,
    teams,
    tenant,
    users,
)
from kefu.api.routes import kb as kb_routes
from kefu.api.routes import kb_duplicates as kb_duplicate_routes
from kefu.api.routes import quick_replies as quick_reply_routes
from kefu.config import Settings, get_settings
from kefu.db.engine import make_engine
from kefu.db.session import Database
from kefu.events.bus import make_bus
from kefu.live import agent_socket, uploads, visitor_rest, visitor_socket
from kefu.live.service import Live
from kefu.ops.middleware import RequestContextMiddleware
from kefu.web import PUBLIC_PATHS as WEB_PUBLIC_PATHS
from kefu.web import install_web

API_PREFIX = "/api/v1"

#: Routes anyone may call without logging in. The access test refuses every other route to strangers.
PUBLIC_PATHS = frozenset(
    {
        "/",
        "/healthz",
        "/metrics",
        f"{API_PREFIX}/auth/login",
        # Visitors: authenticated by their own visitor token / signed capability URLs, not as staff.
        f"{API_PREFIX}/visitor/uploads",
        f"{API_PREFIX}/files/{{tenant_id}}/{{sha256}}",
        "/ws/visitor",
    }
    # The visitor's REST fallback (session, messages, human, end, rate): authenticated by visitor token.
    | {API_PREFIX + path for path in visitor_rest.PUBLIC_PATHS}
    # The web front end's pages, assets and the widget's public settings (kefu/web.py).
    | WEB_PUBLIC_PATHS
)


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    if database is None:
        database = Database(
            make_engine(settings.database_url), make_bus(settings.redis_url_or_none, settings.bus_namespace)
        )

    live = Live(settings, database)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await database.bus.start()
        await live.start()
        try:
            yield
        finally:
            await live.stop()
            await database.bus.stop()

    app = FastAPI(
        title="kefu 客服平台 API",
        version=__version__,
        description="全渠道智能客服平台 — omnichannel customer-service platform. "
        "认证：登录后使用会话 Cookie（修改类请求需带 X-CSRF-Token 头），或 `Authorization: Bearer <API 令牌>`。",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.live = live
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)

    api = APIRouter(prefix=API_PREFIX)
    for module in (auth, bot, tenant, teams, users, skill_groups, channels, api_tokens, events, conversations, desk):
        api.include_router(module.router)
    api.include_router(kb_routes.router)
    api.include_router(kb_duplicate_routes.router)
    api.include_router(quick_reply_routes.router)
    api.include_router(uploads.router)
    api.include_router(uploads.public_router)
    api.include_router(visitor_rest.router)
    app.include_router(api)
    app.include_router(visitor_socket.router)
    app.include_router(agent_socket.router)
    app.include_router(ops.router)

    # The web front end (landing page, widget, workspace, admin console): kefu/web.py.
    install_web(app)

    return app
