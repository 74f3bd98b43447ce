"""Live-chat benchmark: many visitors and agents on real WebSockets against a real ``kefu serve``.

Runs, in one go:

1. a bare WebSocket relay (Starlette on uvicorn, the same server stack, started as a subprocess of this
   script) that forwards each visitor frame to a paired agent socket and echoes it back as the "ack" —
   no logic, no storage: the lower bound of what the stack and this client can do;
2. ``kefu serve`` (subprocess) on a freshly seeded tenant: each visitor keeps a window of un-acked
   ``send`` frames; the figure is messages delivered to the agents' sockets per second (send → commit →
   ack → event → agent);
3. both servers stay up and their saturation rounds alternate — relay, kefu, relay, kefu … (``--rounds``
   each) — so that whatever else the machine does at the time weighs on both alike; the figures are the
   medians (on a 2-CPU box one relay phase and one kefu phase minutes apart gave ratios from 0.17 to 0.35);
4. a paced phase on kefu at a fixed offered load (``--rate`` messages/s over up to 500 conversations):
   visitor→agent latency, matched by ``client_msg_id``.

Prints one JSON object on stdout (progress on stderr). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import machine  # bench/ is on sys.path when a benchmark runs as a script

ROOT = Path(__file__).resolve().parent.parent


def log(*parts: Any) -> None:
    print("[chat]", *parts, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))
    return values[k]


# --- the relay server (peer) ----------------------------------------------------------------------------


def run_relay_server(port: int) -> None:
    """A WebSocket relay with nothing in it: /a/{n} is agent n, /v/{n} visitor n; each visitor frame goes
    to agent n as is and back to the visitor (the "ack")."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    agents: dict[str, WebSocket] = {}

    async def agent(ws: WebSocket) -> None:
        await ws.accept()
        key = ws.path_params["n"]
        agents[key] = ws
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                await ws.receive_text()
        agents.pop(key, None)

    async def visitor(ws: WebSocket) -> None:
        await ws.accept()
        peer = agents[ws.path_params["n"]]
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                text = await ws.receive_text()
                await peer.send_text(text)
                await ws.send_text(text)

    async def health(ws: WebSocket) -> None:  # pragma: no cover - unused
        await ws.close()

    app = Starlette(routes=[WebSocketRoute("/a/{n}", agent), WebSocketRoute("/v/{n}", visitor)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, ws_max_size=1 << 20)


# --- subprocesses ---------------------------------------------------------------------------------------


def start(cmd: list[str], env: dict[str, str], cwd: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=sys.stderr)


def wait_tcp(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise SystemExit("server did not start")


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:
            if resp.status == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- seeding kefu ---------------------------------------------------------------------------------------


def seed(database_url: str, conversations: int) -> dict[str, Any]:
    """A tenant with agents (API tokens) in one round-robin group, the web channel's default group."""
    from sqlalchemy import select

    from kefu.access.scope import caller_for
    from kefu.actions.api_tokens import do_create_api_token
    from kefu.actions.channels import do_update_channel
    from kefu.actions.skill_groups import do_create_skill_group, do_set_skill_group_agent
    from kefu.actions.teams import do_create_team
    from kefu.actions.tenants import do_create_tenant
    from kefu.actions.users import do_create_user
    from kefu.db.engine import make_engine
    from kefu.db.migrate import upgrade
    from kefu.db.session import Database
    from kefu.events.bus import MemoryBus
    from kefu.models.channel import Channel
    from kefu.models.skill_group import DistributionMode
    from kefu.models.staff import Role
    from kefu.schemas.auth import ApiTokenCreate
    from kefu.schemas.skill_group import SkillGroupAgentSet, SkillGroupCreate
    from kefu.schemas.team import TeamCreate
    from kefu.schemas.user import UserCreate

    n_agents = max(2, math.ceil(conversations / 25))
    capacity = min(100, math.ceil(conversations / n_agents) + 5)
    engine = make_engine(database_url)
    upgrade(engine)
    database = Database(engine, MemoryBus())
    slug = f"bench-{secrets.token_hex(4)}"
    password = "bench-password-42"
    try:
        with database.session() as db:
            created = do_create_tenant(db, slug=slug, name=slug, admin_username="admin", admin_password=password)
            admin = caller_for(db, created.admin)
            team = do_create_team(db, admin, TeamCreate(name="客服部")).id
            group = do_create_skill_group(
                db, admin, SkillGroupCreate(name="售前", team_id=team, mode=DistributionMode.round_robin)
            ).id
            tokens = []
            for i in range(n_agents):
                user = do_create_user(
                    db,
                    admin,
                    UserCreate(
                        username=f"agent{i}",
                        display_name=f"agent{i}",
                        role=Role.agent,
                        password=password,
                        max_concurrent=capacity,
                        team_ids=[team],
                    ),
                )
                do_set_skill_group_agent(db, admin, group, user.id, SkillGroupAgentSet())
                tokens.append(do_create_api_token(db, admin, ApiTokenCreate(name=f"t{i}", user_id=user.id))[1])
            channel = db.scalars(select(Channel).where(Channel.tenant_id == created.tenant.id)).one()
            do_update_channel(db, admin, channel.id, default_skill_group_id=group)
            widget_key = channel.widget_key
    finally:
        database.dispose()
    return {"widget_key": widget_key, "tokens": tokens, "capacity": capacity}


# --- the clients ----------------------------------------------------------------------------------------


class Stats:
    def __init__(self) -> None:
        self.sent: dict[str, float] = {}
        self.acked: dict[str, float] = {}
        self.errors: dict[str, str] = {}
        self.received: dict[str, float] = {}  # first delivery to an agent
        self.dup = 0
        self.assigned = 0
        self.assigned_event = asyncio.Event()
        self.need_assigned = 0

    def got(self, cmid: str, now: float) -> None:
        if cmid in self.received:
            self.dup += 1
        else:
            self.received[cmid] = now


async def connect(url: str, headers: dict[str, str] | None = None) -> Any:
    from websockets.asyncio.client import connect as ws_connect

    for attempt in range(5):
        try:
            return await ws_connect(
                url, additional_headers=headers, compression=None, ping_interval=None, max_size=1 << 22, open_timeout=30
            )
        except (OSError, TimeoutError):
            if attempt == 4:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))
    raise AssertionError


