"""The bot's KPIs over HTTP: for administrators only, by period and by day in the tenant's time zone.
(With real conversations: tests/live/test_bot_chat.py.)"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from kefu.db.session import Database
from tests.factories import World, make_world


@pytest.fixture
def world(database: Database) -> World:
    return make_world(database)


def test_days_are_the_tenants_and_an_empty_day_has_no_rates(client: TestClient, world: World) -> None:
    resp = client.get("/api/v1/bot/stats/daily", params={"days": 3}, headers=world.headers("admin_a"))
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["time_zone"] == "Asia/Shanghai"
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    assert [d["date"] for d in out["days"]][-1] == today.isoformat() and len(out["days"]) == 3
    assert all(d["conversations"] == 0 and d["self_service_rate"] is None for d in out["days"])
    assert out["total"]["conversations"] == 0 and out["total"]["helpful_rate"] is None
    assert len(client.get("/api/v1/bot/stats/daily", headers=world.headers("admin_a")).json()["days"]) == 14


def test_only_administrators_and_at_most_92_days(client: TestClient, world: World) -> None:
    for who in ("sup_hq", "agent_east"):
        assert client.get("/api/v1/bot/stats/daily", headers=world.headers(who)).status_code == 403
    for days in (0, 93):
        resp = client.get("/api/v1/bot/stats/daily", params={"days": days}, headers=world.headers("admin_a"))
        assert resp.status_code == 422


def test_hours_of_a_day_in_the_tenants_time_zone(client: TestClient, world: World) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    today = datetime.now(tz).date()
    resp = client.get("/api/v1/bot/stats/hourly", headers=world.headers("admin_a"))
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["time_zone"] == "Asia/Shanghai" and out["date"] == today.isoformat()
    starts = [datetime.fromisoformat(h["start"]) for h in out["hours"]]
    assert len(starts) == 24 and [s.astimezone(tz).hour for s in starts] == list(range(24))
    assert starts[0].astimezone(tz).date() == today and starts[0].utcoffset() == timedelta(hours=8)
    assert all(h["conversations"] == 0 and h["answer_rate"] is None for h in out["hours"])
    yesterday = (today - timedelta(days=1)).isoformat()
    assert (
        client.get("/api/v1/bot/stats/hourly", params={"date": yesterday}, headers=world.headers("admin_a")).json()[
            "date"
        ]
        == yesterday
    )
    for day in (today + timedelta(days=1), today - timedelta(days=92)):
        resp = client.get(
            "/api/v1/bot/stats/hourly", params={"date": day.isoformat()}, headers=world.headers("admin_a")
        )
        assert resp.status_code == 422 and "92" in resp.text
    assert client.get("/api/v1/bot/stats/hourly", headers=world.headers("sup_hq")).status_code == 403
