from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kefu.db.session import Database
from kefu.models import Channel, Event
from tests.factories import World, make_world


@pytest.fixture
def world(database: Database) -> World:
    return make_world(database)


def web_channel(client: TestClient, world: World, who: str = "admin_a") -> dict[str, Any]:
    items = client.get("/api/v1/channels", headers=world.headers(who)).json()["items"]
    assert len(items) == 1
    return items[0]


def events(database: Database, type: str) -> list[dict[str, Any]]:
    with database.session() as db:
        return [e.payload for e in db.scalars(select(Event).where(Event.type == type).order_by(Event.id))]


def test_an_administrator_lists_and_reads_his_channels(client: TestClient, world: World) -> None:
    channel = web_channel(client, world)
    assert channel["kind"] == "web" and channel["enabled"] is True and channel["widget_key"]
    assert channel["embed_snippet"] == f'<script src="/widget.js" data-key="{channel["widget_key"]}" async></script>'
    assert channel["identity_secret_set"] is False
    assert channel["config"] == {
        "title": None,
        "greeting": None,
        "colour": None,
        "position": None,
        "bot_enabled": False,
        "bot_small_talk": True,
    }
    one = client.get(f"/api/v1/channels/{channel['id']}", headers=world.headers("admin_a"))
    assert one.status_code == 200 and one.json() == channel
    # Tenant B's administrator sees only his own channel.
    assert web_channel(client, world, "admin_b")["id"] != channel["id"]


def test_channels_of_another_tenant_are_not_found(client: TestClient, world: World) -> None:
    cid = web_channel(client, world)["id"]
    hb = world.headers("admin_b")
    assert client.get(f"/api/v1/channels/{cid}", headers=hb).status_code == 404
    assert client.patch(f"/api/v1/channels/{cid}", json={"name": "x"}, headers=hb).status_code == 404
    assert client.post(f"/api/v1/channels/{cid}/identity-secret", headers=hb).status_code == 404
    assert client.get("/api/v1/channels/999999", headers=world.headers("admin_a")).status_code == 404


@pytest.mark.parametrize("who", ["sup_hq", "agent_east", "qa_south"])
def test_only_administrators_may_use_channels(client: TestClient, world: World, who: str) -> None:
    cid = web_channel(client, world)["id"]
    h = world.headers(who)
    assert client.get("/api/v1/channels", headers=h).status_code == 403
    assert client.get(f"/api/v1/channels/{cid}", headers=h).status_code == 403
    assert client.patch(f"/api/v1/channels/{cid}", json={"enabled": False}, headers=h).status_code == 403
    resp = client.post(f"/api/v1/channels/{cid}/identity-secret", headers=h)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "channel.admin_only"
    assert web_channel(client, world)["enabled"] is True


