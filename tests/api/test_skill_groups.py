from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kefu.db.session import Database
from kefu.models import Channel, ChannelKind, Conversation, ConversationStatus, Event, SkillGroup, Visitor
from tests.factories import World, make_world

WORKDAYS = {"tz": "Asia/Shanghai", "weekly": {d: [["09:00", "21:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}}
DOUBLE_11 = {"exceptions": {"2026-11-11": [["00:00", "24:00"]]}}


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


# --- overflow, working hours, off-hours message ------------------------------------------------------------


def new_group(client: TestClient, world: World, name: str, who: str = "sup_east", **fields: Any) -> dict[str, Any]:
    resp = client.post(
        "/api/v1/skill-groups", json={"name": name, "team_id": world.east, **fields}, headers=world.headers(who)
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def patch(client: TestClient, world: World, gid: int, body: dict[str, Any], lang: str = "zh") -> Any:
    headers = {**world.headers("sup_east"), "Accept-Language": lang}
    return client.patch(f"/api/v1/skill-groups/{gid}", json=body, headers=headers)


def stored(database: Database, gid: int) -> SkillGroup:
    with database.session() as db:
        group = db.get(SkillGroup, gid)
        assert group is not None
        return group


def updated_events(database: Database, gid: int) -> list[dict[str, Any]]:
    with database.session() as db:
        rows = db.scalars(select(Event).where(Event.type == "skill_group.updated").order_by(Event.id))
        return [e.payload["changed"] for e in rows if e.payload["skill_group_id"] == gid]


def test_overflow_and_working_hours_are_set_shown_and_announced(
    client: TestClient, world: World, database: Database
) -> None:
    backup = new_group(client, world, "后备组")
    group = new_group(
        client,
        world,
        "售后",
        overflow_group_id=backup["id"],
        overflow_after_s=120,
        working_hours=WORKDAYS,
        off_hours_message="  下班了，请留言  ",
    )
    assert (group["overflow_group_id"], group["overflow_after_s"], group["overflow_queue_len"]) == (
        backup["id"],
        120,
        None,
    )
    # Stored normalised: every weekday listed, the closed ones empty.
    assert group["working_hours"]["weekly"]["mon"] == [["09:00", "21:00"]]
    assert group["working_hours"]["weekly"]["sat"] == [] and group["working_hours"]["tz"] == "Asia/Shanghai"
    assert group["off_hours_message"] == "下班了，请留言"
    assert client.get(f"/api/v1/skill-groups/{group['id']}", headers=world.headers("sup_east")).json() == group

    # 双11: open all day; only what changed is announced.
    resp = patch(client, world, group["id"], {"working_hours": {**WORKDAYS, **DOUBLE_11}, "overflow_queue_len": 0})
    assert resp.status_code == 200, resp.text
    assert resp.json()["working_hours"]["exceptions"] == {"2026-11-11": [["00:00", "24:00"]]}
    changed = updated_events(database, group["id"])
    assert len(changed) == 1 and set(changed[0]) == {"working_hours", "overflow_queue_len"}
    assert changed[0]["overflow_queue_len"] == 0
    # Sending the same values again changes nothing and announces nothing.
    assert patch(client, world, group["id"], {"overflow_queue_len": 0, "name": "售后"}).status_code == 200
    assert len(updated_events(database, group["id"])) == 1

    # null clears: always open, no overflow target (the thresholds stay).
    cleared = patch(client, world, group["id"], {"working_hours": None, "overflow_group_id": None}).json()
    assert cleared["working_hours"] is None and cleared["overflow_group_id"] is None
    assert cleared["overflow_after_s"] == 120
    assert updated_events(database, group["id"])[-1] == {"working_hours": None, "overflow_group_id": None}


def test_overflow_into_itself_is_refused(client: TestClient, world: World) -> None:
    group = new_group(client, world, "甲")
    resp = patch(client, world, group["id"], {"overflow_group_id": group["id"], "overflow_after_s": 60})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "skill_group.overflow_self"
    assert "自身" in resp.json()["error"]["message"]


def test_an_overflow_cycle_is_refused(client: TestClient, world: World, database: Database) -> None:
    a = new_group(client, world, "甲")
    b = new_group(client, world, "乙", overflow_group_id=a["id"], overflow_after_s=60)
    resp = patch(client, world, a["id"], {"overflow_group_id": b["id"], "overflow_after_s": 60}, lang="en")
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "skill_group.overflow_cycle"
    assert "cycle" in resp.json()["error"]["message"] and "乙" in resp.json()["error"]["message"]
    # Longer ones too: 丙 → 乙 → 甲, so 甲 → 丙 would loop.
    c = new_group(client, world, "丙", overflow_group_id=b["id"], overflow_queue_len=5)
    resp = patch(client, world, a["id"], {"overflow_group_id": c["id"], "overflow_queue_len": 3})
    assert resp.status_code == 422 and "循环" in resp.json()["error"]["message"]
    after = stored(database, a["id"])
    assert (after.overflow_group_id, after.overflow_after_s, after.overflow_queue_len) == (None, None, None)


def test_an_overflow_group_without_a_threshold_is_refused(client: TestClient, world: World, database: Database) -> None:
    a = new_group(client, world, "甲")
    h = world.headers("sup_east")
    resp = client.post(
        "/api/v1/skill-groups", json={"name": "乙", "team_id": world.east, "overflow_group_id": a["id"]}, headers=h
    )
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "skill_group.overflow_without_threshold"
    assert "overflow_after_s" in resp.json()["error"]["message"]
    # Removing the last threshold of a live rule is refused too, and nothing else of the request is written.
    b = new_group(client, world, "乙", overflow_group_id=a["id"], overflow_after_s=30)
    resp = patch(client, world, b["id"], {"name": "改名", "overflow_after_s": None})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "skill_group.overflow_without_threshold"
    after = stored(database, b["id"])
    assert (after.name, after.overflow_after_s) == ("乙", 30)


def test_negative_thresholds_are_refused(client: TestClient, world: World) -> None:
    a = new_group(client, world, "甲")
    for field in ("overflow_after_s", "overflow_queue_len"):
        resp = patch(client, world, a["id"], {field: -1})
        assert resp.status_code == 422 and resp.json()["error"]["fields"][0]["field"] == field


def test_overflow_target_must_be_in_the_tenant_and_visible(client: TestClient, world: World) -> None:
    a = new_group(client, world, "甲")
    south = client.post(
        "/api/v1/skill-groups", json={"name": "华南组", "team_id": world.south}, headers=world.headers("admin_a")
    ).json()
    other_tenant = client.post(
        "/api/v1/skill-groups",
        json={"name": "B组", "team_id": world.east},  # a team of tenant A: refused for admin_b
        headers=world.headers("admin_b"),
    )
    assert other_tenant.status_code == 404
    for target in (south["id"], 999_999):
        resp = patch(client, world, a["id"], {"overflow_group_id": target, "overflow_after_s": 10})
        assert resp.status_code == 422 and resp.json()["error"]["code"] == "skill_group.overflow_group_not_found"
        assert str(target) in resp.json()["error"]["message"]
    # The administrator sees both teams and may send 华东's overflow to 华南.
    resp = client.patch(
        f"/api/v1/skill-groups/{a['id']}",
        json={"overflow_group_id": south["id"], "overflow_after_s": 10},
        headers=world.headers("admin_a"),
    )
    assert resp.status_code == 200 and resp.json()["overflow_group_id"] == south["id"]


def test_a_group_of_another_tenant_is_not_an_overflow_target(client: TestClient, world: World) -> None:
    hb = world.headers("admin_b")
    team_b = client.post("/api/v1/teams", json={"name": "B 团队"}, headers=hb).json()["id"]
    group_b = client.post("/api/v1/skill-groups", json={"name": "B 组", "team_id": team_b}, headers=hb).json()["id"]
    a = new_group(client, world, "甲")
    resp = client.patch(
        f"/api/v1/skill-groups/{a['id']}",
        json={"overflow_group_id": group_b, "overflow_after_s": 10},
        headers=world.headers("admin_a"),
    )
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "skill_group.overflow_group_not_found"


@pytest.mark.parametrize(
    ("hours", "zh", "en"),
    [
        ({"weekly": {"mon": [["18:00", "09:00"]]}}, "结束时间早于开始时间", "ends before it starts"),
        ({"weekly": {"monday": [["09:00", "18:00"]]}}, "未知的星期", "unknown weekday"),
        ({"tz": "Mars/Olympus"}, "未知时区", "unknown time zone"),
        ({"exceptions": {"2026-13-01": []}}, "日期", "invalid date"),
        ({"weekly": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "重叠", "overlap"),
    ],
)
def test_bad_working_hours_are_refused_in_both_languages(
    client: TestClient, world: World, database: Database, hours: dict[str, Any], zh: str, en: str
) -> None:
    a = new_group(client, world, "甲", working_hours=WORKDAYS)
    for lang, text in (("zh", zh), ("en", en)):
        resp = patch(client, world, a["id"], {"working_hours": hours, "off_hours_message": "改了"}, lang=lang)
        assert resp.status_code == 422 and resp.json()["error"]["code"] == "skill_group.working_hours_invalid"
        assert text in resp.json()["error"]["message"], resp.json()
    after = stored(database, a["id"])
    assert after.working_hours is not None and after.working_hours["weekly"]["mon"] == [["09:00", "21:00"]]
    assert after.off_hours_message == ""
    resp = client.post(
        "/api/v1/skill-groups",
        json={"name": "乙", "team_id": world.east, "working_hours": hours},
        headers=world.headers("sup_east"),
    )
    assert resp.status_code == 422


def test_the_off_hours_message_is_at_most_500_characters(client: TestClient, world: World) -> None:
    a = new_group(client, world, "甲")
    resp = patch(client, world, a["id"], {"off_hours_message": "请" * 501})
    assert resp.status_code == 422 and resp.json()["error"]["fields"][0]["field"] == "off_hours_message"
    assert patch(client, world, a["id"], {"off_hours_message": "请" * 500}).status_code == 200


def test_deleting_an_overflow_target_clears_it_in_the_groups_that_overflow_into_it(
    client: TestClient, world: World, database: Database
) -> None:
    target = new_group(client, world, "后备组")
    source = new_group(client, world, "售后", overflow_group_id=target["id"], overflow_after_s=60)
    assert client.delete(f"/api/v1/skill-groups/{target['id']}", headers=world.headers("sup_east")).status_code == 204
    after = client.get(f"/api/v1/skill-groups/{source['id']}", headers=world.headers("sup_east")).json()
    assert after["overflow_group_id"] is None and after["overflow_after_s"] == 60
    assert updated_events(database, source["id"]) == [{"overflow_group_id": None}]
