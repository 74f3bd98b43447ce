from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from kefu.db.session import Database
from kefu.models import Channel, ChannelKind, Conversation, ConversationStatus, Visitor
from tests.factories import World, make_world


@pytest.fixture
def world(database: Database) -> World:
    return make_world(database)


def test_create_update_and_list(client: TestClient, world: World) -> None:
    h = world.headers("sup_east")
    created = client.post(
        "/api/v1/skill-groups",
        json={"name": "华东售后", "team_id": world.east1, "mode": "broadcast_grab"},
        headers=h,
    )
    assert created.status_code == 201 and created.json()["mode"] == "broadcast_grab"
    gid = created.json()["id"]
    changed = client.patch(f"/api/v1/skill-groups/{gid}", json={"mode": "least_busy"}, headers=h)
    assert changed.json()["mode"] == "least_busy"
    listed = client.get("/api/v1/skill-groups", params={"mode": "least_busy"}, headers=h).json()
    assert [g["name"] for g in listed["items"]] == ["华东售后"]
    assert client.get("/api/v1/skill-groups", headers=world.headers("sup_south")).json()["total"] == 0
    # An agent sees the groups he serves.
    mine = client.get("/api/v1/skill-groups", headers=world.headers("agent_east")).json()
    assert [g["id"] for g in mine["items"]] == [world.skill_group]


def test_bad_mode_duplicate_name_and_foreign_team(client: TestClient, world: World) -> None:
    h = world.headers("sup_east")
    bad = client.post("/api/v1/skill-groups", json={"name": "x", "team_id": world.east, "mode": "lottery"}, headers=h)
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "mode"
    dup = client.post("/api/v1/skill-groups", json={"name": "华东售前", "team_id": world.east}, headers=h)
    assert dup.status_code == 409
    foreign = client.post("/api/v1/skill-groups", json={"name": "y", "team_id": world.south}, headers=h)
    assert foreign.status_code == 404


def test_agents_join_and_leave(client: TestClient, world: World) -> None:
    h = world.headers("sup_east")
    g = world.skill_group
    a1 = world.users["agent_east1"].id
    assert client.put(f"/api/v1/skill-groups/{g}/agents/{a1}", json={"priority": 2}, headers=h).status_code == 200
    agents = client.get(f"/api/v1/skill-groups/{g}/agents", headers=h).json()["items"]
    assert [(a["user_id"], a["priority"]) for a in agents] == [(world.users["agent_east"].id, 0), (a1, 2)]
    qa = world.users["qa_south"].id
    assert client.put(f"/api/v1/skill-groups/{g}/agents/{qa}", headers=world.headers("admin_a")).status_code == 422
    assert client.delete(f"/api/v1/skill-groups/{g}/agents/{a1}", headers=h).status_code == 204
    assert len(client.get(f"/api/v1/skill-groups/{g}/agents", headers=h).json()["items"]) == 1


def test_a_group_with_open_conversations_cannot_be_deleted(
    client: TestClient, world: World, database: Database
) -> None:
    with database.session() as db:
        channel = Channel(tenant_id=world.tenant_a, kind=ChannelKind.web, name="web2")
        visitor = Visitor(tenant_id=world.tenant_a, name="顾客")
        db.add_all([channel, visitor])
        db.flush()
        db.add(
            Conversation(
                tenant_id=world.tenant_a,
                channel_id=channel.id,
                visitor_id=visitor.id,
                skill_group_id=world.skill_group,
                status=ConversationStatus.queued,
            )
        )
        db.commit()
    resp = client.delete(f"/api/v1/skill-groups/{world.skill_group}", headers=world.headers("sup_east"))
    assert resp.status_code == 409 and "1 个进行中的会话" in resp.json()["error"]["message"]
    empty = client.post(
        "/api/v1/skill-groups",
        json={"name": "空组", "team_id": world.east},
        headers=world.headers("sup_east"),
    ).json()
    assert client.delete(f"/api/v1/skill-groups/{empty['id']}", headers=world.headers("sup_east")).status_code == 204
