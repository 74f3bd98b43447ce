"""The staff conversation API: lists and reads scoped like every row (tenant, team subtree, own work),
end and transfer allowed to the serving agent and supervisors in scope, never to inspectors."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kefu.actions.conversations import do_accept_conversation, do_queue_conversation, do_start_conversation
from kefu.actions.messages import SendRequest, do_send_messages
from kefu.actions.skill_groups import do_create_skill_group, do_set_skill_group_agent
from kefu.actions.visitors import do_open_visitor
from kefu.db.session import Database
from kefu.models.channel import Channel
from kefu.models.conversation import SenderKind
from kefu.models.staff import Role
from kefu.schemas.skill_group import SkillGroupAgentSet, SkillGroupCreate
from tests.factories import World, admin_caller, make_user, make_world, token_for


@dataclass
class Desk:
    world: World
    east_conv: int  # served by agent_east (team 华东)
    east1_conv: int  # served by agent_east1 (team 华东一组)
    waiting_conv: int  # queued in the 华东 group, nobody serves it

    def headers(self, who: str) -> dict[str, str]:
        return self.world.headers(who)


def conversation(database: Database, world: World, *, agent: str | None, messages: int = 0) -> int:
    with database.session() as db:
        channel = db.scalars(select(Channel).where(Channel.tenant_id == world.tenant_a)).first()
        assert channel is not None and channel.widget_key is not None
        visitor = do_open_visitor(db, widget_key=channel.widget_key, secret_key="k").visitor.id
        cid = do_start_conversation(db, tenant_id=world.tenant_a, channel_id=channel.id, visitor_id=visitor).id
        do_queue_conversation(db, cid, tenant_id=world.tenant_a, skill_group_id=world.skill_group)
        if agent is not None:
            do_accept_conversation(db, cid, tenant_id=world.tenant_a, agent_id=world.users[agent].id)
        requests = [
            SendRequest(cid, world.tenant_a, SenderKind.visitor, visitor, f"m{i}", client_msg_id=f"c{i}")
            for i in range(messages)
        ]
        do_send_messages(db, requests)
        return cid


@pytest.fixture
def desk(database: Database) -> Desk:
    world = make_world(database)
    with database.session() as db:
        ca = admin_caller(db, world.users["admin_a"])
        qa = make_user(db, ca, "qa_east", Role.inspector, [world.east])
        world.tokens["qa_east"] = token_for(db, ca, qa)
        db.refresh(qa)
        world.users["qa_east"] = qa
    return Desk(
        world,
        conversation(database, world, agent="agent_east", messages=3),
        conversation(database, world, agent="agent_east1"),
        conversation(database, world, agent=None),
    )


def ids(resp: object) -> set[int]:
    return {c["id"] for c in resp.json()["items"]}  # type: ignore[attr-defined]


def test_lists_follow_the_team_subtree_and_agents_see_their_own(client: TestClient, desk: Desk) -> None:
    everything = {desk.east_conv, desk.east1_conv, desk.waiting_conv}
    for who, expected in (
        ("admin_a", everything),
        ("sup_hq", everything),
        ("sup_east", everything),
        ("qa_east", everything),
        ("sup_east1", {desk.east1_conv}),
        ("agent_east", {desk.east_conv}),
        ("agent_east1", {desk.east1_conv}),
        ("sup_south", set()),
        ("qa_south", set()),
        ("agent_south", set()),
        ("admin_b", set()),
    ):
        resp = client.get("/api/v1/conversations", headers=desk.headers(who))
        assert resp.status_code == 200, resp.text
        assert ids(resp) == expected, who
        assert resp.json()["total"] == len(expected)


def test_list_filters(client: TestClient, desk: Desk) -> None:
    h = desk.headers("sup_east")
    queued = client.get("/api/v1/conversations", headers=h, params={"status": "queued"})
    assert ids(queued) == {desk.waiting_conv}
    mine = client.get("/api/v1/conversations", headers=h, params={"agent_id": desk.world.users["agent_east"].id})
    assert ids(mine) == {desk.east_conv}
    group = client.get("/api/v1/conversations", headers=h, params={"skill_group_id": desk.world.skill_group})
    assert ids(group) == {desk.east_conv, desk.east1_conv, desk.waiting_conv}
    paged = client.get("/api/v1/conversations", headers=h, params={"page_size": 2, "page": 2})
    assert paged.json()["total"] == 3 and len(paged.json()["items"]) == 1
    bad = client.get("/api/v1/conversations", headers=h, params={"status": "nope"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid"


def test_one_conversation_and_its_messages(client: TestClient, desk: Desk) -> None:
    h = desk.headers("agent_east")
    one = client.get(f"/api/v1/conversations/{desk.east_conv}", headers=h)
    assert one.status_code == 200
    body = one.json()
    assert body["status"] == "active" and body["team_id"] == desk.world.east and body["last_seq"] == 3
    msgs = client.get(f"/api/v1/conversations/{desk.east_conv}/messages", headers=h, params={"after_seq": 1})
    assert msgs.status_code == 200
    data = msgs.json()
    assert [m["seq"] for m in data["messages"]] == [2, 3] and data["has_more"] is False
    assert data["messages"][0]["sender"] == "visitor" and data["messages"][0]["body"] == "m1"
    assert data["conversation"]["id"] == desk.east_conv
    limited = client.get(f"/api/v1/conversations/{desk.east_conv}/messages", headers=h, params={"limit": 2})
    assert [m["seq"] for m in limited.json()["messages"]] == [1, 2] and limited.json()["has_more"] is True


@pytest.mark.parametrize("who", ["sup_south", "sup_east1", "agent_east1", "qa_south", "admin_b"])
def test_outsiders_get_404_everywhere(client: TestClient, desk: Desk, who: str) -> None:
    h = desk.headers(who)
    base = f"/api/v1/conversations/{desk.east_conv}"
    assert client.get(base, headers=h).status_code == 404
    assert client.get(f"{base}/messages", headers=h).status_code == 404
    assert client.post(f"{base}/end", headers=h).status_code == 404
    resp = client.post(f"{base}/transfer", headers=h, json={"to_group_id": desk.world.skill_group})
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"


def test_inspector_reads_but_cannot_end_or_transfer(client: TestClient, desk: Desk) -> None:
    h = desk.headers("qa_east")
    base = f"/api/v1/conversations/{desk.east_conv}"
    assert client.get(base, headers=h).status_code == 200
    end = client.post(f"{base}/end", headers=h)
    assert end.status_code == 403 and end.json()["error"]["code"] == "conversation.not_yours"
    transfer = client.post(f"{base}/transfer", headers=h, json={"to_group_id": desk.world.skill_group})
    assert transfer.status_code == 403
    assert client.get(base, headers=h).json()["status"] == "active"


def test_the_serving_agent_ends_his_own(client: TestClient, desk: Desk) -> None:
    resp = client.post(f"/api/v1/conversations/{desk.east_conv}/end", headers=desk.headers("agent_east"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "ended" and resp.json()["ended_by"] == "agent"
    again = client.post(f"/api/v1/conversations/{desk.east_conv}/end", headers=desk.headers("agent_east"))
    assert again.status_code == 200 and again.json()["ended_by"] == "agent"  # ending twice is harmless


def test_a_supervisor_in_scope_ends_as_supervisor(client: TestClient, desk: Desk) -> None:
    resp = client.post(f"/api/v1/conversations/{desk.east1_conv}/end", headers=desk.headers("sup_hq"))
    assert resp.status_code == 200
    assert resp.json()["ended_by"] == "supervisor"
    waiting = client.post(f"/api/v1/conversations/{desk.waiting_conv}/end", headers=desk.headers("admin_a"))
    assert waiting.status_code == 200 and waiting.json()["ended_by"] == "supervisor"


def test_transfer_back_to_a_group_and_its_errors(client: TestClient, desk: Desk) -> None:
    base = f"/api/v1/conversations/{desk.east_conv}"
    h = desk.headers("sup_east")
    neither = client.post(f"{base}/transfer", headers=h, json={"note": "x"})
    assert neither.status_code == 422 and neither.json()["error"]["code"] == "transfer.target"
    self_ = client.post(
        f"{base}/transfer", headers=desk.headers("agent_east"), json={"to_agent_id": desk.world.users["agent_east"].id}
    )
    assert self_.status_code == 422 and self_.json()["error"]["code"] == "transfer.self"
    away = client.post(f"{base}/transfer", headers=h, json={"to_agent_id": desk.world.users["agent_east1"].id})
    assert away.status_code == 409 and away.json()["error"]["code"] == "transfer.unavailable"
    moved = client.post(f"{base}/transfer", headers=h, json={"to_group_id": desk.world.skill_group, "note": "售后"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "queued" and moved.json()["agent_id"] is None
    # No longer his: the agent who served it no longer sees it.
    assert client.get(base, headers=desk.headers("agent_east")).status_code == 404
    again = client.post(f"{base}/transfer", headers=h, json={"to_group_id": desk.world.skill_group})
    assert again.status_code == 409 and again.json()["error"]["code"] == "transfer.not_active"


def test_an_agent_cannot_end_a_colleagues_conversation(client: TestClient, desk: Desk) -> None:
    resp = client.post(f"/api/v1/conversations/{desk.east1_conv}/end", headers=desk.headers("agent_east"))
    assert resp.status_code == 404
    assert client.get(f"/api/v1/conversations/{desk.east1_conv}", headers=desk.headers("sup_east1")).json()[
        "status"
    ] == ("active")


def test_an_agent_transfers_across_teams_to_a_group_he_does_not_serve(
    client: TestClient, desk: Desk, database: Database
) -> None:
    """Pre-sales in 华东 hands a customer to after-sales in 华南: every group of the tenant is a target, his
    own listed first; from then on the conversation is 华南's."""
    world = desk.world
    with database.session() as db:
        ca = admin_caller(db, world.users["admin_a"])
        south_group = do_create_skill_group(db, ca, SkillGroupCreate(name="华南售后", team_id=world.south)).id
        do_set_skill_group_agent(db, ca, south_group, world.users["agent_south"].id, SkillGroupAgentSet())
    base = f"/api/v1/conversations/{desk.east_conv}"
    targets = client.get(f"{base}/transfer-targets", headers=desk.headers("agent_east"))
    assert targets.status_code == 200, targets.text
    groups = targets.json()["groups"]
    assert [(g["name"], g["own"], g["team_name"]) for g in groups] == [
        ("华东售前", True, "华东"),
        ("华南售后", False, "华南"),
    ]
    assert world.users["agent_south"].id in {a["user_id"] for a in targets.json()["agents"]}
    # Outsiders of the conversation learn nothing, targets included.
    assert client.get(f"{base}/transfer-targets", headers=desk.headers("agent_south")).status_code == 404
    moved = client.post(
        f"{base}/transfer", headers=desk.headers("agent_east"), json={"to_group_id": south_group, "note": "售后问题"}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "queued" and moved.json()["skill_group_id"] == south_group
    assert client.get(base, headers=desk.headers("sup_south")).status_code == 200
    assert client.get(base, headers=desk.headers("agent_east")).status_code == 404
