from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kefu.db.session import Database
from kefu.models import Event, SkillGroupAgent, TeamMembership, User
from tests.factories import PASSWORD, World, make_world


@pytest.fixture
def world(database: Database) -> World:
    return make_world(database)


def new_agent(**extra: object) -> dict[str, object]:
    return {
        "username": "xiaoming",
        "display_name": "小明",
        "role": "agent",
        "password": "secret-pass-1",
        **extra,
    }


def test_admin_creates_lists_and_filters(client: TestClient, world: World) -> None:
    h = world.headers("admin_a")
    created = client.post("/api/v1/users", json=new_agent(team_ids=[world.east1]), headers=h)
    assert created.status_code == 201
    body = created.json()
    assert body["team_ids"] == [world.east1] and "password" not in body and "password_hash" not in body
    agents = client.get("/api/v1/users", params={"role": "agent", "team_id": world.east1}, headers=h).json()
    assert {u["username"] for u in agents["items"]} == {"agent_east1", "xiaoming"}
    assert client.get("/api/v1/users", params={"q": "小明"}, headers=h).json()["total"] == 1


def test_nothing_is_half_written_when_a_team_is_wrong(client: TestClient, world: World, database: Database) -> None:
    with database.session() as db:
        before = (
            db.scalar(select(func.count()).select_from(User)),
            db.scalar(select(func.count()).select_from(Event)),
        )
    resp = client.post("/api/v1/users", json=new_agent(team_ids=[world.east, 424242]), headers=world.headers("admin_a"))
    assert resp.status_code == 404
    with database.session() as db:
        after = (
            db.scalar(select(func.count()).select_from(User)),
            db.scalar(select(func.count()).select_from(Event)),
        )
    assert after == before


def test_validation_and_conflicts(client: TestClient, world: World) -> None:
    h = world.headers("admin_a")
    short = client.post("/api/v1/users", json=new_agent(password="short"), headers=h)
    assert short.status_code == 422 and short.json()["error"]["fields"][0]["field"] == "password"
    bad_name = client.post("/api/v1/users", json=new_agent(username="小 明"), headers=h)
    assert bad_name.status_code == 422
    bad_role = client.post("/api/v1/users", json=new_agent(role="god"), headers=h)
    assert bad_role.status_code == 422 and "role" in bad_role.json()["error"]["message"]
    dup = client.post("/api/v1/users", json=new_agent(username="agent_east"), headers=h)
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "user.username_taken"


def test_supervisor_creates_agents_in_his_subtree_only(client: TestClient, world: World) -> None:
    h = world.headers("sup_east")
    assert client.post("/api/v1/users", json=new_agent(team_ids=[world.east1]), headers=h).status_code == 201
    assert client.post("/api/v1/users", json=new_agent(username="a2"), headers=h).status_code == 422  # no team
    assert (
        client.post("/api/v1/users", json=new_agent(username="a3", team_ids=[world.south]), headers=h).status_code
        == 404
    )
    boss = client.post("/api/v1/users", json=new_agent(username="boss", role="admin", team_ids=[world.east]), headers=h)
    assert boss.status_code == 403
    visible = {u["username"] for u in client.get("/api/v1/users", headers=h, params={"page_size": 100}).json()["items"]}
    assert visible == {"sup_east", "sup_east1", "agent_east", "agent_east1", "xiaoming"}


def test_self_service_and_role_rules(client: TestClient, world: World) -> None:
    me = world.users["agent_east"].id
    h = world.headers("agent_east")
    ok = client.patch(f"/api/v1/users/{me}", json={"display_name": "东东"}, headers=h)
    assert ok.status_code == 200 and ok.json()["display_name"] == "东东"
    own = client.patch(f"/api/v1/users/{me}", json={"password": "new-password-1"}, headers=h)
    assert own.status_code == 422 and own.json()["error"]["code"] == "user.own_password"
    assert client.patch(f"/api/v1/users/{me}", json={"max_concurrent": 50}, headers=h).status_code == 403
    assert client.patch(f"/api/v1/users/{me}", json={"role": "admin"}, headers=h).status_code == 403
    sup = world.headers("sup_east")
    assert client.patch(f"/api/v1/users/{me}", json={"role": "supervisor"}, headers=sup).status_code == 403
    assert client.patch(f"/api/v1/users/{me}", json={"max_concurrent": 8}, headers=sup).json()["max_concurrent"] == 8
    admin_id = world.users["admin_a"].id
    last = client.patch(f"/api/v1/users/{admin_id}", json={"role": "agent"}, headers=world.headers("admin_a"))
    assert last.status_code == 409 and last.json()["error"]["code"] == "user.last_admin"


