from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from kefu import __version__
from kefu.ops import metrics

router = APIRouter(tags=["运维 operations"])


@router.get("/healthz", summary="健康检查 / health of the database and the bus")
async def healthz(request: Request) -> JSONResponse:
    database = request.app.state.database

    def check_db() -> dict[str, Any]:
        try:
            with database.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return {"ok": True, "backend": database.backend}
        except Exception as exc:
            return {"ok": False, "backend": database.backend, "detail": str(exc).splitlines()[0][:200]}

    db_state = await run_in_threadpool(check_db)
    bus = await database.bus.health()
    ok = db_state["ok"] and bus.ok
    body = {
        "status": "ok" if ok else "unavailable",
        "version": __version__,
        "database": db_state,
        "bus": {"ok": bus.ok, "backend": bus.backend, "detail": bus.detail},
    }
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus 指标 / metrics")
def prometheus_metrics() -> Response:
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
