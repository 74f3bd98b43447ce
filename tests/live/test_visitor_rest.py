"""The visitor's REST fallback end to end: a visitor without a socket opens a session, writes (stored by the
same writer as the socket: ack after commit, idempotent), is routed to an agent who hears him live on his
socket, fetches the reply with ``after_seq``, ends and rates — and cannot reach anyone else's data."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kefu.actions.channels import do_update_channel
from kefu.db.session import Database
from kefu.models.conversation import Conversation, ConversationStatus, Message
from kefu.models.staff import User
from tests.factories import admin_caller
from tests.live.ws import Shop, receive_until

API = "/api/v1/visitor"


def open_session(client: TestClient, shop: Shop, **extra: Any) -> dict[str, Any]:
    resp = client.post(f"{API}/session", json={"widget_key": shop.widget_key, **extra})
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def post(client: TestClient, token: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(f"{API}/{path}", headers={"X-Visitor-Token": token}, json=body)


def send(client: TestClient, token: str, body: str, cmid: str | None = None) -> dict[str, Any]:
    resp = post(client, token, "messages", {"client_msg_id": cmid or str(uuid.uuid4()), "body": body})
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_a_visitor_without_a_socket_converses_with_an_agent(client: TestClient, shop: Shop, database: Database) -> None:
    with client.websocket_connect("/ws/agent", headers={"Authorization": f"Bearer {shop.tokens['a1']}"}) as agent:
        agent.send_json({"type": "hello"})
        assert receive_until(agent, "welcome")["status"] == "online"
        session = open_session(client, shop)
        token = session["visitor_token"]
        assert session["conversation"] is None and session["messages"] == [] and session["visitor_id"]

        first_id = str(uuid.uuid4())
        ack = send(client, token, "你好，我的订单还没发货", first_id)
        assert ack["type"] == "ack" and ack["seq"] == 1 and ack["duplicate"] is False
        assert ack["client_msg_id"] == first_id
        cid = ack["conversation_id"]
        # The channel has no bot: the conversation was queued as on the socket, and routing assigns it.
        assigned = receive_until(agent, "assigned")
        assert assigned["conversation_id"] == cid and assigned["by"] == "routing"

        # Written over REST, heard live on the agent's socket (the same committed event).
        second = send(client, token, "订单号 2026111100123")
        # (The first message may reach him too: its event can be delivered after he was assigned.)
        live = receive_until(agent, "message", where={"conversation_id": cid})
        if live["message"]["seq"] == 1:
            live = receive_until(agent, "message", where={"conversation_id": cid})
        assert live["message"]["body"] == "订单号 2026111100123" and live["message"]["seq"] == second["seq"] == 2
        assert live["message"]["sender"] == "visitor"

        reply = str(uuid.uuid4())
        agent.send_json({"type": "send", "conversation_id": cid, "client_msg_id": reply, "body": "您好，已为您查询"})
        assert receive_until(agent, "ack", where={"client_msg_id": reply})["seq"] == 3

        fetched = client.get(f"{API}/messages", headers={"X-Visitor-Token": token}, params={"after_seq": 2})
        assert fetched.status_code == 200, fetched.text
        data = fetched.json()
        assert data["conversation"]["id"] == cid and data["conversation"]["status"] == "active"
        assert data["conversation"]["agent_name"] == "a1" and data["has_more"] is False
        assert [(m["seq"], m["sender"], m["body"]) for m in data["messages"]] == [(3, "agent", "您好，已为您查询")]

        # A resend (the answer was lost) is answered with the stored message, not stored twice.
        again = send(client, token, "你好，我的订单还没发货", first_id)
        assert again["duplicate"] is True and again["seq"] == 1 and again["message_id"] == ack["message_id"]

        ended = post(client, token, "end")
        assert ended.status_code == 200, ended.text
        assert ended.json()["status"] == "ended" and ended.json()["ratable"] is True
        assert receive_until(agent, "conversation", where={"conversation_id": cid, "status": "ended"})

        rated = post(client, token, "rate", {"rating": 5, "comment": "很满意"})
        assert rated.status_code == 200, rated.text
        assert rated.json() == {"type": "rated", "conversation_id": cid, "rating": 5}
        twice = post(client, token, "rate", {"rating": 4})
        assert twice.status_code == 409 and twice.json()["error"]["code"] == "rating.already"

    with database.session() as db:
        conv = db.get_one(Conversation, cid)
        assert conv.status is ConversationStatus.ended and conv.ended_by == "visitor" and conv.rating == 5
        assert db.scalar(select(func.count()).select_from(Message).where(Message.conversation_id == cid)) == 3


def test_a_returning_visitor_resumes_with_his_token(client: TestClient, shop: Shop) -> None:
    first = open_session(client, shop)
    ack = send(client, first["visitor_token"], "在吗")
    back = open_session(client, shop, visitor_token=first["visitor_token"])
    assert back["visitor_id"] == first["visitor_id"]
    assert back["conversation"]["id"] == ack["conversation_id"] and back["conversation"]["status"] == "queued"
    assert [m["body"] for m in back["messages"]] == ["在吗"]
    # Both tokens work: the old one is still valid, the new one names the same visitor.
    later = client.get(f"{API}/messages", headers={"X-Visitor-Token": back["visitor_token"]})
    assert later.json()["conversation"]["id"] == ack["conversation_id"]


def test_human_end_and_rate_without_a_conversation(client: TestClient, shop: Shop, database: Database) -> None:
    token = open_session(client, shop)["visitor_token"]
    none = post(client, token, "end")
    assert none.status_code == 409 and none.json()["error"]["code"] == "conversation.none"
    assert post(client, token, "rate", {"rating": 5}).json()["error"]["code"] == "conversation.none"
    human = post(client, token, "human", {})
    assert human.status_code == 200, human.text
    assert human.json()["status"] == "queued" and human.json()["skill_group_id"] == shop.rr_group
    unknown = post(client, open_session(client, shop)["visitor_token"], "human", {"skill_group_id": 999999})
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "skill_group.unknown"
    ended = post(client, token, "end")
    assert ended.json()["status"] == "ended" and ended.json()["ratable"] is False
    not_ratable = post(client, token, "rate", {"rating": 5})
    assert not_ratable.status_code == 409 and not_ratable.json()["error"]["code"] == "rating.not_ratable"
    out_of_range = post(client, token, "rate", {"rating": 9})
    assert out_of_range.status_code == 422 and out_of_range.json()["error"]["code"] == "rating.range"


def test_tokens_are_checked_on_every_request(client: TestClient, shop: Shop, database: Database) -> None:
    for headers in ({}, {"X-Visitor-Token": "forged"}):
        for method, path, body in (
            ("POST", "messages", {"client_msg_id": "x", "body": "hi"}),
            ("GET", "messages", None),
            ("POST", "human", None),
            ("POST", "end", None),
            ("POST", "rate", {"rating": 5}),
        ):
            resp = client.request(method, f"{API}/{path}", headers=headers, json=body)
            assert resp.status_code == 401, (method, path, resp.text)
            assert resp.json()["error"]["code"] == "visitor.bad_token"
    token = open_session(client, shop)["visitor_token"]
    with database.session() as db:
        do_update_channel(db, admin_caller(db, db.get_one(User, shop.admin_id)), shop.channel_id, enabled=False)
    resp = post(client, token, "messages", {"client_msg_id": "x", "body": "hi"})
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "channel.disabled"
    bad_key = client.post(f"{API}/session", json={"widget_key": "nope"})
    assert bad_key.status_code == 404 and bad_key.json()["error"]["code"] == "channel.unknown_widget_key"


def test_a_visitor_cannot_read_another_visitors_conversation(client: TestClient, shop: Shop) -> None:
    alice = open_session(client, shop)["visitor_token"]
    bob = open_session(client, shop)["visitor_token"]
    cid = send(client, alice, "alice 的秘密")["conversation_id"]
    peek = client.get(f"{API}/messages", headers={"X-Visitor-Token": bob}, params={"conversation_id": cid})
    assert peek.status_code == 200 and peek.json() == {"conversation": None, "messages": [], "has_more": False}
    resumed = open_session(client, shop, visitor_token=bob, conversation_id=cid)
    assert resumed["conversation"] is None and resumed["messages"] == []
    assert post(client, bob, "rate", {"rating": 5, "conversation_id": cid}).json()["error"]["code"] == (
        "conversation.none"
    )


def test_bad_input_gets_the_usual_error_shape(client: TestClient, shop: Shop) -> None:
    token = open_session(client, shop)["visitor_token"]
    for body in (
        {"client_msg_id": "", "body": "x"},
        {"client_msg_id": "   ", "body": "x"},
        {"client_msg_id": "x" * 65, "body": "x"},
        {"client_msg_id": "a", "body": "x" * 5001},
        {"client_msg_id": "a", "body": "x", "kind": "video"},
        {"body": "x"},
    ):
        resp = post(client, token, "messages", body)
        assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid", body
    empty = post(client, token, "messages", {"client_msg_id": "a", "body": "  "})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "message.empty"
    image = post(client, token, "messages", {"client_msg_id": "b", "kind": "image", "attachment_token": "x.y"})
    assert image.status_code == 422 and image.json()["error"]["code"] == "attachment.bad_token"
    customer = client.post(f"{API}/session", json={"widget_key": shop.widget_key, "customer": {"id": "c1"}})
    assert customer.status_code == 422