class Visitor:
    def __init__(self, ws: Any, stats: Stats, window: int) -> None:
        self.ws = ws
        self.stats = stats
        self.window = asyncio.Semaphore(window)
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        loads, stats = json.loads, self.stats
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                f = loads(raw)
                t = f["type"]
                if t in ("ack", "send"):
                    stats.acked[f["client_msg_id"]] = time.monotonic()
                    self.window.release()
                elif t == "error":
                    ref = f.get("ref")
                    if isinstance(ref, str):
                        stats.errors[ref] = f.get("code", "?")
                        self.window.release()
                    else:
                        log("visitor error frame:", f)

    async def send(self, cmid: str) -> None:
        self.stats.sent[cmid] = time.monotonic()
        await self.ws.send(
            json.dumps({"type": "send", "client_msg_id": cmid, "body": "你好，我的订单还没发货", "ref": cmid})
        )


async def agent_reader(ws: Any, stats: Stats) -> None:
    loads = json.loads
    with contextlib.suppress(Exception):
        async for raw in ws:
            now = time.monotonic()
            f = loads(raw)
            t = f["type"]
            if t == "message":
                stats.got(f["message"]["client_msg_id"], now)
            elif t == "send":  # relay
                stats.got(f["client_msg_id"], now)
            elif t == "assigned":
                stats.assigned += 1
                if stats.assigned >= stats.need_assigned:
                    stats.assigned_event.set()
            elif t == "error":
                log("agent error frame:", f)


async def gather_limited(coros: list[Any], limit: int = 50) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def one(c: Any) -> Any:
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


async def closed(sockets: list[Any]) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


