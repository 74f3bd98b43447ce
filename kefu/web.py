"""Serving the built front end (``web/`` → ``kefu/static/``, built with ``npm ci && npm run build``).

Pages (``/``, ``/demo-shop``, ``/widget/``, ``/workspace/``, ``/admin/``) and the loader ``/widget.js`` are
served with ``Cache-Control: no-cache`` and an ETag (the browser revalidates and gets ``304`` until a new
build), hashed files under ``/assets/`` for a year as immutable. Nothing is fetched from anywhere else, so
the screens work on an intranet. When the assets were never built, kefu still runs (API, sockets) and
every page says how to build them.

The landing page and the widget test page get a small JSON "boot" block: the demo tenant's logins and
widget key, and only while the demo administrator still has the published demo password.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu import __version__
from kefu.actions.visitors import channel_for_widget
from kefu.api.deps import DbDep
from kefu.auth.passwords import verify_password
from kefu.errors import Forbidden, Msg, NotFound
from kefu.models.staff import Role, User
from kefu.models.tenant import Tenant

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
BUILD_HINT = "cd web && npm ci && npm run build"

#: URL → built HTML file. Directory-style pages also answer without the trailing slash (redirect).
PAGES = {
    "/": "index.html",
    "/demo-shop": "demo-shop/index.html",
    "/widget/": "widget/index.html",
    "/workspace/": "workspace/index.html",
    "/admin/": "admin/index.html",
}
WIDGET_CONFIG_PATH = "/api/v1/widget/{widget_key}/config"
#: Everything here is public: pages and assets carry no data; the widget config is what the widget shows anyway.
PUBLIC_PATHS = frozenset(
    {
        *PAGES,
        "/widget",
        "/workspace",
        "/admin",
        "/widget.js",
        "/favicon.ico",
        "/assets/{path:path}",
        WIDGET_CONFIG_PATH,
    }
)
LONG_CACHE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
BOOT_MARK = "</head>"


def built(static_dir: Path = STATIC_DIR) -> bool:
    return (static_dir / "index.html").is_file() and (static_dir / "widget.js").is_file()


@dataclass
class _Cached:
    mtime_ns: int
    text: str


class _Files:
    """Built files read once and again only when a new build replaced them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[str, _Cached] = {}

    def text(self, name: str) -> str | None:
        path = self.root / name
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return None
        hit = self._cache.get(name)
        if hit is None or hit.mtime_ns != mtime:
            hit = _Cached(mtime, path.read_text(encoding="utf-8"))
            self._cache[name] = hit
        return hit.text


class WidgetPublicConfig(BaseModel):
    """What the visitor widget shows before anyone has said anything (public: the page shows it anyway)."""

    title: str | None = Field(None, description="窗口标题 / window title")
    greeting: str | None = Field(None, description="欢迎语 / greeting")
    colour: str | None = Field(None, description="主题色 / colour, #rrggbb")
    position: str | None = Field(None, description="按钮位置 left/right / button position")
    bot_enabled: bool = False
    enabled: bool = True


def _revalidated(request: Request, body: bytes, media_type: str, headers: dict[str, str] | None = None) -> Response:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    all_headers = {"Cache-Control": REVALIDATE, "ETag": etag, **(headers or {})}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=all_headers)
    return Response(body, media_type=media_type, headers=all_headers)


def not_built_page() -> HTMLResponse:
    html = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>kefu — 前端未构建</title>
