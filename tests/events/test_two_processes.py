"""Scale-out: two kefu processes on one PostgreSQL and one Redis. An action served by one process
publishes an event that a WebSocket subscriber connected to the other process receives."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from kefu.db.session import Database
from tests.conftest import BACKEND, NAMESPACE, POSTGRES_URL, REDIS_URL
from tests.factories import make_world
from tests.helpers_server import KefuProcess, free_port

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="runs in the PostgreSQL + Redis pass of the suite")


def test_event_published_in_one_process_reaches_a_subscriber_in_the_other(database: Database, tmp_path: Path) -> None:
    world = make_world(database)
    env = {
        "KEFU_DATABASE_URL": POSTGRES_URL,
        "KEFU_REDIS_URL": REDIS_URL,
        "KEFU_BUS_NAMESPACE": NAMESPACE,
        "KEFU_SECRET_KEY": "two-process-secret",
        "KEFU_VAR_DIR": str(tmp_path / "var"),
    }
    a = KefuProcess(["serve"], env, tmp_path, free_port())
    b = KefuProcess(["serve"], env, tmp_path, free_port())
    try:
        for proc in (a, b):
            health = proc.wait_healthy()
            assert health["database"] == {"ok": True, "backend": "postgresql"}
            assert health["bus"]["backend"] == "redis" and health["bus"]["ok"]  # type: ignore[index]

        headers = {"Authorization": f"Bearer {world.tokens['sup_hq']}"}
        ws_url = f"ws://127.0.0.1:{b.port}/api/v1/events/stream"
        with connect(ws_url, additional_headers=headers, open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            resp = httpx.post(
                f"{a.base}/api/v1/teams",
                json={"name": "跨进程", "parent_id": world.east},
                headers={"Authorization": f"Bearer {world.tokens['admin_a']}"},
            )
            assert resp.status_code == 201, resp.text
            while True:
                frame = json.loads(ws.recv(timeout=10))
                if frame["type"] == "event":
                    break
        event = frame["event"]
        assert event["type"] == "team.created"
        assert event["team_id"] == resp.json()["id"]
        assert event["actor_id"] == world.users["admin_a"].id
    finally:
        a.stop()
        b.stop()