async def saturate(
    visitors: list[Visitor], stats: Stats, prefix: str, *, seconds: float, warm: float, drain: float
) -> tuple[float, int]:
    """Each visitor keeps its window full for warm + seconds; returns deliveries/s in the measured part and
    how many were sent."""
    t0 = time.monotonic()
    end = t0 + warm + seconds

    async def pump(i: int, v: Visitor) -> None:
        n = 0
        while True:
            await v.window.acquire()
            if time.monotonic() >= end:
                v.window.release()
                return
            await v.send(f"{prefix}{i}.{n}")
            n += 1

    await asyncio.gather(*(pump(i, v) for i, v in enumerate(visitors)))
    mine = [c for c in stats.sent if c.startswith(prefix)]
    await drain_until_quiet(stats, mine, drain)
    lo, hi = t0 + warm, t0 + warm + seconds
    delivered = sum(1 for c in mine if (t := stats.received.get(c)) is not None and lo <= t < hi)
    return delivered / seconds, len(mine)


async def drain_until_quiet(stats: Stats, mine: list[str], quiet: float) -> None:
    """Wait until every message was delivered (or refused), or nothing moved for ``quiet`` seconds."""
    last, moved = -1, time.monotonic()
    while True:
        done = sum(1 for c in mine if c in stats.received or c in stats.errors)
        if done == len(mine):
            return
        if done != last:
            last, moved = done, time.monotonic()
        elif time.monotonic() - moved > quiet:
            log(f"drain: {len(mine) - done} of {len(mine)} still undelivered after {quiet}s without progress")
            return
        await asyncio.sleep(0.1)


@dataclass
class Side:
    """One server's connected clients: its visitors keep the windows, its agents' readers count."""

    name: str
    stats: Stats
    visitors: list[Visitor]
    sockets: list[Any]  # every socket of this side, agents' included
    readers: list[asyncio.Task[None]]
    rates: list[float] = field(default_factory=list)

    async def close(self) -> None:
        await closed(self.sockets)
        for task in self.readers + [v.reader for v in self.visitors]:
            task.cancel()


async def relay_setup(port: int, n: int, args: argparse.Namespace) -> Side:
    stats = Stats()
    base = f"ws://127.0.0.1:{port}"
    agents = await gather_limited([connect(f"{base}/a/{i}") for i in range(n)])
    readers = [asyncio.create_task(agent_reader(ws, stats)) for ws in agents]
    await asyncio.sleep(0.2)
    vsocks = await gather_limited([connect(f"{base}/v/{i}") for i in range(n)])
    visitors = [Visitor(ws, stats, args.window) for ws in vsocks]
    log(f"relay: {n} pairs connected (window {args.window})")
    return Side("relay", stats, visitors, vsocks + agents, readers)


async def saturate_round(side: Side, round_no: int, args: argparse.Namespace) -> None:
    prefix = f"{side.name[0]}{round_no}."
    rate, sent = await saturate(
        side.visitors, side.stats, prefix, seconds=args.seconds, warm=args.warm, drain=args.drain
    )
    side.rates.append(rate)
    log(f"{side.name} round {round_no + 1}: {rate:.0f} msgs/s delivered to agents, {sent} sent")


async def kefu_setup(port: int, world: dict[str, Any], n: int, args: argparse.Namespace) -> Side:
    stats = Stats()
    base = f"ws://127.0.0.1:{port}"
    agent_socks = []
    for token in world["tokens"]:
        ws = await connect(f"{base}/ws/agent", {"Authorization": f"Bearer {token}"})
        await ws.send(json.dumps({"type": "hello", "status": "online"}))
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome", welcome
        agent_socks.append(ws)
    readers = [asyncio.create_task(agent_reader(ws, stats)) for ws in agent_socks]
    stats.need_assigned = n
    log(f"kefu: {len(agent_socks)} agents online (capacity {world['capacity']}); opening {n} visitors")
    t_setup = time.monotonic()

    async def open_visitor(i: int) -> Visitor:
        ws = await connect(f"{base}/ws/visitor")
        await ws.send(json.dumps({"type": "hello", "widget_key": world["widget_key"]}))
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome", welcome
        v = Visitor(ws, stats, 1)
        await v.window.acquire()
        await v.send(f"first{i}")  # starts the conversation, which is queued and routed
        await v.window.acquire()  # its ack
        v.window = asyncio.Semaphore(args.window)
        return v

    visitors = await gather_limited([open_visitor(i) for i in range(n)], 25)
    try:
        await asyncio.wait_for(stats.assigned_event.wait(), 60)
    except TimeoutError:
        log(f"kefu: only {stats.assigned} of {n} conversations were assigned within 60 s")
    log(f"kefu: {n} conversations started and assigned in {time.monotonic() - t_setup:.1f}s")
    return Side("kefu", stats, visitors, visitors_socks(visitors) + agent_socks, readers)