def test_an_administrator_changes_a_channel(client: TestClient, world: World, database: Database) -> None:
    cid = web_channel(client, world)["id"]
    h = world.headers("admin_a")
    body = {
        "name": "官网客服",
        "enabled": False,
        "default_skill_group_id": world.skill_group,
        "config": {
            "title": "在线客服",
            "greeting": "您好！",
            "colour": "#409EFF",
            "position": "left",
            "bot_enabled": True,
        },
    }
    resp = client.patch(f"/api/v1/channels/{cid}", json=body, headers=h)
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert (got["name"], got["enabled"], got["default_skill_group_id"]) == ("官网客服", False, world.skill_group)
    assert got["config"] == {
        "title": "在线客服",
        "greeting": "您好！",
        "colour": "#409eff",
        "position": "left",
        "bot_enabled": True,
        "bot_small_talk": True,  # on unless turned off
    }
    changed = events(database, "channel.updated")[-1]["changed"]
    assert set(changed) == {"name", "enabled", "default_skill_group_id", "config"}
    assert set(changed["config"]) == {"title", "greeting", "colour", "position", "bot_enabled"}

    # Fields left out stay; null clears the skill group and resets a widget setting.
    resp = client.patch(
        f"/api/v1/channels/{cid}", json={"default_skill_group_id": None, "config": {"title": None}}, headers=h
    )
    got = resp.json()
    assert got["default_skill_group_id"] is None and got["name"] == "官网客服"
    assert got["config"]["title"] is None and got["config"]["greeting"] == "您好！"
    assert events(database, "channel.updated")[-1]["changed"] == {
        "default_skill_group_id": None,
        "config": {"title": None},
    }
    # Nothing changed: no event.
    before = len(events(database, "channel.updated"))
    assert client.patch(f"/api/v1/channels/{cid}", json={"enabled": False}, headers=h).status_code == 200
    assert len(events(database, "channel.updated")) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"config": {"colour": "blue"}}, "config.colour"),
        ({"config": {"colour": "#12345"}}, "config.colour"),
        ({"config": {"position": "top"}}, "config.position"),
        ({"config": {"identity_secret": "mine"}}, "config.identity_secret"),
        ({"config": {"greeting": "好" * 501}}, "config.greeting"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_channel_settings_are_refused(
    client: TestClient,
    world: World,
    database: Database,
    body: dict[str, Any],
    field: str,
) -> None:
    cid = web_channel(client, world)["id"]
    resp = client.patch(f"/api/v1/channels/{cid}", json=body, headers=world.headers("admin_a"))
    assert resp.status_code == 422 and resp.json()["error"]["fields"][0]["field"] == field
    with database.session() as db:
        assert db.get(Channel, cid).config == {}  # type: ignore[union-attr]


def test_the_default_skill_group_must_be_of_the_tenant(client: TestClient, world: World) -> None:
    hb = world.headers("admin_b")
    team_b = client.post("/api/v1/teams", json={"name": "B 团队"}, headers=hb).json()["id"]
    group_b = client.post("/api/v1/skill-groups", json={"name": "B 组", "team_id": team_b}, headers=hb).json()["id"]
    cid = web_channel(client, world)["id"]
    resp = client.patch(
        f"/api/v1/channels/{cid}",
        json={"default_skill_group_id": group_b, "name": "改名"},
        headers=world.headers("admin_a"),
    )
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "channel.skill_group_not_found"
    assert web_channel(client, world)["name"] == "网页客服"


def test_the_identity_secret_is_shown_once(client: TestClient, world: World, database: Database) -> None:
    cid = web_channel(client, world)["id"]
    h = world.headers("admin_a")
    first = client.post(f"/api/v1/channels/{cid}/identity-secret", headers=h)
    assert first.status_code == 200 and first.json()["channel_id"] == cid
    secret = first.json()["identity_secret"]
    assert len(secret) >= 32
    with database.session() as db:
        assert db.get(Channel, cid).config["identity_secret"] == secret  # type: ignore[union-attr]
    shown = client.get(f"/api/v1/channels/{cid}", headers=h)
    assert shown.json()["identity_secret_set"] is True and secret not in shown.text
    assert secret not in client.get("/api/v1/channels", headers=h).text
    # Changing the widget keeps the secret, and never shows it.
    changed = client.patch(f"/api/v1/channels/{cid}", json={"config": {"bot_enabled": True}}, headers=h)
    assert secret not in changed.text and changed.json()["identity_secret_set"] is True
    second = client.post(f"/api/v1/channels/{cid}/identity-secret", headers=h).json()["identity_secret"]
    assert second != secret
    rotated = events(database, "channel.identity_secret_rotated")
    assert [e["replaced"] for e in rotated] == [False, True]
    assert secret not in json.dumps(rotated) and second not in json.dumps(rotated)


def test_small_talk_is_on_until_turned_off(client: TestClient, world: World, database: Database) -> None:
    cid = web_channel(client, world)["id"]
    h = world.headers("admin_a")
    off = client.patch(f"/api/v1/channels/{cid}", json={"config": {"bot_small_talk": False}}, headers=h)
    assert off.status_code == 200 and off.json()["config"]["bot_small_talk"] is False
    with database.session() as db:
        assert db.get_one(Channel, cid).config["bot_small_talk"] is False
    reset = client.patch(f"/api/v1/channels/{cid}", json={"config": {"bot_small_talk": None}}, headers=h)
    assert reset.json()["config"]["bot_small_talk"] is True  # null: back to the default
