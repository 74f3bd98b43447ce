from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kefu.db.session import Database
from kefu.models import Team
from tests.factories import World, make_world


@pytest.fixture
def world(database: Database) -> World:
    return make_world(database)


def test_create_list_filter_and_page(client: TestClient, world: World) -> None:
    h = world.headers("admin_a")
    for i in range(5):
        assert (
            client.post("/api/v1/teams", json={"name": f"组{i}", "parent_id": world.south}, headers=h).status_code
            == 201
        )
    page = client.get("/api/v1/teams", params={"parent_id": world.south, "page_size": 2, "page": 2}, headers=h).json()
    assert page["total"] == 5 and page["page"] == 2 and [t["name"] for t in page["items"]] == ["组2", "组3"]
    found = client.get("/api/v1/teams", params={"q": "华东"}, headers=h).json()
    assert {t["name"] for t in found["items"]} == {"华东", "华东一组"}
    bad = client.get("/api/v1/teams", params={"page_size": 1000}, headers=h)
    assert bad.status_code == 422 and "page_size" in bad.json()["error"]["message"]


def test_tree_shows_only_the_callers_subtree(client: TestClient, world: World) -> None:
    full = client.get("/api/v1/teams/tree", headers=world.headers("admin_a")).json()
    assert [n["name"] for n in full] == ["总部"]
    assert sorted(c["name"] for c in full[0]["children"]) == ["华东", "华南"]
    east = client.get("/api/v1/teams/tree", headers=world.headers("sup_east")).json()
    assert [n["name"] for n in east] == ["华东"] and [c["name"] for c in east[0]["children"]] == ["华东一组"]


def test_bad_input_says_what_is_wrong(client: TestClient, world: World) -> None:
    h = world.headers("admin_a")
    empty = client.post("/api/v1/teams", json={"name": "   "}, headers=h)
    assert empty.status_code == 422
    assert empty.json()["error"]["fields"][0]["field"] == "name"
    dup = client.post("/api/v1/teams", json={"name": "华东", "parent_id": world.hq}, headers=h)
    assert dup.status_code == 409 and "华东" in dup.json()["error"]["message"]
    dup_root = client.post("/api/v1/teams", json={"name": "总部"}, headers=h)
    assert dup_root.status_code == 409
    missing = client.post("/api/v1/teams", json={"name": "x", "parent_id": 99999}, headers=h)
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "团队不存在或无权访问"
    not_json = client.post("/api/v1/teams", content=b"{", headers={**h, "content-type": "application/json"})
    assert not_json.status_code == 422


def test_move_rename_and_refuse_cycles(client: TestClient, world: World) -> None:
    h = world.headers("admin_a")
    moved = client.patch(f"/api/v1/teams/{world.east1}", json={"parent_id": world.south, "name": "华南二组"}, headers=h)
    assert moved.status_code == 200 and moved.json()["parent_id"] == world.south
    cycle = client.patch(f"/api/v1/teams/{world.hq}", json={"parent_id": world.south}, headers=h)
    assert cycle.status_code == 422 and cycle.json()["error"]["code"] == "team.cycle"
    self_parent = client.patch(f"/api/v1/teams/{world.south}", json={"parent_id": world.south}, headers=h)
    assert self_parent.status_code == 422


def test_delete_only_empty_teams(client: TestClient, world: World, database: Database) -> None:
    h = world.headers("admin_a")
    with_children = client.delete(f"/api/v1/teams/{world.hq}", headers=h)
    assert with_children.status_code == 409 and with_children.json()["error"]["code"] == "team.has_children"
    with_members = client.delete(f"/api/v1/teams/{world.east1}", headers=h)
    assert with_members.status_code == 409 and "成员" in with_members.json()["error"]["message"]
    new = client.post("/api/v1/teams", json={"name": "临时", "parent_id": world.hq}, headers=h).json()
    with database.session() as db:
        before = db.scalar(select(func.count()).select_from(Team))
    assert client.delete(f"/api/v1/teams/{new['id']}", headers=h).status_code == 204
    assert client.get(f"/api/v1/teams/{new['id']}", headers=h).status_code == 404
    with database.session() as db:
        assert db.scalar(select(func.count()).select_from(Team)) == before - 1


def test_supervisor_works_inside_his_subtree_only(client: TestClient, world: World) -> None:
    h = world.headers("sup_east")
    child = client.post("/api/v1/teams", json={"name": "华东三组", "parent_id": world.east}, headers=h)
    assert child.status_code == 201
    assert client.post("/api/v1/teams", json={"name": "新顶级"}, headers=h).status_code == 403
    assert client.delete(f"/api/v1/teams/{world.east}", headers=h).status_code == 403  # his own team
    assert client.patch(f"/api/v1/teams/{world.east}", json={"parent_id": world.south}, headers=h).status_code == 403
    assert client.delete(f"/api/v1/teams/{child.json()['id']}", headers=h).status_code == 204
    assert client.post("/api/v1/teams", json={"name": "x"}, headers=world.headers("agent_east")).status_code == 403
    assert (
        client.post(
            "/api/v1/teams", json={"name": "x", "parent_id": world.south}, headers=world.headers("qa_south")
        ).status_code
        == 403
    )


def test_members_are_added_and_removed(client: TestClient, world: World) -> None:
    h = world.headers("sup_east")
    agent = world.users["agent_east"].id
    assert client.put(f"/api/v1/teams/{world.east1}/members/{agent}", headers=h).status_code == 200
    members = client.get(f"/api/v1/teams/{world.east1}/members", headers=h).json()
    assert {m["user_id"] for m in members["items"]} == {
        agent,
        world.users["agent_east1"].id,
        world.users["sup_east1"].id,
    }
    assert client.delete(f"/api/v1/teams/{world.east1}/members/{agent}", headers=h).status_code == 204
    # A supervisor may not pull a colleague supervisor around, nor an agent from outside his subtree.
    sup = world.users["sup_east"].id
    assert client.put(f"/api/v1/teams/{world.east1}/members/{sup}", headers=h).status_code == 403
    south_agent = world.users["agent_south"].id
    assert client.put(f"/api/v1/teams/{world.east1}/members/{south_agent}", headers=h).status_code == 404