<style>body{{font-family:-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;max-width:720px;margin:48px auto;
padding:0 16px;color:#303133}}code{{background:#f4f4f5;padding:2px 6px;border-radius:3px}}</style></head><body>
<h1>kefu 全渠道智能客服平台</h1>
<p>服务已启动，但网页前端尚未构建。请在项目目录运行 <code>{BUILD_HINT}</code>（需要 Node.js 18+），
或直接运行 <code>./scripts/demo</code>，它会自动构建。</p>
<p>The service is running, but the web front end has not been built. Run <code>{BUILD_HINT}</code>
(Node.js 18+) in the project folder, or <code>./scripts/demo</code>, which builds it for you.</p>
<p><a href="/docs">API 文档 / API docs</a> · <a href="/healthz">健康检查 / health</a></p>
</body></html>"""
    return HTMLResponse(html, status_code=503, headers={"Cache-Control": "no-store"})


_demo_password_ok: dict[str, bool] = {}


def demo_boot(db: Session) -> dict[str, Any] | None:
    """The demo tenant's logins, while its administrator still has the published demo password."""
    from kefu.demo import DEMO_PASSWORD, DEMO_SLUG, _widget_key

    tenant = db.scalar(select(Tenant).where(Tenant.slug == DEMO_SLUG))
    if tenant is None:
        return None
    users = db.scalars(
        select(User).where(User.tenant_id == tenant.id, User.deleted_at.is_(None), User.is_active.is_(True))
    ).all()
    admin = next((u for u in users if u.username == "admin"), None)
    if admin is None or not admin.password_hash:
        return None
    ok = _demo_password_ok.get(admin.password_hash)
    if ok is None:  # argon2 is slow on purpose: verify once per hash
        ok = verify_password(admin.password_hash, DEMO_PASSWORD)
        _demo_password_ok[admin.password_hash] = ok
    if not ok:
        return None
    rank = {Role.admin: 0, Role.supervisor: 1, Role.agent: 2, Role.inspector: 3}
    shown = [
        u
        for u in users
        if u.username == "admin"
        or u.username.startswith("sup_")
        or u.username.endswith("_agent1")
        or u.username == "qa"
    ]
    shown.sort(key=lambda u: (rank.get(u.role, 9), u.id))
    return {
        "tenant": tenant.slug,
        "password": DEMO_PASSWORD,
        "widget_key": _widget_key(db, tenant.id),
        "logins": [{"role": u.role.value, "username": u.username, "name": u.display_name} for u in shown[:12]],
    }


def make_router(static_dir: Path = STATIC_DIR) -> APIRouter:
    router = APIRouter()
    files = _Files(static_dir)
    if not built(static_dir):
        log.warning("web front end not built: run `%s` (pages answer 503 with this hint until then)", BUILD_HINT)

    def page(request: Request, name: str, boot: dict[str, Any] | None = None) -> Response:
        text = files.text(name)
        if text is None:
            return not_built_page()
        if boot is not None:
            # JSON inside <script>: escape "<" so no string can close the element.
            blob = json.dumps(boot, ensure_ascii=False).replace("<", "\\u003c")
            block = f'<script id="kefu-boot" type="application/json">{blob}</script>'
            text = text.replace(BOOT_MARK, block + BOOT_MARK, 1)
        return _revalidated(request, text.encode(), "text/html; charset=utf-8")

    def boot_data(request: Request) -> dict[str, Any]:
        with request.app.state.database.session() as db:
            return {"version": __version__, "demo": demo_boot(db)}

    @router.get("/", include_in_schema=False)
    def landing(request: Request) -> Response:
        return page(request, PAGES["/"], boot_data(request))

    @router.get("/demo-shop", include_in_schema=False)
    def demo_shop(request: Request) -> Response:
        return page(request, PAGES["/demo-shop"], boot_data(request))

    def static_page(url: str) -> None:
        def serve(request: Request) -> Response:
            return page(request, PAGES[url])

        def redirect() -> Response:
            return RedirectResponse(url, status_code=308)

        router.add_api_route(url, serve, methods=["GET"], include_in_schema=False, name=f"page{url}")
        router.add_api_route(url.rstrip("/"), redirect, methods=["GET"], include_in_schema=False)

    for url in ("/widget/", "/workspace/", "/admin/"):
        static_page(url)

    @router.get("/widget.js", include_in_schema=False)
    def widget_loader(request: Request) -> Response:
        text = files.text("widget.js")
        if text is None:
            body = f"console.error({json.dumps('kefu: web front end not built; run ' + BUILD_HINT)});"
            return Response(body, media_type="text/javascript", headers={"Cache-Control": "no-store"})
        return _revalidated(request, text.encode(), "text/javascript; charset=utf-8")

    @router.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        # A tiny inline SVG: no 404 noise in the logs, no file to ship.
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="8" '
            'fill="#1677ff"/><text x="16" y="22" font-size="16" text-anchor="middle" fill="#fff">客</text></svg>'
        )
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})

    assets = (static_dir / "assets").resolve()

    @router.get("/assets/{path:path}", include_in_schema=False)
    def asset(path: str) -> Response:
        target = (assets / path).resolve()
        if not target.is_relative_to(assets) or not target.is_file():
            raise NotFound(Msg("文件不存在", "file not found"))
        media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return FileResponse(target, media_type=media_type, headers={"Cache-Control": LONG_CACHE})

    @router.get(
        WIDGET_CONFIG_PATH,
        response_model=WidgetPublicConfig,
        tags=["访客 visitor"],
        summary="网页插件设置（公开）/ the widget's public settings",
        description="网页插件加载时读取的标题、欢迎语、颜色、位置；无需登录。"
        " / What the widget shows before the visitor writes: title, greeting, colour, position. No login.",
    )
    def widget_config(widget_key: str, response: Response, db: DbDep) -> WidgetPublicConfig:
        # The loader calls this from the tenant's own pages (another origin).
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Cache-Control"] = "public, max-age=60"
        try:
            channel = channel_for_widget(db, widget_key[:64])
        except Forbidden:  # disabled: the loader hides the button
            return WidgetPublicConfig(enabled=False)
        config: dict[str, Any] = channel.config or {}

        def text(key: str) -> str | None:
            value = config.get(key)
            return value if isinstance(value, str) and value else None

        return WidgetPublicConfig(
            title=text("title"),
            greeting=text("greeting"),
            colour=text("colour"),
            position=text("position"),
            bot_enabled=bool(config.get("bot_enabled")),
            enabled=True,
        )

    return router


def install_web(app: FastAPI, static_dir: Path = STATIC_DIR) -> None:
    mimetypes.add_type("text/javascript", ".js")
    mimetypes.add_type("text/css", ".css")
    app.include_router(make_router(static_dir))
