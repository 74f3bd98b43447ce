"""One error shape for every failure: ``{"error": {"code", "message", ...}}`` in the caller's language."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from kefu.errors import KefuError, pick_language

log = logging.getLogger(__name__)


def _lang(request: Request) -> str:
    return pick_language(request.headers.get("accept-language"))


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


_HTTP_MESSAGES = {
    404: ("接口不存在", "no such endpoint"),
    405: ("不支持该请求方法", "method not allowed"),
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(KefuError)
    async def _kefu_error(request: Request, exc: KefuError) -> JSONResponse:
        retry_after = exc.details.get("retry_after")
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return JSONResponse(
            error_body(exc.code, exc.msg.pick(_lang(request)), **exc.details),
            status_code=exc.status,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        lang = _lang(request)
        fields = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
            fields.append({"field": ".".join(loc) or "body", "problem": err.get("msg", "")})
        summary = "; ".join(f"{f['field']}: {f['problem']}" for f in fields)
        message = f"请求参数有误 — {summary}" if lang == "zh" else f"invalid request — {summary}"
        return JSONResponse(error_body("invalid", message, fields=fields), status_code=422)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # Reached only by a race the actions' own checks could not see (two requests at once).
        log.info("integrity error answered with 409: %s", exc.orig)
        message = (
            "数据与现有记录冲突（可能刚被他人修改），请刷新后重试"
            if _lang(request) == "zh"
            else (
                "the change conflicts with existing data (perhaps changed by someone else just now); reload and retry"
            )
        )
        return JSONResponse(error_body("conflict", message), status_code=409)

    @app.exception_handler(DataError)
    async def _bad_data(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the schemas let through (e.g. a NUL in a search string).
        log.info("data error answered with 422: %s", exc.orig)
        message = (
            "请求中包含数据库无法保存的字符或数值"
            if _lang(request) == "zh"
            else ("the request holds a character or number the database cannot store")
        )
        return JSONResponse(error_body("invalid", message), status_code=422)

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("database error: %s", exc.orig)
        message = (
            "数据库暂时不可用，请稍后重试" if _lang(request) == "zh" else "the database is unavailable; retry shortly"
        )
        return JSONResponse(error_body("database_unavailable", message), status_code=503)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        zh, en = _HTTP_MESSAGES.get(exc.status_code, (str(exc.detail), str(exc.detail)))
        return JSONResponse(
            error_body(f"http_{exc.status_code}", zh if _lang(request) == "zh" else en),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