def test_supervisor_changes_memberships_only_inside_his_subtree(
    client: TestClient, world: World, database: Database
) -> None:
    agent = world.users["agent_east"].id
    # The administrator also puts the agent into 华南; the 华东 supervisor then moves him within 华东.
    client.put(f"/api/v1/teams/{world.south}/members/{agent}", headers=world.headers("admin_a"))
    resp = client.patch(f"/api/v1/users/{agent}", json={"team_ids": [world.east1]}, headers=world.headers("sup_east"))
    assert resp.status_code == 200
    assert sorted(resp.json()["team_ids"]) == sorted([world.east1, world.south])


def test_delete_closes_the_account_but_keeps_history(client: TestClient, world: World, database: Database) -> None:
    agent = world.users["agent_east"]
    assert client.delete(f"/api/v1/users/{agent.id}", headers=world.headers("sup_east")).status_code == 204
    assert client.get("/api/v1/teams", headers=world.headers("agent_east")).status_code == 401  # token revoked
    login = client.post(
        "/api/v1/auth/login", json={"tenant": "tenant-a", "username": "agent_east", "password": PASSWORD}
    )
    assert login.status_code == 401
    listed = client.get("/api/v1/users", headers=world.headers("admin_a"), params={"page_size": 100}).json()
    assert agent.id not in {u["id"] for u in listed["items"]}
    deleted = client.get(
        "/api/v1/users", headers=world.headers("admin_a"), params={"include_deleted": True, "page_size": 100}
    ).json()
    assert agent.id in {u["id"] for u in deleted["items"]}
    with database.session() as db:
        assert (
            db.scalar(select(func.count()).select_from(SkillGroupAgent).where(SkillGroupAgent.user_id == agent.id)) == 0
        )
        assert (
            db.scalar(select(func.count()).select_from(TeamMembership).where(TeamMembership.user_id == agent.id)) == 1
        )
    assert (
        client.delete(f"/api/v1/users/{world.users['admin_a'].id}", headers=world.headers("admin_a")).status_code == 403
    )


def test_changing_ones_own_password_needs_the_old_one_and_ends_other_sessions(client: TestClient, world: World) -> None:
    from fastapi.testclient import TestClient as Browser

    thief, owner = Browser(client.app), Browser(client.app)
    for browser in (thief, owner):
        csrf = browser.post(
            "/api/v1/auth/login", json={"tenant": "tenant-a", "username": "agent_east", "password": PASSWORD}
        ).json()["csrf_token"]
        browser.headers["X-CSRF-Token"] = csrf
    body = {"current_password": "a-guess-123", "new_password": "stolen-password"}
    no_old = thief.post("/api/v1/auth/password", json=body)
    assert no_old.status_code == 403 and no_old.json()["error"]["code"] == "user.wrong_current_password"
    # Guessing the current password from a stolen session meets the login throttle.
    codes = [thief.post("/api/v1/auth/password", json=body).status_code for _ in range(5)]
    assert 429 in codes
    ok = owner.post("/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": "fresh-password-9"})
    assert ok.status_code in (204, 429)
    if ok.status_code == 429:  # the thief's guesses slowed the owner down too: wait it out like a person would
        import time

        time.sleep(float(ok.headers["Retry-After"]))
        ok = owner.post(
            "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": "fresh-password-9"}
        )
    assert ok.status_code == 204
    assert thief.get("/api/v1/auth/me").status_code == 401  # the other session ended
    assert owner.get("/api/v1/auth/me").status_code == 200  # this one goes on
    relogin = client.post(
        "/api/v1/auth/login", json={"tenant": "tenant-a", "username": "agent_east", "password": "fresh-password-9"}
    )
    assert relogin.status_code == 200


def test_an_agent_shared_with_another_team_is_changed_only_by_an_administrator(
    client: TestClient, world: World
) -> None:
    shared = world.users["agent_south"].id
    admin = world.headers("admin_a")
    assert client.put(f"/api/v1/teams/{world.east}/members/{shared}", headers=admin).status_code == 200
    sup = world.headers("sup_east")
    assert client.get(f"/api/v1/users/{shared}", headers=sup).status_code == 200  # he may see him
    for resp in (
        client.patch(f"/api/v1/users/{shared}", json={"max_concurrent": 1}, headers=sup),
        client.patch(f"/api/v1/users/{shared}", json={"password": "taken-over-1"}, headers=sup),
        client.delete(f"/api/v1/users/{shared}", headers=sup),
    ):
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "user.outside_scope"
    # Inside his own subtree he may still move him (the 华南 membership stays).
    moved = client.patch(f"/api/v1/users/{shared}", json={"team_ids": [world.east1]}, headers=sup)
    assert moved.status_code == 200 and sorted(moved.json()["team_ids"]) == sorted([world.east1, world.south])
    assert client.patch(f"/api/v1/users/{shared}", json={"max_concurrent": 1}, headers=admin).status_code == 200