async def kefu_paced(side: Side, args: argparse.Namespace) -> dict[str, Any]:
    stats, visitors, n = side.stats, side.visitors, len(side.visitors)
    # Paced phase: fixed offered load, open loop (sends do not wait for acks).
    m = min(n, 500)
    paced = visitors[:m]
    for v in paced:
        v.window = asyncio.Semaphore(1 << 30)
    interval = m / args.rate
    t0 = time.monotonic() + 0.2
    end = t0 + args.warm + args.paced_seconds

    async def pace(i: int, v: Visitor) -> None:
        nxt = t0 + interval * i / m
        k = 0
        while nxt < end:
            delay = nxt - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await v.send(f"p{i}.{k}")
            k += 1
            nxt += interval

    log(f"kefu: paced {args.rate}/s over {m} conversations for {args.warm + args.paced_seconds:.0f}s")
    await asyncio.gather(*(pace(i, v) for i, v in enumerate(paced)))
    offered_end = time.monotonic()
    mine = [c for c in stats.sent if c.startswith("p")]
    await drain_until_quiet(stats, mine, args.drain)
    measured = [c for c in mine if stats.sent[c] >= t0 + args.warm]
    lat = [(stats.received[c] - stats.sent[c]) * 1000 for c in measured if c in stats.received]
    ack_lat = [(stats.acked[c] - stats.sent[c]) * 1000 for c in measured if c in stats.acked]
    achieved = len([c for c in measured if c in stats.received]) / max(1e-9, offered_end - (t0 + args.warm))

    counted = [c for c in stats.sent if not c.startswith("first")]
    never_acked = sum(1 for c in counted if c not in stats.acked)
    acked_not_delivered = sum(1 for c in counted if c in stats.acked and c not in stats.received)
    errors: dict[str, int] = defaultdict(int)
    for code in stats.errors.values():
        errors[code] += 1
    p50, p99 = percentile(lat, 0.5), percentile(lat, 0.99)
    log(
        f"kefu: latency p50 {p50} ms p99 {p99} ms; never acked {never_acked}, acked not delivered {acked_not_delivered}"
    )
    return {
        "p50_ms": None if p50 is None else round(p50, 2),
        "p99_ms": None if p99 is None else round(p99, 2),
        "ack_p50_ms": None if not ack_lat else round(percentile(ack_lat, 0.5) or 0, 2),
        "paced_delivered_per_s": round(achieved, 1),
        "lost": never_acked + acked_not_delivered,
        "never_acked": never_acked,
        "acked_not_delivered": acked_not_delivered,
        "duplicated": stats.dup,
        "errors": dict(errors),
        "messages": len(counted),
        "agents": len(side.sockets) - n,
    }


