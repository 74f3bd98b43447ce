"""The simulator's driver: plays the plans of :mod:`kefu.sim.traffic` over the real WebSocket protocol.

Visitors connect to ``/ws/visitor`` with the demo channel's widget key and agents to ``/ws/agent`` with an
API token, exactly as real clients do (docs/protocol.md). Nothing here touches the server's internals: the
only shortcut is :func:`prepare`, which reads the tenant's widget key and skill groups from the database
and creates API tokens for the simulated agents (as ``kefu admin create-token`` would).

Two clocks: arrivals follow the intraday curve played ``speed`` times faster than real time; what visitors
and agents do inside a conversation (think, type, patience, breaks) is played ``chat_speed`` times faster.

On a channel with a bot (the demo's answers from the shop FAQ) a visitor talks to the bot first, picks his
question when the bot suggests it, and asks for a person per his plan; on a channel without one he picks a
skill group the way a widget's menu offers it (售前 / 售后 / 技术支持, by the topic of his question) and asks
for a person before his first message.

With a bot, a simulated administrator (:class:`SimCurator`, with an API token of the tenant's first
administrator) clears the learning queue on the simulated clock (``kefu.sim.curation``), so the bot
answers more of the visitors' wordings as the run goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TextIO

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from kefu.sim.curation import CurationStep, CuratorBehaviour, QueueItem, review
from kefu.sim.script import Script, demo_script
from kefu.sim.traffic import (
    SHANGHAI,
    AgentBehaviour,
    IntradayCurve,
    Profile,
    VisitorBehaviour,
    VisitorPlan,
    arrival_offsets,
    intraday_curve,
)

log = logging.getLogger("kefu.sim")

#: Token name of the simulated agents' API tokens (earlier ones are revoked when new ones are made).
TOKEN_NAME = "kefu-simulate"  # noqa: S105 - a name, not a secret
#: Which skill group a visitor picks in the widget's menu, by the top-level topic of his question.
GROUP_BY_TOPIC = {
    "商品": "售前",
    "订单": "售前",
    "服务": "售前",
    "物流": "售后",
    "售后": "售后",
    "投诉与建议": "售后",
    "支付": "技术支持",
    "账户": "技术支持",
}
GROUP_BY_KIND = {"chitchat": "售前", "uncovered": "售前", "complaint": "售后"}
#: Codes after which a socket is not reconnected (docs/protocol.md §3).
FATAL_CLOSE = {4401, 4403}
#: How long a reply to a request is awaited before the request is sent again.
REQUEST_TIMEOUT = 10.0


# ------------------------------------------------------------------------------------------ configuration


@dataclass
class SimConfig:
    url: str = "http://127.0.0.1:8000"
    tenant: str = "demo"
    speed: float = 60.0  # arrivals: simulated seconds per wall-clock second
    chat_speed: float | None = None  # conversations (think, type, patience, breaks); None: ``speed``
    day_volume: float = 300.0  # contacts in a whole simulated day
    profile: Profile = "normal"
    agents: int = 6
    duration: float | None = None  # wall-clock seconds; None: until cancelled
    seed: int | None = None
    start_hour: float | None = None  # local (Asia/Shanghai) hour at which the simulated day starts; None: now
    max_visitors: int = 200  # visitors connected at once; arrivals beyond are dropped (counted)
    stats_every: float = 5.0  # seconds between stats lines; 0: none
    wait_healthy: float = 0.0  # wait up to this long for /healthz before starting
    curate: bool = True  # a simulated administrator clears the learning queue (when the channel has a bot)

    @property
    def conversation_speed(self) -> float:
        return self.chat_speed if self.chat_speed is not None else self.speed

    @property
    def ws_base(self) -> str:
        base = self.url.rstrip("/")
        if base.startswith("https://"):
            return "wss://" + base[len("https://") :]
        if base.startswith("http://"):
            return "ws://" + base[len("http://") :]
        return base


@dataclass
class SimAgent:
    username: str
    user_id: int
    token: str


@dataclass
class SimSetup:
    """What the simulator needs from the database (see :func:`prepare`)."""

    widget_key: str
    has_bot: bool
    groups: dict[str, int]  # skill group name -> id
    agents: list[SimAgent]
    curator_token: str | None = None  # the administrator's API token, for clearing the learning queue


def demo_agent_order(usernames: list[str]) -> list[str]:
    """Simulated agents in the order they are taken: the second and third agents of each team first, so that
    the agents printed by ``kefu demo`` (``*_agent1``) stay free for people; then the first ones."""
    teams = ("east", "south", "north", "hq")
    order = [f"{t}_agent{i}" for i in (2, 3) for t in teams] + [f"{t}_agent1" for t in teams]
    known = set(usernames)
    return [u for u in order if u in known] + sorted(u for u in usernames if u not in set(order))


def prepare(database: Any, tenant_slug: str, agent_count: int, *, curator: bool = True) -> SimSetup:
    """Read the tenant's web channel and skill groups; create API tokens for ``agent_count`` of its agents,
    and with ``curator`` for its first administrator when the channel has a bot (revoking the simulator's
    earlier tokens of those users). ``database`` is a :class:`kefu.db.session.Database`."""
    from sqlalchemy import select

    from kefu.access.scope import caller_for
    from kefu.actions.api_tokens import do_create_api_token, do_revoke_api_token
    from kefu.models.channel import Channel, ChannelKind
    from kefu.models.skill_group import SkillGroup
    from kefu.models.staff import ApiToken, Role, User
    from kefu.models.tenant import Tenant
    from kefu.schemas.auth import ApiTokenCreate

    with database.session() as db:
        tenant = db.scalar(select(Tenant).where(Tenant.slug == tenant_slug))
        if tenant is None:
            raise LookupError(f"no tenant {tenant_slug!r}; run `kefu demo --no-serve` first")
        channel = db.scalars(
            select(Channel).where(Channel.tenant_id == tenant.id, Channel.kind == ChannelKind.web).order_by(Channel.id)
        ).first()
        if channel is None or not channel.widget_key:
            raise LookupError(f"tenant {tenant_slug!r} has no web channel")
        groups = {g.name: g.id for g in db.scalars(select(SkillGroup).where(SkillGroup.tenant_id == tenant.id))}
        admin = db.scalar(
            select(User)
            .where(User.tenant_id == tenant.id, User.role == Role.admin, User.is_active.is_(True))
            .order_by(User.id)
        )
        if admin is None:
            raise LookupError(f"tenant {tenant_slug!r} has no active administrator")
        caller = caller_for(db, admin)
        users = {
            u.username: u
            for u in db.scalars(
                select(User).where(User.tenant_id == tenant.id, User.role == Role.agent, User.is_active.is_(True))
            )
        }

        def fresh_token(user: User) -> str:
            old = db.scalars(
                select(ApiToken).where(
                    ApiToken.user_id == user.id, ApiToken.name == TOKEN_NAME, ApiToken.revoked_at.is_(None)
                )
            ).all()
            for token in old:
                do_revoke_api_token(db, caller, token.id)
            return do_create_api_token(db, caller, ApiTokenCreate(name=TOKEN_NAME, user_id=user.id))[1]

        agents = [
            SimAgent(username, users[username].id, fresh_token(users[username]))
            for username in demo_agent_order(list(users))[: max(0, agent_count)]
        ]
        has_bot = bool((channel.config or {}).get("bot_enabled"))
        return SimSetup(
            widget_key=channel.widget_key,
            has_bot=has_bot,
            groups=groups,
            agents=agents,
            curator_token=fresh_token(admin) if curator and has_bot else None,
        )


def prepare_from_settings(tenant_slug: str, agent_count: int, *, curator: bool = True) -> SimSetup:
    """:func:`prepare` on the database of the current settings (``KEFU_DATABASE_URL`` / ``KEFU_VAR_DIR``)."""
    from kefu.config import get_settings
    from kefu.db.engine import make_engine
    from kefu.db.session import Database
    from kefu.events.bus import MemoryBus

    database = Database(make_engine(get_settings().database_url), MemoryBus())
    try:
        return prepare(database, tenant_slug, agent_count, curator=curator)
    finally:
        database.dispose()


# ------------------------------------------------------------------------------------------------ stats


@dataclass
class Stats:
    arrived: int = 0
    dropped: int = 0
    connected: int = 0
    in_queue: int = 0
    chatting: int = 0
    messages_visitor: int = 0
    messages_agent: int = 0
    accepted: int = 0
    grabs: int = 0
    ended: int = 0
    abandoned: int = 0
    rated: int = 0
    suggestions_picked: int = 0
    learnt: int = 0  # learning-queue items the simulated administrator attached to an entry
    ignored: int = 0  # and ignored
    errors: int = 0
    reconnects: int = 0
    agents_online: int = 0
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        return (
            f"[kefu-sim {elapsed:6.0f}s] arrived {self.arrived} (dropped {self.dropped}) · online {self.connected}"
            f" · in queue {self.in_queue} · chatting {self.chatting} · messages {self.messages_visitor}+"
            f"{self.messages_agent} · accepted {self.accepted} (grabbed {self.grabs}) · ended {self.ended}"
            f" (abandoned {self.abandoned}) · rated {self.rated} · suggestions picked {self.suggestions_picked}"
            f" · queue learnt {self.learnt} (ignored {self.ignored})"
            f" · agents online {self.agents_online}"
            f" · errors {self.errors} · reconnects {self.reconnects}"
        )


# ------------------------------------------------------------------------------------------- the socket


class Fatal(Exception):
    """The server refused the client for good (4401/4403, or the hello failed)."""


class Link:
    """One simulated client's socket: connects, says hello, reconnects and resumes after a close, matches
    replies to requests by ``ref``, and hands every other frame to ``on_frame``. A failing handler is
    counted and logged, never fatal."""

    def __init__(
        self,
        sim: Simulator,
        name: str,
        url: str,
        hello: Callable[[], dict[str, Any]],
        on_welcome: Callable[[dict[str, Any]], Awaitable[None]],
        on_frame: Callable[[dict[str, Any]], Awaitable[None]],
        headers: dict[str, str] | None = None,
    ) -> None:
        self.sim = sim
        self.name = name
        self.url = url
        self.hello = hello
        self.on_welcome = on_welcome
        self.on_frame = on_frame
        self.headers = headers
        self.ws: ClientConnection | None = None
        self.connected = asyncio.Event()
        self.failed: BaseException | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._refs = itertools.count(1)
        self.task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self, timeout: float = 30.0) -> None:
        """Connect (first welcome handled) or raise."""
        self.task = asyncio.create_task(self._run(), name=f"sim-link-{self.name}")
        waiter = asyncio.create_task(self.connected.wait())
        done, _ = await asyncio.wait({waiter, self.task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            failure = self.task.exception() if self.task.done() and not self.task.cancelled() else None
            if failure is not None:
                raise failure
            raise self.failed or TimeoutError(f"{self.name}: not connected after {timeout}s")

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                async with connect(
                    self.url, additional_headers=self.headers, open_timeout=15, max_size=None, ping_interval=20
                ) as ws:
                    await ws.send(json.dumps(self.hello()))
                    welcome = await self._first_frame(ws)
                    self.ws = ws
                    await self.on_welcome(welcome)
                    self.connected.set()
                    failures = 0
                    await self._read(ws)
                code = ws.close_code
            except Fatal as exc:
                self.failed = exc
                raise
            except (OSError, ConnectionClosed, TimeoutError, InvalidStatus) as exc:
                code = getattr(getattr(exc, "rcvd", None), "code", None)
                log.debug("%s: connection lost: %r", self.name, exc)
            finally:
                self.connected.clear()
                self.ws = None
                for fut in self._pending.values():
                    if not fut.done():
                        fut.set_exception(ConnectionError("connection closed"))
                self._pending.clear()
            if self._stopping:
                return
            if code in FATAL_CLOSE:
                self.failed = Fatal(f"{self.name}: closed by the server with {code}")
                raise self.failed
            failures += 1
            self.sim.stats.reconnects += 1
            await asyncio.sleep(min(10.0, 0.2 * 2 ** min(failures, 6)) * (0.5 + random.random()))  # noqa: S311

    async def _first_frame(self, ws: ClientConnection) -> dict[str, Any]:
        async with asyncio.timeout(20):
            raw = await ws.recv()
        frame = json.loads(raw)
        if frame.get("type") == "error":
            raise Fatal(f"{self.name}: hello refused: {frame.get('code')} {frame.get('message')}")
        if frame.get("type") != "welcome":
            raise ConnectionError(f"{self.name}: expected welcome, got {frame.get('type')}")
        return dict(frame)

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            try:
                frame = json.loads(raw)
                if not isinstance(frame, dict):
                    raise ValueError("not an object")
            except ValueError:
                self.sim.stats.errors += 1
                log.warning("%s: unreadable frame %r", self.name, raw[:200])
                continue
            ref = frame.get("ref")
            if isinstance(ref, str) and ref in self._pending:
                fut = self._pending.pop(ref)
                if not fut.done():
                    fut.set_result(frame)
                continue
            if frame.get("type") == "error":
                self.sim.stats.errors += 1
                log.info("%s: error %s: %s", self.name, frame.get("code"), frame.get("message"))
                continue
            try:
                await self.on_frame(frame)
            except Exception:
                self.sim.stats.errors += 1
                log.exception("%s: handling %s failed", self.name, frame.get("type"))

    async def send(self, frame: dict[str, Any]) -> None:
        """Fire and forget (typing, read): dropped when not connected."""
        ws = self.ws
        if ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps(frame))

    async def request(self, frame: dict[str, Any], attempts: int = 3) -> dict[str, Any] | None:
        """Send ``frame`` and wait for its reply (or error), resending after a reconnect or a timeout (every
        request used here is idempotent: ``send`` by its ``client_msg_id``). None when it never got one."""
        for _ in range(attempts):
            if self.task is not None and self.task.done():
                return None
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    await self.connected.wait()
                ws = self.ws
                if ws is None:
                    continue
                ref = f"{self.name}-{next(self._refs)}"
                fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
                self._pending[ref] = fut
                await ws.send(json.dumps(frame | {"ref": ref}))
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    reply = await fut
            except (TimeoutError, ConnectionError, ConnectionClosed):
                continue
            if reply.get("type") == "error":
                if reply.get("code") == "storage.unavailable":
                    await asyncio.sleep(0.5)
                    continue
                log.debug("%s: %s -> %s", self.name, frame.get("type"), reply.get("code"))
            return reply
        self.sim.stats.errors += 1
        return None

    async def close(self) -> None:
        self._stopping = True
        ws = self.ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task


class Changes:
    """Wait until a condition over some state holds: handlers call :meth:`bump` after a change."""

    def __init__(self) -> None:
        self._cond = asyncio.Condition()

    async def bump(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    async def until(self, condition: Callable[[], bool], timeout: float | None) -> bool:
        if condition():
            return True
        try:
            async with asyncio.timeout(timeout), self._cond:
                await self._cond.wait_for(condition)
        except TimeoutError:
            return condition()
        return True


def contiguous(seqs: set[int] | dict[int, Any]) -> int:
    n = 0
    while n + 1 in seqs:
        n += 1
    return n


def new_msg_id() -> str:
    return str(uuid.uuid4())


# ------------------------------------------------------------------------------------------------ visitor


class SimVisitor:
    """One visitor playing his :class:`VisitorPlan` (see the docstring of :mod:`kefu.sim.traffic`)."""

    def __init__(self, sim: Simulator, plan: VisitorPlan) -> None:
        self.sim = sim
        self.plan = plan
        self.token: str | None = None
        self.conversation_id: int | None = None
        self.status: str | None = None
        self.ratable = False
        self.messages: dict[int, dict[str, Any]] = {}
        self.changes = Changes()
        self.link = Link(
            sim,
            plan.visitor_id,
            f"{sim.config.ws_base}/ws/visitor",
            self._hello,
            self._welcome,
            self._frame,
        )

    # --- protocol ---------------------------------------------------------------------------------------

    def _hello(self) -> dict[str, Any]:
        hello: dict[str, Any] = {"type": "hello", "widget_key": self.sim.setup.widget_key, "lang": "zh"}
        if self.token:
            hello["visitor_token"] = self.token
        if self.conversation_id is not None:
            hello["conversation_id"] = self.conversation_id
            hello["after_seq"] = contiguous(self.messages)
        return hello

    async def _welcome(self, frame: dict[str, Any]) -> None:
        self.token = frame.get("visitor_token") or self.token
        conv = frame.get("conversation")
        if isinstance(conv, dict):
            self.conversation_id = conv.get("id", self.conversation_id)
            self.status = conv.get("status")
            self.ratable = bool(conv.get("ratable"))
        self._add(frame.get("messages") or [])
        if frame.get("has_more") and self.conversation_id is not None:
            self.sim.spawn(self._sync())
        await self.changes.bump()

    async def _sync(self) -> None:
        while True:
            reply = await self.link.request(
                {"type": "sync", "conversation_id": self.conversation_id, "after_seq": contiguous(self.messages)}
            )
            if not reply or reply.get("type") != "messages":
                return
            self._add(reply.get("messages") or [])
            await self.changes.bump()
            if not reply.get("has_more"):
                return

    def _add(self, messages: list[dict[str, Any]]) -> None:
        for m in messages:
            if isinstance(m, dict) and isinstance(m.get("seq"), int):
                self.messages[m["seq"]] = m

    async def _frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        cid = frame.get("conversation_id")
        if kind == "message":
            if cid == self.conversation_id or self.conversation_id is None:
                self.conversation_id = cid
                self._add([frame["message"]])
                if frame["message"]["seq"] > contiguous(self.messages) + 1:
                    self.sim.spawn(self._sync())  # a gap (§6.3)
        elif kind == "conversation" and (
            self.conversation_id is None or cid == self.conversation_id or frame.get("status") != "ended"
        ):
            self.conversation_id = cid
            self.status = frame.get("status", self.status)
            if "ratable" in frame:
                self.ratable = bool(frame["ratable"])
        await self.changes.bump()

    def _last_bot(self) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The bot's latest message and its ``meta.bot`` (docs/protocol.md §4.4)."""
        bots = [m for _, m in sorted(self.messages.items()) if m.get("sender") == "bot"]
        if not bots:
            return None, {}
        return bots[-1], (bots[-1].get("meta") or {}).get("bot") or {}

    def _last_bot_answer(self) -> dict[str, Any] | None:
        """The bot's latest message if it answered from the knowledge base."""
        message, bot = self._last_bot()
        return message if bot.get("outcome") == "answer" else None

    def _offered(self, kb_question: str | None) -> dict[str, Any] | None:
        """The suggestion for ``kb_question`` in the bot's latest message, if it is a suggest reply."""
        _, bot = self._last_bot()
        if kb_question is None or bot.get("outcome") != "suggest":
            return None
        return next((s for s in bot.get("suggestions") or () if s.get("question") == kb_question), None)

    def _more_bot(self, before: int) -> bool:
        return self.bot_messages() > before

    def _answered_or_ended(self, before: int) -> bool:
        return self.agent_messages() > before or self.status == "ended"

    def agent_messages(self) -> int:
        return sum(1 for m in self.messages.values() if m.get("sender") == "agent")

    def bot_messages(self) -> int:
        return sum(1 for m in self.messages.values() if m.get("sender") == "bot")

    async def say(self, text: str, entry_id: int | None = None) -> bool:
        frame: dict[str, Any] = {"type": "send", "client_msg_id": new_msg_id(), "body": text}
        if entry_id is not None:
            frame["entry_id"] = entry_id  # a suggestion of the bot, picked
        reply = await self.link.request(frame)
        if reply is not None and reply.get("type") == "ack":
            self.conversation_id = reply.get("conversation_id", self.conversation_id)
            self.sim.stats.messages_visitor += 1
            return True
        return False

    async def ask_for_person(self, group: str | None) -> None:
        frame: dict[str, Any] = {"type": "human"}
        group_id = self.sim.setup.groups.get(group or "")
        if group_id is not None:
            frame["skill_group_id"] = group_id
        reply = await self.link.request(frame)
        if reply is not None and reply.get("type") == "conversation":
            self.conversation_id = reply.get("conversation_id", self.conversation_id)
            self.status = reply.get("status", self.status)

    # --- the plan ---------------------------------------------------------------------------------------

    def _group_for(self, text: str, kind: str) -> str:
        entry = self.sim.entry_for(text)
        if entry is not None:
            return GROUP_BY_TOPIC.get(entry, "售前")
        return GROUP_BY_KIND.get(kind, "售前")

    async def run(self) -> None:
        sim, plan = self.sim, self.plan
        stats = sim.stats
        phase = ""

        def enter(new: str) -> None:
            nonlocal phase
            if phase == "queue":
                stats.in_queue -= 1
            elif phase == "chat":
                stats.chatting -= 1
            if new == "queue":
                stats.in_queue += 1
            elif new == "chat":
                stats.chatting += 1
            phase = new

        try:
            await self.link.start()
            stats.connected += 1
            play = asyncio.create_task(self._play(enter))
            try:
                # A socket refused for good ends the visit (the play would wait for frames forever).
                assert self.link.task is not None
                await asyncio.wait({play, self.link.task}, return_when=asyncio.FIRST_COMPLETED)
                if play.done():
                    play.result()
            finally:
                play.cancel()
                with contextlib.suppress(BaseException):
                    await play
                stats.connected -= 1
        except Fatal as exc:
            stats.errors += 1
            log.warning("%s", exc)
        except (OSError, TimeoutError, ConnectionError) as exc:
            stats.errors += 1
            log.info("%s: gave up: %r", plan.visitor_id, exc)
        finally:
            enter("")
            await self.link.close()

    async def _play(self, enter: Callable[[str], None]) -> None:
        sim, plan = self.sim, self.plan
        said: set[str] = set()
        queued = False
        for q in plan.questions:
            await sim.chat_sleep(q.think_s)
            if q.kind == "human":
                topic = plan.chat_lines[0].text if plan.chat_lines else q.text
                await self.ask_for_person(self._group_for(topic, "kb"))
                await self.say(q.text)
                said.add(q.text)
                queued = True
                break
            if not sim.setup.has_bot:
                # No bot: the widget's menu (售前/售后/技术支持), then the question goes to people.
                await self.ask_for_person(self._group_for(q.text, q.kind))
                await self.say(q.text)
                said.add(q.text)
                queued = True
                break
            bots = self.bot_messages()
            await self.say(q.text)
            said.add(q.text)
            replied = await self.changes.until(partial(self._more_bot, bots), sim.chat_wall(30.0) + 2.0)
            answer = self._last_bot_answer() if replied else None
            offered = self._offered(q.kb_question) if replied and q.pick_after_s is not None else None
            if offered is not None and q.pick_after_s is not None and self.status not in ("queued", "active", "ended"):
                # 您是不是想问: he sees his question among the suggestions and picks it (docs/protocol.md §4.4).
                await sim.chat_sleep(q.pick_after_s)
                bots = self.bot_messages()
                if await self.say(offered["question"], entry_id=offered["entry_id"]):
                    sim.stats.suggestions_picked += 1
                    replied = await self.changes.until(partial(self._more_bot, bots), sim.chat_wall(30.0) + 2.0)
                    answer = self._last_bot_answer() if replied else None
            hit = answer is not None
            if answer is not None and q.escalate != "always":
                # Helped: say so (the bot's helpful rate); a visitor who still wants a person does not.
                await self.link.send({"type": "feedback", "message_id": answer["id"], "helpful": True})
            if self.status in ("queued", "offered", "active"):
                queued = True
                break
            if q.escalate == "always" or (q.escalate == "if_miss" and not hit):
                await sim.chat_sleep(q.human_after_s)
                await self.ask_for_person(self._group_for(q.text, q.kind))
                await self.say(q.human_text)
                queued = True
                break
        if not queued:
            # The bot helped (自助解决): he reads, then closes the chat.
            await sim.chat_sleep(plan.leave_after_s)
            if await self.link.request({"type": "end"}) is not None:
                sim.stats.ended += 1
            return

        # --- the queue ---
        enter("queue")
        accepted = await self.changes.until(lambda: self.status in ("active", "ended"), sim.chat_wall(plan.patience_s))
        if not accepted or self.status != "active":
            if self.status != "ended":
                await self.link.request({"type": "end"})
                sim.stats.abandoned += 1
                sim.stats.ended += 1
            return

        # --- with a person ---
        enter("chat")
        lines = [line for line in plan.chat_lines if line.text not in said]
        answered = self.agent_messages()
        for line in lines:
            if not await self.changes.until(partial(self._answered_or_ended, answered), None):
                break
            if self.status == "ended":
                break
            await sim.chat_sleep(max(0.0, line.delay_s - len(line.text) / 2.5))
            await self.link.send({"type": "typing", "on": True})
            await sim.chat_sleep(min(line.delay_s, len(line.text) / 2.5))
            if self.status == "ended":
                break
            answered = self.agent_messages()
            await self.say(line.text)
        await self.changes.until(lambda: self.status == "ended", None)
        enter("")
        if plan.rating is not None and self.ratable:
            await sim.chat_sleep(plan.rating_after_s)
            reply = await self.link.request(
                {"type": "rate", "rating": plan.rating, "conversation_id": self.conversation_id}
            )
            if reply is not None and reply.get("type") == "rated":
                sim.stats.rated += 1
        await sim.chat_sleep(plan.leave_after_s)


