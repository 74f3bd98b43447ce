from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kefu.db.session import Database
from kefu.demo import DEMO_PASSWORD, seed_demo
from kefu.models import Event, SkillGroup, Team, User


def counts(database: Database) -> tuple[int, ...]:
    with database.session() as db:
        return tuple(db.scalar(select(func.count()).select_from(m)) or 0 for m in (Team, User, SkillGroup, Event))


def test_demo_is_idempotent_and_complete(database: Database, client: TestClient) -> None:
    info = seed_demo(database)
    first = counts(database)
    again = seed_demo(database)
    assert counts(database) == first
    assert again.widget_key == info.widget_key and len(info.widget_key) >= 16
    with database.session() as db:
        teams = {t.name: t for t in db.scalars(select(Team))}
        assert set(teams) == {"总部", "华东大区", "华南大区", "华北大区"}
        assert {t.parent_id for n, t in teams.items() if n != "总部"} == {teams["总部"].id}
        assert set(db.scalars(select(SkillGroup.name))) == {"售前", "售后", "技术支持"}
    roles = {role for role, _, _ in info.logins}
    assert roles == {"admin", "supervisor", "agent", "inspector"}

    # Every printed login works, and the admin sees the teams.
    for _, username, _ in info.logins:
        resp = client.post(
            "/api/v1/auth/login", json={"tenant": "demo", "username": username, "password": DEMO_PASSWORD}
        )
        assert resp.status_code == 200, username
    client.post("/api/v1/auth/login", json={"tenant": "demo", "username": "admin", "password": DEMO_PASSWORD})
    assert client.get("/api/v1/teams").json()["total"] == 4
    client.post("/api/v1/auth/login", json={"tenant": "demo", "username": "sup_east", "password": DEMO_PASSWORD})
    assert [t["name"] for t in client.get("/api/v1/teams").json()["items"]] == ["华东大区"]
