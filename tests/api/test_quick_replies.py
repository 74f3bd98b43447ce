"""Quick replies (快捷回复): personal ones are their owner's; team ones are seen by the members of the team and
of the teams below it, and kept by the team's supervisors (or those above) and the administrators."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kefu.db.session import Database
from kefu.models.event import Event
from tests.factories import World, make_world

QR = "/api/v1/quick-replies"


@pytest.fixture
def world(database: Database) -> World:
    return make_world(database)


def create(client: TestClient, world: World, who: str, **body: Any) -> Any:
    return client.post(
        QR, json={"title": "问候", "body": "您好，请问有什么可以帮您？", **body}, headers=world.headers(who)
    )


def titles(client: TestClient, world: World, who: str, **params: Any) -> set[str]:
    resp = client.get(QR, headers=world.headers(who), params=params)
    assert resp.status_code == 200, resp.text
    return {r["title"] for r in resp.json()["items"]}


def test_a_personal_reply_is_its_owners_alone(client: TestClient, world: World) -> None:
    resp = client.post(
        QR, json={"title": "稍等", "body": "好的，请稍等。", "scope": "personal"}, headers=world.headers("agent_east")
    )
    assert resp.status_code == 201, resp.text
    reply = resp.json()
    assert reply["scope"] == "personal" and reply["owner_id"] == world.users["agent_east"].id
    assert reply["team_id"] is None and reply["can_edit"] is True
    # The workspace sends {title, body, scope} only: personal is also the default.
    assert create(client, world, "agent_east", title="默认", scope=None).status_code == 422
    assert (
        client.post(QR, json={"title": "默认", "body": "x"}, headers=world.headers("agent_east")).json()["scope"]
        == "personal"
    )

    assert titles(client, world, "agent_east") == {"稍等", "默认"}
    for who in ("agent_east1", "sup_east", "sup_hq", "admin_a", "admin_b"):
        assert titles(client, world, who) == set(), who
        assert client.get(f"{QR}/{reply['id']}", headers=world.headers(who)).status_code == 404
        assert client.delete(f"{QR}/{reply['id']}", headers=world.headers(who)).status_code == 404
    resp = client.patch(
        f"{QR}/{reply['id']}", json={"body": "好的，请您稍等片刻。"}, headers=world.headers("agent_east")
    )
    assert resp.status_code == 200 and resp.json()["body"] == "好的，请您稍等片刻。" and resp.json()["title"] == "稍等"
    assert client.delete(f"{QR}/{reply['id']}", headers=world.headers("agent_east")).status_code == 204
    assert titles(client, world, "agent_east") == {"默认"}


def test_team_replies_flow_down_the_tree(client: TestClient, world: World) -> None:
    east = create(client, world, "sup_east", title="华东话术", scope="team", team_id=world.east)
    assert east.status_code == 201, east.text
    assert east.json()["team_id"] == world.east and east.json()["owner_id"] is None
    hq = create(client, world, "admin_a", title="总部话术", scope="team", team_id=world.hq)
    assert hq.status_code == 201, hq.text
    # Without team_id: the supervisor's own team.
    south = create(client, world, "sup_south", title="华南话术", scope="team")
    assert south.status_code == 201 and south.json()["team_id"] == world.south

    assert titles(client, world, "agent_east") == {"华东话术", "总部话术"}
    assert titles(client, world, "agent_east1") == {"华东话术", "总部话术"}  # a team below 华东
    assert titles(client, world, "sup_east1") == {"华东话术", "总部话术"}
    assert titles(client, world, "agent_south") == {"华南话术", "总部话术"}
    assert titles(client, world, "qa_south") == {"华南话术", "总部话术"}
    assert titles(client, world, "sup_hq") == {"华东话术", "华南话术", "总部话术"}  # he keeps them all
    assert titles(client, world, "admin_a") == {"华东话术", "华南话术", "总部话术"}
    assert titles(client, world, "admin_b") == set()
    assert titles(client, world, "agent_east", scope="personal") == set()
    assert titles(client, world, "agent_east", q="华东") == {"华东话术"}

    listed = {r["title"]: r for r in client.get(QR, headers=world.headers("agent_east")).json()["items"]}
    assert listed["华东话术"]["can_edit"] is False
    by_sup = {r["title"]: r for r in client.get(QR, headers=world.headers("sup_east")).json()["items"]}
    assert by_sup["华东话术"]["can_edit"] is True and by_sup["总部话术"]["can_edit"] is False


def test_who_may_keep_team_replies(client: TestClient, world: World) -> None:
    # Agents and inspectors: personal replies only.
    assert create(client, world, "agent_east", scope="team", team_id=world.east).status_code == 403
    assert create(client, world, "qa_south", scope="team", team_id=world.south).status_code == 403
    # A supervisor only inside his subtree; another tenant's team does not exist.
    assert create(client, world, "sup_south", scope="team", team_id=world.east).status_code == 404
    assert create(client, world, "sup_east1", scope="team", team_id=world.east).status_code == 404
    assert create(client, world, "admin_b", scope="team", team_id=world.east).status_code == 404
    assert create(client, world, "sup_hq", scope="team", team_id=world.east1).status_code == 201
    # An administrator in no team must say which team.
    resp = create(client, world, "admin_a", scope="team")
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "quick_reply.team_required"

    reply = create(client, world, "sup_east", title="华东话术", scope="team", team_id=world.east).json()
    rid = reply["id"]
    for who, status in (
        ("agent_east", 403),
        ("agent_east1", 403),
        ("sup_east1", 403),
        ("sup_south", 404),
        ("admin_b", 404),
    ):
        assert client.patch(f"{QR}/{rid}", json={"title": "x"}, headers=world.headers(who)).status_code == status, who
        assert client.delete(f"{QR}/{rid}", headers=world.headers(who)).status_code == status, who
    resp = client.patch(f"{QR}/{rid}", json={"title": "华东欢迎语"}, headers=world.headers("sup_hq"))
    assert resp.status_code == 200 and resp.json()["title"] == "华东欢迎语"
    assert client.delete(f"{QR}/{rid}", headers=world.headers("admin_a")).status_code == 204
    assert client.get(f"{QR}/{rid}", headers=world.headers("sup_east")).status_code == 404


def test_bad_input_is_refused(client: TestClient, world: World) -> None:
    assert create(client, world, "agent_east", title="").status_code == 422
    assert create(client, world, "agent_east", body="   ").status_code == 422
    assert create(client, world, "agent_east", body="x" * 2001).status_code == 422
    assert create(client, world, "agent_east", title="t" * 51).status_code == 422
    assert create(client, world, "agent_east", scope="everyone").status_code == 422
    assert create(client, world, "agent_east", title="a\nb").status_code == 422
    assert create(client, world, "agent_east", body="第一行\n第二行").status_code == 201


def test_changes_are_events(client: TestClient, world: World, database: Database) -> None:
    reply = create(client, world, "sup_east", scope="team", team_id=world.east).json()
    client.patch(f"{QR}/{reply['id']}", json={"body": "新的内容"}, headers=world.headers("sup_east"))
    client.delete(f"{QR}/{reply['id']}", headers=world.headers("sup_east"))
    mine = create(client, world, "agent_east").json()
    with database.session() as db:
        events = list(db.scalars(select(Event).where(Event.type.like("quick_reply.%")).order_by(Event.id)))
    assert [e.type for e in events] == [
        "quick_reply.created",
        "quick_reply.updated",
        "quick_reply.deleted",
        "quick_reply.created",
    ]
    assert all(e.team_id == world.east and e.user_id is None for e in events[:3])
    assert events[1].payload["changed"] == ["body"]
    assert events[3].user_id == world.users["agent_east"].id and events[3].team_id is None
    assert events[3].payload["quick_reply_id"] == mine["id"]
