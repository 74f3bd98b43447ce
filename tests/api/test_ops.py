from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from kefu.ops.logging import JsonFormatter
from tests.conftest import BACKEND


def test_healthz_reports_database_and_bus(client: TestClient) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True, "backend": "postgresql" if BACKEND == "postgres" else "sqlite"}
    assert body["bus"]["ok"] and body["bus"]["backend"] == ("redis" if BACKEND == "postgres" else "memory")


def test_healthz_says_unavailable_when_the_database_is_gone(client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    from kefu.db.engine import make_engine

    real = app.state.database.engine
    app.state.database.engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        resp = client.get("/healthz")
    finally:
        app.state.database.engine.dispose()
        app.state.database.engine = real
    assert resp.status_code == 503 and resp.json()["database"]["ok"] is False


def test_metrics_in_prometheus_format_with_route_templates(client: TestClient) -> None:
    client.get("/api/v1/teams/12345")
    text = client.get("/metrics").text
    assert "# TYPE kefu_http_requests_total counter" in text
    assert 'route="/api/v1/teams/{team_id}"' in text  # templates, not raw paths: bounded label values
    assert "kefu_http_request_duration_seconds_bucket" in text


def test_request_id_is_echoed_or_made_and_logged(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="kefu.access"):
        given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        made = client.get("/healthz")
        hostile = client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    assert given.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 32
    assert hostile.headers["x-request-id"] != "bad id\nwith newline"
    record = next(r for r in caplog.records if getattr(r, "path", None) == "/healthz")
    line = json.loads(JsonFormatter().format(record))
    assert line["status"] == 200 and line["route"] == "/healthz" and "duration_ms" in line
    assert line["level"] == "info" and line["logger"] == "kefu.access"


def test_json_log_lines_carry_the_request_id(caplog: pytest.LogCaptureFixture) -> None:
    from kefu.ops.logging import request_id_var

    token = request_id_var.set("rid-42")
    try:
        record = logging.LogRecord("kefu.x", logging.WARNING, __file__, 1, "库存 %s", ("不足",), None)
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line == {**line, "request_id": "rid-42", "msg": "库存 不足", "level": "warning"}


def test_unknown_route_answers_in_the_error_shape(client: TestClient) -> None:
    resp = client.get("/api/v1/nothing-here")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "http_404"


def test_openapi_documents_the_admin_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/teams",
        "/api/v1/users/{user_id}",
        "/api/v1/skill-groups/{skill_group_id}/agents/{user_id}",
        "/api/v1/api-tokens",
        "/api/v1/auth/login",
    ):
        assert path in paths