# -------------------------------------------------------------------------------------------------- agent


@dataclass
class Served:
    """A conversation a simulated agent serves."""

    id: int
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    ended: bool = False
    task: asyncio.Task[None] | None = None

    def more_or_ended(self, seen: int) -> bool:
        return self.ended or len(self.visitor_texts()) > seen

    def visitor_texts(self) -> list[dict[str, Any]]:
        return [self.messages[s] for s in sorted(self.messages) if self.messages[s].get("sender") == "visitor"]


class SimAgentClient:
    """One simulated agent: online per his shift plan, serves what he is assigned, grabs offers."""

    def __init__(self, sim: Simulator, agent: SimAgent, rng: random.Random) -> None:
        self.sim = sim
        self.agent = agent
        self.rng = rng
        self.status = "offline"
        self.capacity = 5
        self.served: dict[int, Served] = {}
        self.offers: dict[int, asyncio.Task[None]] = {}
        self.changes = Changes()
        self.wanted_status = "online"
        self.link = Link(
            sim,
            agent.username,
            f"{sim.config.ws_base}/ws/agent",
            self._hello,
            self._welcome,
            self._frame,
            headers={"Authorization": f"Bearer {agent.token}"},
        )

    def _hello(self) -> dict[str, Any]:
        return {"type": "hello", "status": self.wanted_status}

    def _set_status(self, status: str) -> None:
        was = self.status == "online"
        self.status = status
        self.sim.stats.agents_online += (status == "online") - was

    async def _welcome(self, frame: dict[str, Any]) -> None:
        self._set_status(frame.get("status") or self.status)
        self.capacity = int(frame.get("capacity") or self.capacity)
        for conv in frame.get("conversations") or []:
            self._take(int(conv["id"]))
        # Resume: what was missed in each conversation (§6.4).
        for served in list(self.served.values()):
            if served.id not in {c.get("id") for c in frame.get("conversations") or []}:
                served.ended = True
            else:
                self.sim.spawn(self._sync(served))
        for offer in frame.get("offers") or []:
            self._offered(offer)
        await self.changes.bump()

    async def _sync(self, served: Served) -> None:
        while True:
            reply = await self.link.request(
                {"type": "sync", "conversation_id": served.id, "after_seq": contiguous(served.messages)}
            )
            if not reply or reply.get("type") != "messages":
                return
            for m in reply.get("messages") or []:
                served.messages[m["seq"]] = m
            await self.changes.bump()
            if not reply.get("has_more"):
                return

    def _take(self, cid: int) -> Served:
        served = self.served.get(cid)
        if served is None:
            served = self.served[cid] = Served(cid)
            served.task = asyncio.create_task(self._serve(served), name=f"sim-serve-{cid}")
        return served

    async def _frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        cid = frame.get("conversation_id")
        if kind == "assigned" and isinstance(cid, int):
            if cid not in self.served:
                self.sim.stats.accepted += 1
                self.sim.stats.grabs += frame.get("by") == "grab"
            self._cancel_offer(cid)
            self._take(cid)
        elif kind == "message" and cid in self.served:
            m = frame["message"]
            served = self.served[cid]
            served.messages[m["seq"]] = m
            if m["seq"] > contiguous(served.messages) + 1:
                self.sim.spawn(self._sync(served))
        elif cid in self.served and (
            (kind == "conversation" and frame.get("status") == "ended") or kind == "transferred_away"
        ):
            self.served[cid].ended = True
        elif kind == "offer":
            self._offered(frame)
        elif kind == "offer_withdrawn" and isinstance(cid, int):
            self._cancel_offer(cid)
        elif kind == "status":
            self._set_status(frame.get("status") or self.status)
        await self.changes.bump()

    # --- grabbing ---------------------------------------------------------------------------------------

    def _offered(self, offer: dict[str, Any]) -> None:
        cid = offer.get("conversation_id")
        if isinstance(cid, int) and cid not in self.offers and cid not in self.served:
            self.offers[cid] = asyncio.create_task(self._grab(cid))

    def _cancel_offer(self, cid: int) -> None:
        task = self.offers.pop(cid, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _grab(self, cid: int) -> None:
        try:
            plan = self.sim.agent_behaviour.conversation_plan(self.rng, self.sim.script)
            await self.sim.chat_sleep(plan.accept_after_s)
            if self.status != "online" or self._busy() >= self.capacity:
                return
            await self.link.request({"type": "grab", "conversation_id": cid})  # taken by another: an error reply
        finally:
            if self.offers.get(cid) is asyncio.current_task():
                del self.offers[cid]

    def _busy(self) -> int:
        return sum(1 for s in self.served.values() if not s.ended)

    # --- serving ----------------------------------------------------------------------------------------

    async def _serve(self, served: Served) -> None:
        sim = self.sim
        try:
            await self._sync(served)
            first = served.visitor_texts()
            kb_answer = sim.script.answer_for(first[0].get("body", "")) if first else None
            if kb_answer is None:
                for m in first[1:]:
                    kb_answer = kb_answer or sim.script.answer_for(m.get("body", ""))
            plan = sim.agent_behaviour.conversation_plan(self.rng, sim.script, kb_answer)
            idle = sim.chat_wall(plan.idle_close_s)
            seen = len(first)
            greeting, *middle, closing = plan.replies
            await sim.chat_sleep(greeting.delay_s(0))
            if served.ended or not await self._say(served, greeting.text):
                return
            for reply in [*middle, closing]:
                got = await self.changes.until(partial(served.more_or_ended, seen), idle)
                if served.ended:
                    return
                incoming = served.visitor_texts()[seen:]
                seen += len(incoming)
                if not got:  # the visitor went quiet: close now
                    await sim.chat_sleep(closing.delay_s(0))
                    await self._say(served, closing.text)
                    break
                chars = sum(len(m.get("body") or "") for m in incoming)
                await self.link.send({"type": "read", "conversation_id": served.id, "seq": contiguous(served.messages)})
                await sim.chat_sleep(reply.delay_s(chars) - reply.typing_s)
                await self.link.send({"type": "typing", "conversation_id": served.id, "on": True})
                await sim.chat_sleep(reply.typing_s)
                if served.ended or not await self._say(served, reply.text):
                    return
            await sim.chat_sleep(plan.end_after_s)
            if not served.ended:
                reply_frame = await self.link.request({"type": "end", "conversation_id": served.id})
                if reply_frame is not None and reply_frame.get("type") == "conversation":
                    sim.stats.ended += 1
                served.ended = True
        except asyncio.CancelledError:
            raise
        except Exception:
            sim.stats.errors += 1
            log.exception("%s: serving %s failed", self.agent.username, served.id)
        finally:
            served.ended = True
            self.served.pop(served.id, None)

    async def _say(self, served: Served, text: str) -> bool:
        reply = await self.link.request(
            {"type": "send", "conversation_id": served.id, "client_msg_id": new_msg_id(), "body": text}
        )
        if reply is not None and reply.get("type") == "ack":
            self.sim.stats.messages_agent += 1
            return True
        if reply is not None and reply.get("code") in ("conversation.ended", "conversation.not_yours", "not_found"):
            served.ended = True
        return False

    # --- the shift --------------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self.link.start()
            # A week-long shift (its closing "offline" is dropped: the simulation ends the shift).
            plan = self.sim.agent_behaviour.shift_plan(self.rng, 0.0, 7 * 86400.0)
            started = time.monotonic()
            for step in plan[1:-1]:
                await asyncio.sleep(max(0.0, self.sim.chat_wall(step.at_s) - (time.monotonic() - started)))
                self.wanted_status = step.payload["status"]
                reply = await self.link.request({"type": "status", "status": self.wanted_status})
                if reply is not None and reply.get("type") == "status":
                    self._set_status(reply.get("status") or self.status)
            await asyncio.Event().wait()
        except Fatal as exc:
            self.sim.stats.errors += 1
            log.warning("%s", exc)
        finally:
            self._set_status("offline")
            for task in [*self.offers.values(), *(s.task for s in self.served.values() if s.task)]:
                task.cancel()
            await self.link.close()


# ------------------------------------------------------------------------------------ the administrator


class SimCurator:
    """The simulated administrator: reviews the learning queue every ``review_every_s`` simulated seconds
    (on the arrival clock, ``SimConfig.speed``) and carries out what :func:`kefu.sim.curation.review` decides
    through the REST API, as the admin console does. A failing review is counted and logged, never fatal."""

    def __init__(self, sim: Simulator, token: str, behaviour: CuratorBehaviour) -> None:
        self.sim = sim
        self.behaviour = behaviour
        self._headers = {"Authorization": f"Bearer {token}"}

    async def run(self) -> None:
        speed = self.sim.config.speed
        origin = time.monotonic()
        for k in itertools.count():
            at = (self.behaviour.first_review_s + k * self.behaviour.review_every_s) / speed
            await asyncio.sleep(max(0.0, at - (time.monotonic() - origin)))
            try:
                await self.review_once()
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                self.sim.stats.errors += 1
                log.warning("simulated administrator: review failed: %r", exc)

    async def review_once(self) -> list[CurationStep]:
        """One review: read the open items and the entries, then attach and ignore. Returns the steps taken
        (a step the server refused, e.g. an item someone else resolved meanwhile, is left out)."""
        async with httpx.AsyncClient(
            base_url=self.sim.config.url.rstrip("/") + "/api/v1", headers=self._headers, timeout=REQUEST_TIMEOUT
        ) as http:
            entry_ids = await self._entry_ids(http)
            page = await self._get(http, "/kb/learning", status="open", page_size=200)
            items = [
                QueueItem(int(i["id"]), tuple(i["samples"]) or (i["text"],), i.get("entry_id")) for i in page["items"]
            ]
            taken: list[CurationStep] = []
            for step in review(items, self.sim.script, entry_ids, self.behaviour.per_review):
                if step.action == "attach":
                    body = {"entry_id": step.entry_id, "question": step.question}
                    response = await http.post(f"/kb/learning/{step.item_id}/attach", json=body)
                else:
                    response = await http.post(f"/kb/learning/{step.item_id}/ignore")
                if response.status_code >= 400:
                    log.debug("simulated administrator: %s refused: %s", step, response.text)
                    continue
                taken.append(step)
                if step.action == "attach":
                    self.sim.stats.learnt += 1
                else:
                    self.sim.stats.ignored += 1
            return taken

    async def _entry_ids(self, http: httpx.AsyncClient) -> dict[str, int]:
        found: dict[str, int] = {}
        for page_no in itertools.count(1):
            page = await self._get(http, "/kb/entries", page=page_no, page_size=200)
            found.update((e["standard_question"], int(e["id"])) for e in page["items"] if e.get("in_effect"))
            if page_no * 200 >= int(page["total"]) or not page["items"]:
                return found
        return found

    @staticmethod
    async def _get(http: httpx.AsyncClient, path: str, **params: Any) -> dict[str, Any]:
        response = await http.get(path, params=params)
        response.raise_for_status()
        return dict(response.json())


# ---------------------------------------------------------------------------------------------- simulator


class Simulator:
    def __init__(
        self,
        config: SimConfig,
        setup: SimSetup,
        script: Script | None = None,
        visitor_behaviour: VisitorBehaviour | None = None,
        agent_behaviour: AgentBehaviour | None = None,
        curator_behaviour: CuratorBehaviour | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.config = config
        self.setup = setup
        self.script = script or demo_script()
        self.visitor_behaviour = visitor_behaviour or VisitorBehaviour()
        self.agent_behaviour = agent_behaviour or AgentBehaviour()
        self.curator_behaviour = curator_behaviour or CuratorBehaviour()
        self.rng = random.Random(config.seed)  # noqa: S311 - simulation, not security
        self.stats = Stats()
        self.out = out if out is not None else sys.stderr
        self._background: set[asyncio.Task[None]] = set()
        self._topics: dict[str, str] = {}
        for entry in self.script.kb:
            for text in (entry.question, *entry.similar, *self.script.visitor.kb.get(entry.question, ())):
                self._topics.setdefault(text, entry.topic)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """A background task kept until it finishes (a failure is logged, never raised)."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def entry_for(self, text: str) -> str | None:
        """The top-level KB topic of a visitor's phrasing, when it is one."""
        return self._topics.get(text)

    def chat_wall(self, sim_s: float) -> float:
        return sim_s / self.config.conversation_speed

    async def chat_sleep(self, sim_s: float) -> None:
        if sim_s > 0:
            await asyncio.sleep(self.chat_wall(sim_s))

    def _start(self) -> datetime:
        now = datetime.now(SHANGHAI)
        if self.config.start_hour is None:
            return now
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight + timedelta(hours=self.config.start_hour)

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.config.wait_healthy
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                try:
                    if (await http.get(self.config.url.rstrip("/") + "/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.config.url} not healthy after {self.config.wait_healthy}s")
                await asyncio.sleep(0.3)

    async def run(self) -> Stats:
        cfg = self.config
        if cfg.wait_healthy > 0:
            await self._wait_healthy()
        self.stats.started = time.monotonic()
        tasks: set[asyncio.Task[None]] = set()
        agents = [
            SimAgentClient(self, a, random.Random(self.rng.getrandbits(64)))  # noqa: S311
            for a in self.setup.agents
        ]
        agent_tasks = [asyncio.create_task(a.run(), name=f"sim-agent-{a.agent.username}") for a in agents]
        if cfg.curate and self.setup.has_bot and self.setup.curator_token:
            curator = SimCurator(self, self.setup.curator_token, self.curator_behaviour)
            agent_tasks.append(asyncio.create_task(curator.run(), name="sim-curator"))
        reporter = asyncio.create_task(self._report()) if cfg.stats_every > 0 else None
        try:
            # The agents first: a visitor arriving at once finds someone online.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(15):
                    await asyncio.gather(*(a.link.connected.wait() for a in agents))
            async with asyncio.timeout(cfg.duration):
                await self._arrivals(tasks)
        except TimeoutError:
            pass
        finally:
            for task in [*tasks, *agent_tasks]:
                task.cancel()
            await asyncio.gather(*tasks, *agent_tasks, return_exceptions=True)
            if reporter is not None:
                reporter.cancel()
                with contextlib.suppress(BaseException):
                    await reporter
            if cfg.stats_every > 0:
                print(self.stats.line(), file=self.out, flush=True)
        return self.stats

    async def _arrivals(self, tasks: set[asyncio.Task[None]]) -> None:
        cfg = self.config
        curve: IntradayCurve = intraday_curve(cfg.day_volume, cfg.profile)
        start = self._start()
        origin = time.monotonic()
        window = 3600.0  # simulated seconds drawn at a time
        n = 0
        for k in itertools.count():
            w_start = start + timedelta(seconds=k * window)
            offsets = arrival_offsets(curve, w_start, w_start + timedelta(seconds=window), self.rng, speed=cfg.speed)
            for offset in offsets:
                at = (k * window) / cfg.speed + offset
                await asyncio.sleep(max(0.0, at - (time.monotonic() - origin)))
                n += 1
                own = random.Random(self.rng.getrandbits(64))  # noqa: S311
                arrival_s = k * window + offset * cfg.speed
                today = (start + timedelta(seconds=arrival_s)).date()
                plan = self.visitor_behaviour.plan(own, self.script, arrival_s, today, visitor_id=f"sim-{n:06d}")
                self.stats.arrived += 1
                if len(tasks) >= cfg.max_visitors:
                    self.stats.dropped += 1
                    continue
                task = asyncio.create_task(SimVisitor(self, plan).run(), name=f"sim-visitor-{n}")
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if not offsets:
                await asyncio.sleep(max(0.0, ((k + 1) * window) / cfg.speed - (time.monotonic() - origin)))

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(self.config.stats_every)
            print(self.stats.line(), file=self.out, flush=True)


async def simulate(config: SimConfig, setup: SimSetup, out: TextIO | None = None) -> Stats:
    """Run the simulator until ``config.duration`` has passed (or until cancelled)."""
    return await Simulator(config, setup, out=out).run()


def demo_config(url: str) -> SimConfig:
    """A modest load for ``kefu demo``: an ordinary day from 10 h, four times faster than real time, with
    about one visitor every five seconds at the peak hours and conversations at twice real speed."""
    speed = 4.0
    peak_wall_interval_s = 5.0
    peak_share = max(intraday_curve(1.0).hourly_weights) / sum(intraday_curve(1.0).hourly_weights)
    # peak rate per simulated hour = day_volume * peak_share; per wall second: that * speed / 3600
    day_volume = 3600.0 / (peak_wall_interval_s * speed * peak_share)
    return SimConfig(
        url=url,
        speed=speed,
        chat_speed=2.0,
        day_volume=round(day_volume),
        start_hour=10.0,
        agents=6,
        stats_every=15.0,
        wait_healthy=120.0,
        max_visitors=60,
    )
