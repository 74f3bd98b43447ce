"""Request ids, access logs and HTTP metrics, as plain ASGI middleware (it also sees WebSockets)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kefu.ops.logging import request_id_var
from kefu.ops.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = logging.getLogger("kefu.access")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        rid = incoming if incoming and _VALID_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            # A socket's frames go straight through: only an HTTP response carries the request id.
            await self.app(scope, receive, send_with_id if scope["type"] == "http" else send)
        except Exception:
            status = 500
            raise
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            if scope["type"] == "http":
                HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
                HTTP_LATENCY.labels(scope["method"], route).observe(elapsed)
            state: dict[str, Any] = scope.get("state", {})
            log.info(
                "%s %s %s",
                scope.get("method", "WS"),
                scope["path"],
                status,
                extra={
                    "method": scope.get("method", "WS"),
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "tenant_id": state.get("tenant_id"),
                    "user_id": state.get("user_id"),
                },
            )
            request_id_var.reset(token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


_templates: dict[int, dict[Any, str]] = {}


def _route_template(scope: Scope) -> str:
    """The matched route's full path template (``/api/v1/teams/{team_id}``), a bounded metric label."""
    endpoint = scope.get("endpoint")
    app = scope.get("app")
    if endpoint is None or app is None:
        return "unmatched"
    table = _templates.get(id(app))
    if table is None:
        from kefu.api.route_table import routes_of

        table = _templates[id(app)] = {r.endpoint: r.path for r in routes_of(app)}
    return table.get(endpoint, "unmatched")
