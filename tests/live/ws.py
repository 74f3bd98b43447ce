"""What the in-process live tests share: the demo-like shop they run against and WebSocket helpers.

Frames of one socket can come in either order when they answer concurrent requests or events
(docs/protocol.md §1), so the helpers wait for a kind of frame and skip the others."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.testclient import WebSocketTestSession

from kefu.actions.channels import do_update_channel
from kefu.actions.skill_groups import do_create_skill_group, do_set_skill_group_agent
from kefu.actions.teams import do_create_team
from kefu.db.session import Database
from kefu.models.channel import Channel
from kefu.models.skill_group import DistributionMode
from kefu.models.staff import Role
from kefu.schemas.skill_group import SkillGroupAgentSet, SkillGroupCreate
from kefu.schemas.team import TeamCreate
from tests.factories import admin_caller, make_tenant, make_user, token_for


@dataclass
class Shop:
    """A tenant with one team: a1 and a2 in the round-robin group 售前 (the channel's default group), g1
    and g2 in the broadcast-grab group 售后; ``tokens`` are their API tokens."""

    tenant_id: int
    admin_id: int
    widget_key: str
    channel_id: int
    rr_group: int
    grab_group: int
    tokens: dict[str, str]
    user_ids: dict[str, int]


def make_shop(database: Database) -> Shop:
    with database.session() as db:
        tenant_id, admin = make_tenant(db, "shop")
        ca = admin_caller(db, admin)
        team = do_create_team(db, ca, TeamCreate(name="客服部")).id
        rr = do_create_skill_group(db, ca, SkillGroupCreate(name="售前", team_id=team)).id
        grab = do_create_skill_group(
            db, ca, SkillGroupCreate(name="售后", team_id=team, mode=DistributionMode.broadcast_grab)
        ).id
        tokens: dict[str, str] = {}
        ids: dict[str, int] = {}
        for name, group in (("a1", rr), ("a2", rr), ("g1", grab), ("g2", grab)):
            user = make_user(db, ca, name, Role.agent, [team])
            do_set_skill_group_agent(db, ca, group, user.id, SkillGroupAgentSet())
            tokens[name] = token_for(db, ca, user)
            ids[name] = user.id
        channel = db.scalars(select(Channel).where(Channel.tenant_id == tenant_id)).one()
        do_update_channel(db, ca, channel.id, default_skill_group_id=rr)
        assert channel.widget_key is not None
        return Shop(tenant_id, admin.id, channel.widget_key, channel.id, rr, grab, tokens, ids)


def receive_until(ws: WebSocketTestSession, kind: str, *, where: dict[str, Any] | None = None) -> dict[str, Any]:
    """Frames up to the first of ``kind`` (matching ``where``); others are skipped."""
    for _ in range(200):
        frame = ws.receive_json()
        if frame["type"] == kind and all(frame.get(k) == v for k, v in (where or {}).items()):
            return frame
        if frame["type"] == "error":
            raise AssertionError(f"error frame while waiting for {kind}: {frame}")
    raise AssertionError(f"no {kind} frame")


def receive_kinds(ws: WebSocketTestSession, kinds: set[str]) -> dict[str, dict[str, Any]]:
    """The first frame of each of ``kinds``, in whatever order they come."""
    found: dict[str, dict[str, Any]] = {}
    for _ in range(200):
        frame = ws.receive_json()
        if frame["type"] == "error":
            raise AssertionError(f"error frame while waiting for {kinds}: {frame}")
        if frame["type"] in kinds:
            found.setdefault(frame["type"], frame)
            if set(found) == kinds:
                return found
    raise AssertionError(f"missing {kinds - set(found)}")


def agent_ws(client: TestClient, shop: Shop, name: str) -> Any:
    return client.websocket_connect("/ws/agent", headers={"Authorization": f"Bearer {shop.tokens[name]}"})


def hello_visitor(ws: WebSocketTestSession, shop: Shop, **extra: Any) -> dict[str, Any]:
    ws.send_json({"type": "hello", "widget_key": shop.widget_key, **extra})
    return receive_until(ws, "welcome")


def send(ws: WebSocketTestSession, body: str, **extra: Any) -> dict[str, Any]:
    cmid = str(uuid.uuid4())
    ws.send_json({"type": "send", "client_msg_id": cmid, "body": body, **extra})
    return receive_until(ws, "ack", where={"client_msg_id": cmid})
