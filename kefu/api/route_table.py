"""The application's full route table, flattened (paths with their prefixes, methods, kind).

FastAPI keeps included routers as nested objects; this walks them so that tools and the access test
see every route, including ones added later.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import BaseRoute, WebSocketRoute


@dataclass(frozen=True)
class RouteInfo:
    path: str
    methods: frozenset[str]
    kind: str  # "http" or "websocket"
    endpoint: Any
    in_schema: bool


def routes_of(app: FastAPI) -> list[RouteInfo]:
    return list(_walk(app.router.routes, ""))


def _walk(routes: Iterable[BaseRoute], prefix: str) -> Iterator[RouteInfo]:
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:  # an included router (FastAPI ≥ 0.16x keeps them nested)
            context = getattr(route, "include_context", None)
            yield from _walk(nested.routes, prefix + getattr(context, "prefix", ""))
            continue
        path = prefix + getattr(route, "path", "")
        if isinstance(route, (APIWebSocketRoute, WebSocketRoute)):
            yield RouteInfo(path, frozenset(), "websocket", route.endpoint, False)
        elif isinstance(route, APIRoute):
            yield RouteInfo(path, frozenset(route.methods or ()), "http", route.endpoint, route.include_in_schema)
        else:
            methods = getattr(route, "methods", None) or {"GET"}
            yield RouteInfo(path, frozenset(methods), "http", getattr(route, "endpoint", None), False)