async def run_all(
    relay_port: int, kefu_port: int, world: dict[str, Any], n: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Both servers are up; their saturation rounds alternate (relay, kefu, relay, kefu, …) so that a change
    in what else the machine is doing hits both alike; then the paced phase on kefu."""
    relay = await relay_setup(relay_port, n, args)
    kefu = await kefu_setup(kefu_port, world, n, args)
    for round_no in range(args.rounds):
        await saturate_round(relay, round_no, args)
        await saturate_round(kefu, round_no, args)
    paced = await kefu_paced(kefu, args)
    relay_lost = sum(1 for c in relay.stats.sent if c not in relay.stats.received)
    await relay.close()
    await kefu.close()
    return {"relay": relay, "kefu": kefu, "paced": paced, "relay_lost": relay_lost}


def visitors_socks(visitors: list[Visitor]) -> list[Any]:
    return [v.ws for v in visitors]


# --- main -----------------------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conversations", type=int, default=500)
    p.add_argument("--seconds", type=float, default=5.0, help="measured seconds of each saturation round")
    p.add_argument("--paced-seconds", type=float, default=10.0, help="measured seconds of the paced phase")
    p.add_argument("--rounds", type=int, default=3, help="saturation rounds per server, alternating (median)")
    p.add_argument("--warm", type=float, default=2.0, help="warm-up seconds before each measured part")
    p.add_argument("--rate", type=float, default=1000.0, help="offered load of the latency phase (msgs/s)")
    p.add_argument("--window", type=int, default=4, help="un-acked messages each visitor keeps in flight")
    p.add_argument(
        "--drain", type=float, default=10.0, help="stop waiting for deliveries after this long without progress"
    )
    p.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    p.add_argument("--redis-url", default="", help="default: the in-process event bus")
    p.add_argument("--quick", action="store_true", help="smoke run: 20 conversations, 2 s, 100 msgs/s")
    p.add_argument("--relay-server", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.relay_server:
        run_relay_server(args.relay_server)
        return
    if args.quick:
        args.conversations, args.seconds, args.warm, args.rate, args.rounds = 20, 2.0, 0.5, 100.0, 1
        args.paced_seconds = 2.0
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()

    tmp = tempfile.mkdtemp(prefix="kefu-bench-")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        db_url = args.database_url or f"sqlite:///{tmp}/kefu.db"
        backend = "sqlite" if db_url.startswith("sqlite") else db_url.split(":", 1)[0].split("+")[0]
        backend += "+redis" if args.redis_url else "+memory-bus"
        n = args.conversations

        relay_port = free_port()
        relay = start([sys.executable, __file__, "--relay-server", str(relay_port)], dict(os.environ), tmp)
        procs.append(relay)
        wait_tcp(relay_port, relay)

        log(f"seeding {backend} ...")
        world = seed(db_url, n)
        port = free_port()
        env = dict(os.environ)
        env.update(
            KEFU_VAR_DIR=tmp,
            KEFU_DATABASE_URL=db_url,
            KEFU_REDIS_URL=args.redis_url,
            KEFU_BUS_NAMESPACE=f"bench-{secrets.token_hex(4)}",
            KEFU_SECRET_KEY=secrets.token_urlsafe(32),
            KEFU_LOG_LEVEL="WARNING",
        )
        server = start([sys.executable, "-m", "kefu.cli", "serve", "--port", str(port)], env, tmp)
        procs.append(server)
        wait_http(f"http://127.0.0.1:{port}/healthz", server)
        result = asyncio.run(run_all(relay_port, port, world, n, args))
    finally:
        for proc in procs:
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)

    relay_side, kefu_side, kefu_res = result["relay"], result["kefu"], result["paced"]
    ratios = [k / r for k, r in zip(kefu_side.rates, relay_side.rates, strict=True) if r]
    out = {
        "conversations": n,
        "kefu_msgs_per_s": round(statistics.median(kefu_side.rates), 1),
        "relay_msgs_per_s": round(statistics.median(relay_side.rates), 1),
        "ratio": round(statistics.median(ratios), 4) if ratios else None,
        "p50_ms": kefu_res["p50_ms"],
        "p99_ms": kefu_res["p99_ms"],
        "lost": kefu_res["lost"],
        "duplicated": kefu_res["duplicated"],
        "backend": backend,
        "machine": machine(),
        "detail": {
            "seconds": args.seconds,
            "rounds_per_server": args.rounds,
            "paced_seconds": args.paced_seconds,
            "window": args.window,
            "agents": kefu_res["agents"],
            "offered_rate": args.rate,
            "paced_delivered_per_s": kefu_res["paced_delivered_per_s"],
            "ack_p50_ms": kefu_res["ack_p50_ms"],
            "never_acked": kefu_res["never_acked"],
            "acked_not_delivered": kefu_res["acked_not_delivered"],
            "errors": kefu_res["errors"],
            "kefu_messages": kefu_res["messages"],
            "relay_lost": result["relay_lost"],
            "relay_duplicated": relay_side.stats.dup,
            "rounds": [
                {
                    "relay_msgs_per_s": round(r, 1),
                    "kefu_msgs_per_s": round(k, 1),
                    "ratio": round(k / r, 4) if r else None,
                }
                for r, k in zip(relay_side.rates, kefu_side.rates, strict=True)
            ],
        },
    }
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
