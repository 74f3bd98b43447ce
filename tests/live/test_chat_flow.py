"""Live chat end to end over real WebSockets (the ASGI app in-process): a visitor writes, the conversation is
routed to an agent, they converse, a reconnecting client gets exactly what it missed, a grab has one winner."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.testclient import WebSocketTestSession

from kefu.actions.teams import do_create_team
from kefu.config import Settings
from kefu.db.session import Database
from kefu.models.conversation import Conversation, ConversationStatus
from kefu.models.event import Event
from kefu.models.staff import Role
from kefu.schemas.team import TeamCreate
from tests.factories import admin_caller, make_tenant, make_user, token_for
from tests.live.ws import Shop, agent_ws, hello_visitor, receive_kinds, receive_until, send


def frames_until_ack(ws: WebSocketTestSession, client_msg_id: str) -> list[dict[str, Any]]:
    """Every frame the socket gets up to the ``ack`` of ``client_msg_id`` (the ack last)."""
    got: list[dict[str, Any]] = []
    for _ in range(200):
        got.append(ws.receive_json())
        if got[-1]["type"] == "ack" and got[-1]["client_msg_id"] == client_msg_id:
            return got
    raise AssertionError("no ack")


def frames_until_pong(ws: WebSocketTestSession) -> list[dict[str, Any]]:
    """Every frame the socket gets before the answer to a ``ping`` sent now."""
    ws.send_json({"type": "ping", "ref": "until-pong"})
    got: list[dict[str, Any]] = []
    for _ in range(200):
        frame = ws.receive_json()
        if frame["type"] == "pong":
            return got
        got.append(frame)
    raise AssertionError("no pong")


def test_the_sending_socket_gets_its_message_in_the_ack_and_the_other_tabs_get_a_message_frame(
    client: TestClient, shop: Shop
) -> None:
    with agent_ws(client, shop, "a1") as agent:
        agent.send_json({"type": "hello"})
        receive_until(agent, "welcome")
        with client.websocket_connect("/ws/visitor") as tab1:
            token = hello_visitor(tab1, shop)["visitor_token"]
            first = send(tab1, "在吗")
            cid = receive_until(agent, "assigned")["conversation_id"]
            with client.websocket_connect("/ws/visitor") as tab2:
                hello_visitor(tab2, shop, visitor_token=token, after_seq=first["seq"])
                cmid = str(uuid.uuid4())
                tab1.send_json({"type": "send", "client_msg_id": cmid, "body": "订单号 2026111100123"})
                tab1_frames = frames_until_ack(tab1, cmid)
                ack = tab1_frames[-1]
                assert ack["message"] == {
                    "id": ack["message_id"],
                    "seq": ack["seq"],
                    "sender": "visitor",
                    "sender_id": ack["message"]["sender_id"],
                    "kind": "text",
                    "body": "订单号 2026111100123",
                    "attachment": None,
                    "meta": None,
                    "client_msg_id": ack["client_msg_id"],
                    "created_at": ack["created_at"],
                }
                assert ack["message"]["sender_id"] is not None
                for other in (tab2, agent):
                    pushed = receive_until(other, "message", where={"conversation_id": cid, "message": ack["message"]})
                    assert pushed["message"]["body"] == "订单号 2026111100123"
                # The sending tab is not sent its own message a second time.
                tab1_frames += frames_until_pong(tab1)
                assert not [f for f in tab1_frames if f["type"] == "message"]
                # The same for the agent: his reply is in his ack, and the visitor's tabs get it.
                reply = str(uuid.uuid4())
                agent.send_json({"type": "send", "conversation_id": cid, "client_msg_id": reply, "body": "收到"})
                agent_frames = frames_until_ack(agent, reply)
                agent_ack = agent_frames[-1]
                assert agent_ack["message"]["body"] == "收到" and agent_ack["message"]["sender"] == "agent"
                agent_frames += frames_until_pong(agent)
                assert not [f for f in agent_frames if f["type"] == "message"]
                for tab in (tab1, tab2):
                    receive_until(tab, "message", where={"message": agent_ack["message"]})


def test_a_reconnecting_visitor_gets_exactly_what_he_missed(client: TestClient, shop: Shop) -> None:
    with agent_ws(client, shop, "a1") as agent:
        agent.send_json({"type": "hello"})
        receive_until(agent, "welcome")
        with client.websocket_connect("/ws/visitor") as visitor:
            token = hello_visitor(visitor, shop)["visitor_token"]
            ack = send(visitor, "在吗")
            cid = receive_until(agent, "assigned")["conversation_id"]
        # The visitor is gone; the agent writes three messages meanwhile.
        for i in range(3):
            cmid = str(uuid.uuid4())
            agent.send_json({"type": "send", "conversation_id": cid, "client_msg_id": cmid, "body": f"回复 {i}"})
            receive_until(agent, "ack", where={"client_msg_id": cmid})
        with client.websocket_connect("/ws/visitor") as visitor:
            back = hello_visitor(visitor, shop, visitor_token=token, after_seq=ack["seq"])
            assert back["conversation"]["id"] == cid
            assert [m["seq"] for m in back["messages"]] == [2, 3, 4]
            assert [m["body"] for m in back["messages"]] == ["回复 0", "回复 1", "回复 2"]


def test_broadcast_grab_has_exactly_one_winner(client: TestClient, shop: Shop, database: Database) -> None:
    with agent_ws(client, shop, "g1") as g1, agent_ws(client, shop, "g2") as g2:
        for ws in (g1, g2):
            ws.send_json({"type": "hello"})
            receive_until(ws, "welcome")
        with client.websocket_connect("/ws/visitor") as visitor:
            hello_visitor(visitor, shop)
            visitor.send_json({"type": "human", "skill_group_id": shop.grab_group})
            queued = receive_until(visitor, "conversation", where={"status": "queued"})
            cid = queued["conversation_id"]
            o1 = receive_until(g1, "offer", where={"conversation_id": cid})
            o2 = receive_until(g2, "offer", where={"conversation_id": cid})
            assert o1["skill_group_id"] == o2["skill_group_id"] == shop.grab_group
            results: dict[str, dict[str, Any]] = {}

            def grab(name: str, ws: WebSocketTestSession) -> None:
                ws.send_json({"type": "grab", "conversation_id": cid, "ref": name})
                for _ in range(50):
                    frame = ws.receive_json()
                    if frame.get("ref") == name:
                        results[name] = frame
                        return

            threads = [threading.Thread(target=grab, args=(n, w)) for n, w in (("g1", g1), ("g2", g2))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(10)
            kinds = sorted(r["type"] for r in results.values())
            assert kinds == ["error", "grabbed"], results
            loser = next(r for r in results.values() if r["type"] == "error")
            assert loser["code"] == "conversation.taken"
    with database.session() as db:
        conv = db.get_one(Conversation, cid)
        assert conv.status is ConversationStatus.active and conv.agent_id in (shop.user_ids["g1"], shop.user_ids["g2"])


def test_bad_frames_get_clear_errors(client: TestClient, shop: Shop) -> None:
    with client.websocket_connect("/ws/visitor") as visitor:
        hello_visitor(visitor, shop)
        visitor.send_text("not json")
        assert receive_error(visitor)["code"] == "frame.not_json"
        visitor.send_json({"type": "send", "body": "x"})
        assert receive_error(visitor)["code"] == "frame.bad_field"
        visitor.send_json({"type": "fly"})
        assert receive_error(visitor)["code"] == "frame.unknown_type"
        visitor.send_json({"type": "send", "client_msg_id": "a", "body": "   "})
        assert receive_error(visitor)["code"] == "message.empty"
    with client.websocket_connect("/ws/visitor") as visitor:
        visitor.send_json({"type": "hello", "widget_key": "nope"})
        frame = visitor.receive_json()
        assert frame["type"] == "error" and frame["code"] == "channel.unknown_widget_key"
    with pytest.raises(Exception), client.websocket_connect("/ws/agent") as ws:
        ws.receive_json()


def receive_error(ws: WebSocketTestSession) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        frame = ws.receive_json()
        if frame["type"] == "error":
            return frame
    raise AssertionError("no error frame")


def test_agent_socket_is_scoped(client: TestClient, shop: Shop, database: Database) -> None:
    """Another tenant's agent, and a colleague who does not serve it, can neither read nor act on a
    conversation; the serving agent can."""
    with database.session() as db:
        _, other_admin = make_tenant(db, "other")
        oc = admin_caller(db, other_admin)
        outsider = make_user(db, oc, "x1", Role.agent, [do_create_team(db, oc, TeamCreate(name="别家")).id])
        shop.tokens["x1"] = token_for(db, oc, outsider)
    with agent_ws(client, shop, "a1") as a1:
        a1.send_json({"type": "hello"})
        receive_until(a1, "welcome")
        with client.websocket_connect("/ws/visitor") as visitor:
            hello_visitor(visitor, shop)
            send(visitor, "你好")
            cid = receive_until(a1, "assigned")["conversation_id"]
        for name in ("x1", "a2"):
            with agent_ws(client, shop, name) as other:
                other.send_json({"type": "hello", "status": "online"})
                receive_until(other, "welcome")
                for frame in (
                    {"type": "sync", "conversation_id": cid, "after_seq": 0},
                    {"type": "send", "conversation_id": cid, "client_msg_id": str(uuid.uuid4()), "body": "x"},
                    {"type": "end", "conversation_id": cid},
                    {"type": "transfer", "conversation_id": cid, "to_group_id": shop.grab_group},
                    {"type": "grab", "conversation_id": cid},
                    {"type": "typing", "conversation_id": cid},
                ):
                    other.send_json(frame | {"ref": frame["type"]})
                    error = receive_error(other)
                    assert error["ref"] == frame["type"], error
                    assert error["code"] in ("not_found", "conversation.not_yours", "grab.not_member"), error
        a1.send_json({"type": "sync", "conversation_id": cid, "after_seq": 0, "ref": "mine"})
        assert [m["body"] for m in receive_until(a1, "messages")["messages"]] == ["你好"]
    with database.session() as db:
        conv = db.get_one(Conversation, cid)
        assert conv.status is ConversationStatus.active and conv.agent_id == shop.user_ids["a1"]


def test_an_uploaded_image_is_sent_and_its_url_downloads(client: TestClient, shop: Shop) -> None:
    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489") + b"\0" * 32
    with client.websocket_connect("/ws/visitor") as visitor:
        token = hello_visitor(visitor, shop)["visitor_token"]
        up = client.post("/api/v1/visitor/uploads", headers={"X-Visitor-Token": token}, files={"file": ("p.png", png)})
        assert up.status_code == 200, up.text
        meta = up.json()["attachment"]
        assert meta["kind"] == "image" and meta["mime"] == "image/png"
        ack = send(visitor, "", kind="image", attachment_token=up.json()["attachment_token"])
        assert ack["seq"] == 1
        visitor.send_json({"type": "sync", "after_seq": 0})
        stored = receive_until(visitor, "messages")["messages"][0]
        assert stored["kind"] == "image" and stored["attachment"]["sha256"] == meta["sha256"]
    got = client.get(meta["url"])
    assert got.status_code == 200 and got.content == png
    assert client.get(meta["url"].replace("sig=", "sig=x")).status_code == 404


def test_waiting_visitors_hear_their_place_in_the_queue(
    settings: Settings, database: Database, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kefu.live.service
    from kefu.app import create_app

    monkeypatch.setattr(kefu.live.service, "QUEUE_UPDATE_S", 0.1)
    # Nobody is online: everyone waits.
    with (
        TestClient(create_app(settings, database)) as client,
        client.websocket_connect("/ws/visitor") as first,
        client.websocket_connect("/ws/visitor") as second,
    ):
        for ws in (first, second):
            hello_visitor(ws, shop)
            ws.send_json({"type": "human"})
            receive_until(ws, "conversation", where={"status": "queued"})
        assert receive_until(first, "queue")["position"] == 1
        assert receive_until(second, "queue")["position"] == 2
        first.send_json({"type": "end"})
        receive_until(first, "conversation", where={"status": "ended"})
        assert receive_until(second, "queue", where={"position": 1})["conversation_id"]


def test_transfer_to_a_colleague_and_back_to_a_group(client: TestClient, shop: Shop, database: Database) -> None:
    with agent_ws(client, shop, "a1") as a1, agent_ws(client, shop, "g1") as g1:
        for ws in (a1, g1):
            ws.send_json({"type": "hello"})
            receive_until(ws, "welcome")
        with client.websocket_connect("/ws/visitor") as visitor:
            hello_visitor(visitor, shop)
            send(visitor, "我要退货")
            cid = receive_until(a1, "assigned")["conversation_id"]
            a1.send_json(
                {"type": "transfer", "conversation_id": cid, "to_agent_id": shop.user_ids["g1"], "note": "售后问题"}
            )
            receive_until(a1, "transferred")
            got = receive_until(g1, "assigned", where={"conversation_id": cid})
            assert got["by"] == "transfer" and got["note"] == "售后问题"
            now_g1 = receive_until(visitor, "conversation", where={"status": "active", "agent_id": shop.user_ids["g1"]})
            assert now_g1["agent_name"] == "g1"
            # g1 sends it on to the broadcast group; he is a member, so it is offered to him again.
            g1.send_json({"type": "transfer", "conversation_id": cid, "to_group_id": shop.grab_group})
            # The reply and the offer come in either order.
            got_frames = receive_kinds(g1, {"transferred", "offer"})
            assert got_frames["offer"]["conversation_id"] == cid
            assert got_frames["offer"]["skill_group_id"] == shop.grab_group
            # Transfer needs exactly one target.
            a1.send_json({"type": "transfer", "conversation_id": cid, "ref": "t"})
            assert receive_error(a1)["code"] in ("transfer.target", "not_found")
    with database.session() as db:
        conv = db.get_one(Conversation, cid)
        assert conv.status is ConversationStatus.queued and conv.skill_group_id == shop.grab_group


def test_an_agent_socket_without_credentials_is_closed_with_a_reason(client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    with client.websocket_connect("/ws/agent") as ws, pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    assert closed.value.code == 4401


def _live_client(settings: Settings, database: Database) -> TestClient:
    from kefu.app import create_app

    return TestClient(create_app(settings, database))


def test_off_hours_the_visitor_is_told_and_nothing_is_queued(
    settings: Settings, database: Database, shop: Shop
) -> None:
    from kefu.models.skill_group import SkillGroup

    with database.session() as db:
        group = db.get_one(SkillGroup, shop.rr_group)
        group.working_hours = {"tz": "Asia/Shanghai", "weekly": {}}  # no opening hours on any day
        group.off_hours_message = "您好，现在是非工作时间（9:00–21:00），请留言，我们上班后第一时间回复。"
        db.commit()
    with _live_client(settings, database) as client, client.websocket_connect("/ws/visitor") as visitor:
        hello_visitor(visitor, shop)
        visitor.send_json({"type": "send", "client_msg_id": str(uuid.uuid4()), "body": "有人吗"})
        got = receive_kinds(visitor, {"ack", "notice"})
        ack, notice = got["ack"], got["notice"]
        assert notice["code"] == "off_hours" and "非工作时间" in notice["body"]
    with database.session() as db:
        conv = db.get_one(Conversation, ack["conversation_id"])
        assert conv.status is ConversationStatus.bot and conv.queued_at is None


def test_a_full_group_overflows_to_another_keeping_the_wait(settings: Settings, database: Database, shop: Shop) -> None:
    from kefu.models.skill_group import SkillGroup

    with database.session() as db:
        group = db.get_one(SkillGroup, shop.rr_group)
        group.overflow_group_id = shop.grab_group
        group.overflow_queue_len = 0  # nobody free in 售前: straight on to 售后
        db.commit()
    with _live_client(settings, database) as client, agent_ws(client, shop, "g1") as g1:
        g1.send_json({"type": "hello"})
        receive_until(g1, "welcome")
        with client.websocket_connect("/ws/visitor") as visitor:
            hello_visitor(visitor, shop)
            ack = send(visitor, "商品有货吗")
            cid = ack["conversation_id"]
            offer = receive_until(g1, "offer", where={"conversation_id": cid})
            assert offer["skill_group_id"] == shop.grab_group
            g1.send_json({"type": "grab", "conversation_id": cid})
            receive_until(g1, "grabbed")
    with database.session() as db:
        conv = db.get_one(Conversation, cid)
        assert conv.skill_group_id == shop.grab_group and conv.agent_id == shop.user_ids["g1"]
        moved = db.scalars(select(Event).where(Event.type == "conversation.overflowed")).one()
        assert moved.payload["from_group_id"] == shop.rr_group and moved.conversation_id == cid
        queued = db.scalars(select(Event).where(Event.type == "conversation.queued")).one()
        accepted = db.scalars(select(Event).where(Event.type == "conversation.accepted")).one()
        # The wait counts from the first request, through the overflow.
        assert accepted.payload["queue_wait_s"] >= (moved.occurred_at - queued.occurred_at).total_seconds()


def test_a_silent_conversation_is_ended_by_timeout(settings: Settings, database: Database, shop: Shop) -> None:
    settings = settings.model_copy(update={"conversation_idle_timeout_s": 1.0})
    with _live_client(settings, database) as client, agent_ws(client, shop, "a1") as a1:
        a1.send_json({"type": "hello"})
        receive_until(a1, "welcome")
        with client.websocket_connect("/ws/visitor") as visitor:
            hello_visitor(visitor, shop)
            cid = send(visitor, "你好")["conversation_id"]
            ended = receive_until(visitor, "conversation", where={"status": "ended"})
            assert ended["ended_by"] == "timeout" and ended["conversation_id"] == cid
    with database.session() as db:
        conv = db.get_one(Conversation, cid)
        assert conv.ended_by == "timeout" and conv.end_reason == "inactive"
