"""Live chat scaled out: two ``kefu`` processes on one PostgreSQL and one Redis (the same bus namespace).

(a) a visitor on process A and an agent on process B converse both ways (the routing leader may be either);
(b) broadcast-grab races across the processes: two agents of one group, one on A and one on B, both get
    the offer and grab at the same moment — every time exactly one wins and the other is told
    ``conversation.taken``, and the database has one agent per conversation;
(c) an agent's status set through his socket on A reaches his second socket on B and the database.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from kefu.db.session import Database
from kefu.models.conversation import Conversation, ConversationStatus
from kefu.models.event import Event
from kefu.models.staff import User
from tests.conftest import BACKEND, NAMESPACE, need_redis
from tests.helpers_server import KefuProcess
from tests.live.test_crash import Client, Shop, agent, make_shop, ok, server_env, start_servers, visitor

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="runs in the PostgreSQL + Redis pass of the suite")

#: Grab races run.
TRIALS = 30


def test_two_processes_serve_one_chat(database: Database, database_url: str, tmp_path: Path) -> None:
    need_redis()
    shop = make_shop(
        database,
        {"a1": ("rr", 5), "g1": ("grab", 100), "g2": ("grab", 100), "s1": (None, 5)},
    )
    env = server_env(database_url, tmp_path, NAMESPACE)
    servers: list[KefuProcess] = []
    try:
        servers += start_servers(env, [tmp_path / "a", tmp_path / "b"])
        asyncio.run(scenario(database, shop, servers[0].port, servers[1].port))
    finally:
        for server in servers:
            server.stop()


async def scenario(database: Database, shop: Shop, a: int, b: int) -> None:
    clients: list[Client] = []

    async def track(pair: tuple[Client, dict[str, Any]]) -> tuple[Client, dict[str, Any]]:
        clients.append(pair[0])
        return pair

    try:
        await converse_across(shop, a, b, track)
        await grab_races(database, shop, a, b, track)
        await status_across(database, shop, a, b, track)
    finally:
        for c in clients:
            await c.close()


async def converse_across(shop: Shop, a: int, b: int, track: Any) -> None:
    """(a) visitor on A, agent on B."""
    a1, welcome = await track(await agent(b, shop, "a1"))
    assert welcome["status"] == "online"
    v, _ = await track(await visitor(a, shop, "visitor-on-A"))
    first = ok(await v.request({"type": "send", "client_msg_id": "v-1", "body": "你好，从 A 来"}), "ack")
    cid = first["conversation_id"]
    assigned = await a1.wait_for("assigned", {"conversation_id": cid})
    assert assigned["by"] == "routing"
    synced = ok(await a1.request({"type": "sync", "conversation_id": cid, "after_seq": 0}), "messages")
    assert [(m["seq"], m["body"]) for m in synced["messages"]] == [(1, "你好，从 A 来")]
    active = await v.wait_for("conversation", {"conversation_id": cid, "status": "active"})
    assert active["agent_id"] == shop.user_ids["a1"] and active["agent_name"] == "a1"

    reply = ok(
        await a1.request({"type": "send", "conversation_id": cid, "client_msg_id": "a-1", "body": "您好，B 这边"}),
        "ack",
    )
    assert reply["seq"] == 2
    got = await message(v, cid, 2)
    assert got["body"] == "您好，B 这边" and got["sender"] == "agent"

    start = len(a1.frames)
    ok(await v.request({"type": "send", "client_msg_id": "v-2", "body": "订单号 123"}), "ack")
    back = await message(a1, cid, 3)
    assert back["body"] == "订单号 123" and back["sender"] == "visitor"
    assert all(f["message"]["seq"] != 3 for f in a1.frames[:start] if f["type"] == "message")

    start = len(v.frames)
    await a1.send({"type": "typing", "conversation_id": cid, "on": True})
    typing = await v.wait_for("typing", start=start)
    assert typing["by"] == "agent" and typing["conversation_id"] == cid
    ok(await a1.request({"type": "end", "conversation_id": cid}), "conversation")
    ended = await v.wait_for("conversation", {"conversation_id": cid, "status": "ended"}, start=start)
    assert ended["ended_by"] == "agent"


async def message(client: Client, cid: int, seq: int) -> dict[str, Any]:
    """The message ``seq`` of conversation ``cid``, pushed to ``client``."""

    def find() -> dict[str, Any] | None:
        for f in client.frames:
            if f["type"] == "message" and f["conversation_id"] == cid and f["message"]["seq"] == seq:
                return f["message"]  # type: ignore[no-any-return]
        return None

    await client.wait_until(lambda: find() is not None, f"message {seq} of {cid}")
    found = find()
    assert found is not None
    return found


async def grab_races(database: Database, shop: Shop, a: int, b: int, track: Any) -> None:
    """(b) g1 on A and g2 on B grab every conversation of their broadcast-grab group at once."""
    g1, w1 = await track(await agent(a, shop, "g1"))
    g2, w2 = await track(await agent(b, shop, "g2"))
    assert w1["offers"] == w2["offers"] == []
    va, _ = await track(await visitor(a, shop, "grab-visitor-on-A"))
    vb, _ = await track(await visitor(b, shop, "grab-visitor-on-B"))
    names = {shop.user_ids["g1"]: "g1", shop.user_ids["g2"]: "g2"}
    winners: dict[int, str] = {}
    for trial in range(TRIALS):
        v = va if trial % 2 == 0 else vb
        marks = len(g1.frames), len(g2.frames)
        queued = ok(await v.request({"type": "human", "skill_group_id": shop.grab_group}), "conversation")
        assert queued["status"] == "queued", queued
        cid = queued["conversation_id"]
        for g, mark in zip((g1, g2), marks, strict=True):
            offer = await g.wait_for("offer", {"conversation_id": cid}, start=mark)
            assert offer["skill_group_id"] == shop.grab_group
        r1, r2 = await asyncio.gather(
            g1.request({"type": "grab", "conversation_id": cid}), g2.request({"type": "grab", "conversation_id": cid})
        )
        results = {"g1": r1, "g2": r2}
        assert sorted(r["type"] for r in results.values()) == ["error", "grabbed"], (trial, results)
        winner = next(n for n, r in results.items() if r["type"] == "grabbed")
        loser = next(n for n, r in results.items() if r["type"] == "error")
        assert results[loser]["code"] == "conversation.taken", results
        assert results[winner]["conversation"]["agent_id"] == shop.user_ids[winner]
        winners[cid] = winner
        wc, lc = (g1, g2) if winner == "g1" else (g2, g1)
        wmark, lmark = (marks[0], marks[1]) if winner == "g1" else (marks[1], marks[0])
        assigned = await wc.wait_for("assigned", {"conversation_id": cid}, start=wmark)
        assert assigned["by"] == "grab"
        withdrawn = await lc.wait_for("offer_withdrawn", {"conversation_id": cid}, start=lmark)
        assert withdrawn["reason"] == "taken"
        took = await v.wait_for("conversation", {"conversation_id": cid, "status": "active"})
        assert names[took["agent_id"]] == winner
        ok(await v.request({"type": "end"}), "conversation")
    with database.session() as db:
        rows = db.execute(
            select(Conversation.id, Conversation.agent_id, Conversation.status).where(
                Conversation.id.in_(list(winners))
            )
        ).all()
        accepted = dict(
            db.execute(
                select(Event.conversation_id, func.count())
                .where(Event.type == "conversation.accepted", Event.conversation_id.in_(list(winners)))
                .group_by(Event.conversation_id)
            ).all()
        )
    assert len(rows) == TRIALS
    for cid, agent_id, status in rows:
        assert status is ConversationStatus.ended
        assert agent_id is not None and names[agent_id] == winners[cid]
        assert accepted[cid] == 1, f"conversation {cid} accepted {accepted[cid]} times"


async def status_across(database: Database, shop: Shop, a: int, b: int, track: Any) -> None:
    """(c) one agent with a socket on each process: a status set on one is seen the same on the other."""
    on_a, wa = await track(await agent(a, shop, "s1"))
    on_b, wb = await track(await agent(b, shop, "s1"))
    assert wa["status"] == wb["status"] == "online"
    for setter, other, status in ((on_a, on_b, "busy"), (on_b, on_a, "away"), (on_a, on_b, "online")):
        mark = len(other.frames)
        reply = ok(await setter.request({"type": "status", "status": status}), "status")
        assert reply == {"type": "status", "status": status, "reason": "agent", "ref": reply["ref"]}
        pushed = await other.wait_for("status", {"status": status}, start=mark)
        assert pushed["reason"] == "agent"
        with database.session() as db:
            assert db.scalar(select(User.agent_status).where(User.id == shop.user_ids["s1"])) == status


#: Grace time before an agent whose sockets on a process are gone is set away (short for the test below).
AWAY_AFTER_S = 0.5


def test_an_agent_still_connected_to_the_other_process_is_not_set_away(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    """docs/protocol.md §2.3: "When an agent's last socket closes, he is set away after a grace time unless
    he reconnects (or is connected to another server)"."""
    need_redis()
    shop = make_shop(database, {"s1": (None, 5)})
    env = server_env(database_url, tmp_path, NAMESPACE, KEFU_AGENT_AWAY_AFTER_S=str(AWAY_AFTER_S))
    servers: list[KefuProcess] = []
    try:
        servers += start_servers(env, [tmp_path / "a", tmp_path / "b"])
        asyncio.run(close_one_of_two(database, shop, servers[0].port, servers[1].port))
    finally:
        for server in servers:
            server.stop()


async def close_one_of_two(database: Database, shop: Shop, a: int, b: int) -> None:
    on_a, _ = await agent(a, shop, "s1")
    on_b, welcome = await agent(b, shop, "s1")
    try:
        assert welcome["status"] == "online"
        mark = len(on_b.frames)
        await on_a.close()
        # Nothing to await here but the absence of a change: wait well past the grace time.
        with pytest.raises(AssertionError, match="no status"):
            await on_b.wait_for("status", start=mark, timeout=AWAY_AFTER_S + 2.5)
        with database.session() as db:
            assert db.scalar(select(User.agent_status).where(User.id == shop.user_ids["s1"])) == "online"
        # His last socket anywhere closes: now he is set away after the grace time (no socket is left to
        # be told, so the database is read until it shows it).
        await on_b.close()
        async with asyncio.timeout(AWAY_AFTER_S + 10):
            while True:
                with database.session() as db:
                    if db.scalar(select(User.agent_status).where(User.id == shop.user_ids["s1"])) == "away":
                        break
                await asyncio.sleep(0.1)
    finally:
        await on_a.close()
        await on_b.close()
