"""No loss under a crash: a real ``kefu`` server is killed with SIGKILL while a visitor and an agent write to
several conversations at once, then restarted on the same database.

Asserted afterwards: every message acknowledged to its sender is stored exactly once; the seqs of each
conversation are 1..n; each reconnecting client gets exactly what it missed (what it saw before the crash
plus what it gets after = everything stored, no seq twice); a resend of an unacknowledged message with the
same ``client_msg_id`` is stored once (``duplicate: true`` when it had been committed before the crash).

The helpers here (``Client``, ``start_server``, ``make_shop``) are shared with ``test_scale_out.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from kefu.actions.channels import do_update_channel
from kefu.actions.skill_groups import do_create_skill_group, do_set_skill_group_agent
from kefu.actions.teams import do_create_team
from kefu.actions.users import do_create_user
from kefu.db.session import Database
from kefu.models.channel import Channel
from kefu.models.conversation import Message
from kefu.models.skill_group import DistributionMode
from kefu.models.staff import Role
from kefu.schemas.skill_group import SkillGroupAgentSet, SkillGroupCreate
from kefu.schemas.team import TeamCreate
from kefu.schemas.user import UserCreate
from tests.conftest import BACKEND, NAMESPACE, REDIS_URL, need_redis
from tests.factories import PASSWORD, admin_caller, make_tenant, token_for
from tests.helpers_server import KefuProcess, free_port, wait_gone

#: Every wait on a frame gives up after this long.
TIMEOUT = 15.0

# --- helpers shared with test_scale_out.py ---------------------------------------------------------------


@dataclass
class Shop:
    widget_key: str
    rr_group: int
    grab_group: int
    tokens: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)


def make_shop(database: Database, agents: dict[str, tuple[str | None, int]]) -> Shop:
    """A tenant with a round-robin group (the web channel's default) and a broadcast-grab group; ``agents``
    maps a name to (``"rr"``, ``"grab"`` or None for no group, capacity)."""
    with database.session() as db:
        _, admin = make_tenant(db, "shop")
        ca = admin_caller(db, admin)
        team = do_create_team(db, ca, TeamCreate(name="客服部")).id
        rr = do_create_skill_group(db, ca, SkillGroupCreate(name="售前", team_id=team)).id
        grab = do_create_skill_group(
            db, ca, SkillGroupCreate(name="售后", team_id=team, mode=DistributionMode.broadcast_grab)
        ).id
        shop = Shop("", rr, grab)
        for name, (group, capacity) in agents.items():
            user = do_create_user(
                db,
                ca,
                UserCreate(
                    username=name,
                    display_name=name,
                    role=Role.agent,
                    password=PASSWORD,
                    max_concurrent=capacity,
                    team_ids=[team],
                ),
            )
            if group is not None:
                do_set_skill_group_agent(db, ca, rr if group == "rr" else grab, user.id, SkillGroupAgentSet())
            shop.tokens[name] = token_for(db, ca, user)
            shop.user_ids[name] = user.id
        channel = db.scalars(select(Channel).where(Channel.tenant_id == admin.tenant_id)).one()
        do_update_channel(db, ca, channel.id, default_skill_group_id=rr)
        assert channel.widget_key is not None
        shop.widget_key = channel.widget_key
        return shop


def server_env(database_url: str, tmp_path: Path, namespace: str, **extra: str) -> dict[str, str]:
    env = {
        "KEFU_DATABASE_URL": database_url,
        "KEFU_REDIS_URL": REDIS_URL if BACKEND == "postgres" else "",
        "KEFU_BUS_NAMESPACE": namespace,
        "KEFU_SECRET_KEY": "live-test-secret",
        "KEFU_VAR_DIR": str(tmp_path / "var"),
        "KEFU_LOG_JSON": "false",
    }
    return env | extra


def start_server(env: dict[str, str], cwd: Path, port: int | None = None) -> KefuProcess:
    return start_servers(env, [cwd], [port])[0]


def start_servers(env: dict[str, str], cwds: list[Path], ports: list[int | None] | None = None) -> list[KefuProcess]:
    """``kefu serve`` in each folder (its log goes there), started together; returns once all are healthy."""
    procs: list[KefuProcess] = []
    try:
        for cwd, port in zip(cwds, ports or [None] * len(cwds), strict=True):
            cwd.mkdir(parents=True, exist_ok=True)
            procs.append(KefuProcess(["serve"], env, cwd, port or free_port()))
        for proc in procs:
            health = proc.wait_healthy(30)
            want = "postgresql" if BACKEND == "postgres" else "sqlite"
            assert health["database"] == {"ok": True, "backend": want}, health
            if BACKEND == "postgres":
                assert health["bus"]["backend"] == "redis" and health["bus"]["ok"], health  # type: ignore[index]
    except BaseException:
        for proc in procs:
            proc.stop()
        raise
    return procs


class Client:
    """A WebSocket client that keeps every frame it receives (in a list, read by a background task), so
    that a test waits on a condition over them with a timeout instead of consuming them one by one."""

    def __init__(self, ws: ClientConnection, name: str) -> None:
        self.ws = ws
        self.name = name
        self.frames: list[dict[str, Any]] = []
        self.closed = False
        self._cond = asyncio.Condition()
        self._refs = itertools.count(1)
        #: Called with each frame as it arrives (bookkeeping of the crash test).
        self.on_frame: Callable[[dict[str, Any]], None] | None = None
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str, name: str, headers: dict[str, str] | None = None) -> Client:
        ws = await connect(url, additional_headers=headers, open_timeout=TIMEOUT, max_size=None)
        return cls(ws, name)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                self.frames.append(frame)
                if self.on_frame is not None:
                    self.on_frame(frame)
                async with self._cond:
                    self._cond.notify_all()
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            async with self._cond:
                self._cond.notify_all()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
        """Until ``condition()`` holds (checked after each frame); fails when the socket closed first."""
        try:
            async with asyncio.timeout(timeout), self._cond:
                while not condition():
                    if self.closed:
                        raise ConnectionClosedBefore(f"{self.name}: socket closed while waiting for {what}")
                    await self._cond.wait()
        except TimeoutError:
            raise AssertionError(f"{self.name}: no {what} within {timeout}s; last frames: {self.frames[-5:]}") from None

    async def wait_for(
        self, kind: str, where: dict[str, Any] | None = None, *, start: int = 0, timeout: float = TIMEOUT
    ) -> dict[str, Any]:
        """The first frame (from index ``start``) of type ``kind`` whose fields match ``where``."""
        found: list[dict[str, Any]] = []
        scanned = start

        def match() -> bool:
            nonlocal scanned
            while scanned < len(self.frames):
                frame = self.frames[scanned]
                scanned += 1
                if frame.get("type") == kind and all(frame.get(k) == v for k, v in (where or {}).items()):
                    found.append(frame)
                    return True
            return False

        await self.wait_until(match, f"{kind} {where or ''}", timeout)
        return found[0]

    async def request(self, frame: dict[str, Any], timeout: float = TIMEOUT) -> dict[str, Any]:
        """Send ``frame`` with a fresh ``ref``; its reply or error frame."""
        ref = frame.get("ref") or f"{self.name}-{next(self._refs)}"
        await self.send(frame | {"ref": ref})
        found: list[dict[str, Any]] = []

        def answered() -> bool:
            found.extend(f for f in self.frames if f.get("ref") == ref)
            return bool(found)

        await self.wait_until(answered, f"reply to {frame['type']} ({ref})", timeout)
        return found[0]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader


class ConnectionClosedBefore(AssertionError):
    pass


async def visitor(port: int, shop: Shop, name: str, **hello: Any) -> tuple[Client, dict[str, Any]]:
    client = await Client.open(f"ws://127.0.0.1:{port}/ws/visitor", name)
    await client.send({"type": "hello", "widget_key": shop.widget_key, **hello})
    welcome = await client.wait_for("welcome")
    return client, welcome


async def agent(port: int, shop: Shop, name: str, **hello: Any) -> tuple[Client, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {shop.tokens[name]}"}
    client = await Client.open(f"ws://127.0.0.1:{port}/ws/agent", name, headers)
    await client.send({"type": "hello", **hello})
    welcome = await client.wait_for("welcome")
    return client, welcome


def ok(reply: dict[str, Any], kind: str) -> dict[str, Any]:
    assert reply["type"] == kind, reply
    return reply


# --- the crash test ----------------------------------------------------------------------------------------

#: Conversations written to at once, each by its visitor and by the agent.
CONVERSATIONS = 3
#: Sends a sender may have waiting for their ack.
WINDOW = 8
#: Messages sent on the "blind" socket (acks never read).
BLIND = 5
#: Acks received (all senders) before the server is killed.
KILL_AFTER_ACKS = 240


@dataclass
class Sent:
    side: str  # "visitor" or "agent"
    conversation_id: int
    body: str
    #: Sent on a socket whose frames are never read: its ack is "lost", as if cut off by the crash.
    blind: bool = False


@dataclass
class Ledger:
    """What the clients sent, had acknowledged, and saw, up to the crash."""

    sent: dict[str, Sent] = field(default_factory=dict)
    acks: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: Messages each client saw, by (client name, conversation id) and seq.
    seen: dict[tuple[str, int], dict[int, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    enough: asyncio.Event = field(default_factory=asyncio.Event)

    def watch(self, client: Client, default_cid: int | None = None) -> None:
        def on_frame(frame: dict[str, Any]) -> None:
            if frame["type"] == "ack":
                self.acks[frame["client_msg_id"]] = frame
                # the sending socket gets its own message in the ack, not in a ``message`` frame
                self.see(client.name, frame["conversation_id"], [frame["message"]])
                if len(self.acks) >= KILL_AFTER_ACKS:
                    self.enough.set()
            elif frame["type"] == "error":
                self.errors.append(frame)
            elif frame["type"] == "message":
                self.see(client.name, frame["conversation_id"], [frame["message"]])
            elif frame["type"] in ("welcome", "messages") and frame.get("messages"):
                cid = frame.get("conversation_id") or (frame.get("conversation") or {}).get("id") or default_cid
                assert cid is not None
                self.see(client.name, cid, frame["messages"])

        client.on_frame = on_frame

    def see(self, who: str, cid: int, messages: list[dict[str, Any]]) -> None:
        for m in messages:
            self.seen[(who, cid)][m["seq"]] = m

    def outstanding(self, side: str, cid: int) -> int:
        return sum(
            1
            for k, s in self.sent.items()
            if s.side == side and s.conversation_id == cid and not s.blind and k not in self.acks
        )


def contiguous(seqs: Iterable[int]) -> int:
    """The highest n with 1..n all present."""
    have = set(seqs)
    n = 0
    while n + 1 in have:
        n += 1
    return n


def stored_messages(database: Database) -> dict[int, list[Message]]:
    with database.session() as db:
        rows = db.scalars(select(Message).order_by(Message.conversation_id, Message.seq)).all()
    out: dict[int, list[Message]] = defaultdict(list)
    for m in rows:
        out[m.conversation_id].append(m)
    return out


def same(seen: dict[str, Any], stored: Message) -> bool:
    return (seen["id"], seen["seq"], seen["body"], seen["client_msg_id"]) == (
        stored.id,
        stored.seq,
        stored.body,
        stored.client_msg_id,
    )


async def writer(client: Client, ledger: Ledger, side: str, cid: int) -> None:
    """Send continuously (up to WINDOW unacknowledged) until the socket dies."""
    for i in itertools.count():
        cmid = f"{side[0]}{cid}-{i}-{uuid.uuid4().hex[:8]}"
        frame: dict[str, Any] = {"type": "send", "client_msg_id": cmid, "body": f"{side} {cid} #{i}", "ref": cmid}
        if side == "agent":
            frame["conversation_id"] = cid
        ledger.sent[cmid] = Sent(side, cid, frame["body"])
        try:
            await client.send(frame)
            await client.wait_until(lambda: ledger.outstanding(side, cid) < WINDOW, "room in the send window")
        except (ConnectionClosed, ConnectionClosedBefore):
            return


def test_no_acknowledged_message_is_lost_or_doubled_when_the_server_is_killed(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    if BACKEND == "postgres":
        need_redis()
    shop = make_shop(database, {"a1": ("rr", 10)})
    # Its own bus namespace: the killed process's routing lease must not hold up other tests' routing.
    env = server_env(database_url, tmp_path, f"{NAMESPACE}-crash-{uuid.uuid4().hex[:6]}")
    servers = [start_server(env, tmp_path / "run1")]
    try:
        asyncio.run(crash_and_recover(database, shop, env, tmp_path, servers))
    finally:
        for server in servers:
            server.stop()


async def crash_and_recover(
    database: Database, shop: Shop, env: dict[str, str], tmp_path: Path, servers: list[KefuProcess]
) -> None:
    ledger = Ledger()
    server = servers[0]
    port = server.port
    clients: list[Client] = []
    try:
        # --- before: one agent, CONVERSATIONS visitors, each conversation routed to the agent -------------
        a1, welcome = await agent(port, shop, "a1")
        clients.append(a1)
        assert welcome["status"] == "online" and welcome["conversations"] == []
        visitors: dict[int, Client] = {}
        tokens: dict[int, str] = {}
        for n in range(CONVERSATIONS):
            v, vw = await visitor(port, shop, f"v{n}")
            clients.append(v)
            first = ok(await v.request({"type": "send", "client_msg_id": f"first-{n}", "body": f"你好 {n}"}), "ack")
            cid = first["conversation_id"]
            visitors[cid], tokens[cid] = v, vw["visitor_token"]
            v.name = f"v{cid}"
            ledger.watch(v, cid)
            ledger.see(
                v.name, cid, [{"id": first["message_id"], "seq": 1, "body": f"你好 {n}", "client_msg_id": f"first-{n}"}]
            )
        for cid in visitors:
            await a1.wait_for("assigned", {"conversation_id": cid})
        ledger.watch(a1)
        for cid in visitors:
            got = ok(await a1.request({"type": "sync", "conversation_id": cid, "after_seq": 0}), "messages")
            assert [m["seq"] for m in got["messages"]] == [1]

        # A second socket of the first visitor sends a few messages whose acks are never read: committed
        # before the crash but never acknowledged to the sender (their resend must be a duplicate).
        cid0 = next(iter(visitors))
        blind = await connect(f"ws://127.0.0.1:{port}/ws/visitor", open_timeout=TIMEOUT)
        hello = {"type": "hello", "widget_key": shop.widget_key, "visitor_token": tokens[cid0], "conversation_id": cid0}
        await blind.send(json.dumps(hello))
        for i in range(BLIND):
            cmid = f"blind-{i}-{uuid.uuid4().hex[:8]}"
            ledger.sent[cmid] = Sent("visitor", cid0, f"blind #{i}", blind=True)
            await blind.send(json.dumps({"type": "send", "client_msg_id": cmid, "body": f"blind #{i}"}))
        blind_ids = {k for k, s in ledger.sent.items() if s.blind}
        v0 = visitors[cid0]
        await v0.wait_until(
            lambda: blind_ids <= {m["client_msg_id"] for m in ledger.seen[(v0.name, cid0)].values()},
            "the blind messages",
        )
        blind.transport.abort()  # its acks are lost with the connection

        # --- under load: both sides of every conversation send continuously; SIGKILL mid-stream --------
        writers = [asyncio.create_task(writer(v, ledger, "visitor", cid)) for cid, v in visitors.items()]
        writers += [asyncio.create_task(writer(a1, ledger, "agent", cid)) for cid in visitors]
        try:
            async with asyncio.timeout(TIMEOUT):
                await ledger.enough.wait()
        except TimeoutError:
            raise AssertionError(f"only {len(ledger.acks)} acks; errors {ledger.errors[:3]}") from None
        writer_processes = server.children()
        assert writer_processes, "the server runs no message writer process (KEFU_MESSAGE_WRITER=process)"
        os.kill(server.proc.pid, signal.SIGKILL)
        await asyncio.to_thread(server.proc.wait, TIMEOUT)
        # The server's message writer process finishes the batch it was committing, finds its pipe closed
        # and exits: what it committed then is committed but was never acknowledged (the senders resend
        # it). Only once it is gone is what survived final.
        await asyncio.to_thread(wait_gone, writer_processes, TIMEOUT)
        async with asyncio.timeout(TIMEOUT):
            await asyncio.gather(*writers)
        for c in clients:
            await c.close()
        clients.clear()
        assert not [e for e in ledger.errors if e["code"] != "storage.unavailable"], ledger.errors

        acked = {k: a for k, a in ledger.acks.items() if k in ledger.sent}
        unacked = {k: s for k, s in ledger.sent.items() if k not in ledger.acks}
        assert acked and unacked, (len(acked), len(unacked))

        # --- what survived the crash -----------------------------------------------------------------
        stored = stored_messages(database)
        assert set(stored) == set(visitors)
        by_cmid = {m.client_msg_id: m for msgs in stored.values() for m in msgs}
        for cid, msgs in stored.items():
            assert [m.seq for m in msgs] == list(range(1, len(msgs) + 1)), f"seq gap or duplicate in {cid}"
        with database.session() as db:
            counts = dict(db.execute(select(Message.client_msg_id, func.count()).group_by(Message.client_msg_id)).all())
        for cmid, ack in acked.items():
            assert counts.get(cmid) == 1, f"acknowledged {cmid} stored {counts.get(cmid, 0)} times"
            m = by_cmid[cmid]
            assert (m.id, m.seq, m.conversation_id, m.body) == (
                ack["message_id"],
                ack["seq"],
                ack["conversation_id"],
                ledger.sent[cmid].body,
            )
        assert all(n == 1 for n in counts.values())
        # Nothing was shown to a client that is not stored, and each client saw a prefix 1..k.
        for (who, cid), seen in ledger.seen.items():
            ghosts = sorted(seq for seq in seen if seq > len(stored[cid]))
            assert not ghosts, (
                f"{who} was shown messages of conversation {cid} that are not stored: seqs {ghosts} "
                f"(stored up to {len(stored[cid])}): {[seen[s] for s in ghosts]}; acked among them: "
                f"{[seen[s]['client_msg_id'] in acked for s in ghosts]}"
            )
            assert all(same(m, stored[cid][seq - 1]) for seq, m in seen.items()), who
            assert sorted(seen) == list(range(1, len(seen) + 1)), f"{who} saw a gap before the crash: {sorted(seen)}"
        committed_unacked = {k for k in unacked if k in by_cmid}
        assert blind_ids <= committed_unacked

        # --- restart on the same database and port; the clients resume ------------------------------
        servers.append(start_server(env, tmp_path / "run2", port))
        a1, welcome = await agent(port, shop, "a1")
        clients.append(a1)
        assert sorted(c["id"] for c in welcome["conversations"]) == sorted(visitors)
        after: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
        for cid in visitors:
            last = contiguous(ledger.seen[("a1", cid)])
            got = ok(await a1.request({"type": "sync", "conversation_id": cid, "after_seq": last}), "messages")
            assert got["has_more"] is False
            after[("a1", cid)] += got["messages"]
        for cid in visitors:
            last = contiguous(ledger.seen[(f"v{cid}", cid)])
            v, vw = await visitor(port, shop, f"v{cid}", visitor_token=tokens[cid], conversation_id=cid, after_seq=last)
            clients.append(v)
            visitors[cid] = v
            assert vw["conversation"]["id"] == cid and vw["conversation"]["status"] == "active"
            assert vw["has_more"] is False
            after[(v.name, cid)] += vw["messages"]
        for (who, cid), got_after in after.items():
            before = ledger.seen[(who, cid)]
            seqs = [m["seq"] for m in got_after]
            assert seqs == list(range(len(before) + 1, len(stored[cid]) + 1)), (who, cid, len(before), seqs)
            assert all(same(m, stored[cid][m["seq"] - 1]) for m in got_after)

        # --- resend what was not acknowledged, with the same client_msg_id -----------------------------
        resent_from = len(a1.frames), {cid: len(v.frames) for cid, v in visitors.items()}

        async def resend(cmid: str, s: Sent) -> tuple[str, dict[str, Any]]:
            frame: dict[str, Any] = {"type": "send", "client_msg_id": cmid, "body": s.body, "ref": cmid}
            if s.side == "agent":
                return cmid, await a1.request(frame | {"conversation_id": s.conversation_id})
            return cmid, await visitors[s.conversation_id].request(frame)

        replies = dict(await asyncio.gather(*(resend(k, s) for k, s in unacked.items())))
        for cmid, reply in replies.items():
            ok(reply, "ack")
            assert reply["conversation_id"] == unacked[cmid].conversation_id
            assert reply["duplicate"] is (cmid in committed_unacked), (cmid, reply)
            if cmid in committed_unacked:
                assert (reply["message_id"], reply["seq"]) == (by_cmid[cmid].id, by_cmid[cmid].seq)

        final = stored_messages(database)
        with database.session() as db:
            counts = dict(db.execute(select(Message.client_msg_id, func.count()).group_by(Message.client_msg_id)).all())
        for cmid in ledger.sent:
            assert counts.get(cmid) == 1, f"{cmid} stored {counts.get(cmid, 0)} times"
        assert sum(len(m) for m in final.values()) == CONVERSATIONS + len(ledger.sent)
        for cid, msgs in final.items():
            assert [m.seq for m in msgs] == list(range(1, len(msgs) + 1)), f"seq gap or duplicate in {cid}"
            assert [m.id for m in msgs[: len(stored[cid])]] == [m.id for m in stored[cid]]
        # The resends that were stored now reach both sides, once each: the other side in a ``message``
        # frame, the sending socket in its (not duplicate) ``ack``.
        for who, client, start in [("a1", a1, resent_from[0])] + [
            (v.name, v, resent_from[1][cid]) for cid, v in visitors.items()
        ]:
            for cid in visitors if who == "a1" else [int(who[1:])]:
                new = [m.seq for m in final[cid][len(stored[cid]) :]]

                def pushed(c: Client = client, s: int = start, conv: int = cid) -> list[int]:
                    return [
                        f["message"]["seq"]
                        for f in c.frames[s:]
                        if f.get("conversation_id") == conv
                        and (f["type"] == "message" or (f["type"] == "ack" and not f["duplicate"]))
                    ]

                def all_pushed(p: Callable[[], list[int]] = pushed, n: list[int] = new) -> bool:
                    return sorted(p()) == n

                await client.wait_until(all_pushed, f"the resent messages of {cid}")
                assert sorted(pushed()) == new
        print(  # shown with -s: how much the crash cut
            f"[{BACKEND}] sent {len(ledger.sent)}, acked {len(acked)}, unacked {len(unacked)} "
            f"of which committed before the crash {len(committed_unacked)}"
        )
    finally:
        for c in clients:
            await c.close()
