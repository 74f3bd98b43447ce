"""Routing benchmark: assignments per second including persistence, against the pure engine and plain SQL.

For round_robin and least_busy: a tenant with ``--agents`` agents (capacity ``--capacity``, online) in one
skill group of that mode and ``--queued`` queued conversations. Timed: the routing service's own path
(``RoutingService._load_tenant``: build the engine from the database, the engine's decisions, and
``_carry_out`` → ``do_assign_conversations`` writing the compare-and-set assignments with their events
in one transaction). Peers in the same run: the pure engine on the same state (no I/O), and a plain SQL
``UPDATE … WHERE status='queued'`` loop of the same count in one transaction.

For broadcast_grab: ``--threads`` threads race for the same conversations, in the same order, through
``do_grab_conversation`` (one transaction each); the figure is won grabs per second, and every
conversation must have exactly one winner.

Prints one JSON object on stdout (progress on stderr). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from common import machine  # bench/ is on sys.path when a benchmark runs as a script

os.environ.setdefault("KEFU_ARGON2_PROFILE", "CHEAPEST")  # seeding only: nobody logs in


def log(*parts: Any) -> None:
    print("[routing]", *parts, file=sys.stderr, flush=True)


def seed_tenant(database: Any, mode: str, agents: int, capacity: int, queued: int) -> dict[str, Any]:
    """Through the real actions: tenant, team, group of ``mode``, online agents in it, queued conversations."""
    from sqlalchemy import select

    from kefu.access.scope import caller_for
    from kefu.actions.agents import do_set_agent_status
    from kefu.actions.conversations import do_queue_conversation, do_start_conversation
    from kefu.actions.skill_groups import do_create_skill_group, do_set_skill_group_agent
    from kefu.actions.teams import do_create_team
    from kefu.actions.tenants import do_create_tenant
    from kefu.actions.users import do_create_user
    from kefu.actions.visitors import do_open_visitor
    from kefu.auth.passwords import hash_password
    from kefu.db.session import action
    from kefu.models.channel import Channel
    from kefu.models.skill_group import DistributionMode
    from kefu.models.staff import Role
    from kefu.routing.engine import AgentStatus
    from kefu.schemas.skill_group import SkillGroupAgentSet, SkillGroupCreate
    from kefu.schemas.team import TeamCreate
    from kefu.schemas.user import UserCreate

    password = "bench-password-42"
    pw_hash = hash_password(password)
    slug = f"bench-{mode.replace('_', '-')}-{secrets.token_hex(3)}"
    with database.session() as db:
        created = do_create_tenant(db, slug=slug, name=slug, admin_username="admin", admin_password=password)
        tenant_id = created.tenant.id
        admin = caller_for(db, created.admin)
        team = do_create_team(db, admin, TeamCreate(name="客服部")).id
        group = do_create_skill_group(
            db, admin, SkillGroupCreate(name=mode, team_id=team, mode=DistributionMode(mode))
        ).id
        agent_ids = []
        for i in range(agents):
            user = do_create_user(
                db,
                admin,
                UserCreate(
                    username=f"a{i}",
                    display_name=f"a{i}",
                    role=Role.agent,
                    password=password,
                    max_concurrent=capacity,
                    team_ids=[team],
                ),
                password_hash=pw_hash,
            )
            do_set_skill_group_agent(db, admin, group, user.id, SkillGroupAgentSet())
            do_set_agent_status(db, user.id, tenant_id=tenant_id, status=AgentStatus.online)
            agent_ids.append(user.id)
        channel = db.scalars(select(Channel).where(Channel.tenant_id == tenant_id)).one()
        visitor_id = do_open_visitor(db, widget_key=channel.widget_key or "", secret_key="bench").visitor.id
        channel_id = channel.id

    @action
    def queue_many(db: Any, n: int, base: Any) -> list[int]:
        ids = []
        for k in range(n):
            now = base + timedelta(milliseconds=k)
            conv = do_start_conversation(db, tenant_id=tenant_id, channel_id=channel_id, visitor_id=visitor_id, now=now)
            do_queue_conversation(db, conv.id, tenant_id=tenant_id, skill_group_id=group, now=now)
            ids.append(conv.id)
        return ids

    from kefu.db.base import utcnow

    base = utcnow() - timedelta(hours=1)
    conv_ids: list[int] = []
    while len(conv_ids) < queued:
        with database.session() as db:
            n = min(2000, queued - len(conv_ids))
            conv_ids += queue_many(db, n, base + timedelta(milliseconds=len(conv_ids)))
    return {"tenant_id": tenant_id, "group_id": group, "agent_ids": agent_ids, "conv_ids": conv_ids}


class _Hub:
    def __init__(self) -> None:
        self.listeners: list[Any] = []


def service_path(database: Any, tenant_id: int) -> dict[str, Any]:
    """The routing service as the leader runs it on start: load the tenant's engine, decide, write."""
    from kefu.config import Settings
    from kefu.routing.engine import Assign
    from kefu.routing.service import RoutingService

    class Timed(RoutingService):
        carry_s = 0.0

        def _carry_out(self, tenant_id: int, decisions: list[Any]) -> None:
            t = time.perf_counter()
            super()._carry_out(tenant_id, decisions)
            self.carry_s += time.perf_counter() - t

    settings = Settings(var_dir=Path(tempfile.gettempdir()) / "kefu-bench-unused", secret_key="bench")
    service = Timed(database, _Hub(), settings=settings)
    t = time.perf_counter()
    decisions = service._load_tenant(tenant_id)
    total = time.perf_counter() - t
    assigns = sum(1 for d in decisions if isinstance(d, Assign))
    return {"assigns": assigns, "total_s": total, "carry_out_s": service.carry_s}


def engine_only(mode: str, agent_ids: list[int], capacity: int, conv_ids: list[int]) -> dict[str, Any]:
    """The pure engine on the same state: agents online, conversations enqueued, dispatch."""
    from kefu.db.base import utcnow
    from kefu.routing.engine import AgentStatus, Assign, Mode, RoutingEngine

    now = utcnow()
    t = time.perf_counter()
    engine = RoutingEngine()
    engine.set_group(1, Mode(mode), now=now)
    for a in agent_ids:
        engine.set_agent(a, capacity=capacity, groups={1: 0}, now=now)
    decisions: list[Any] = []
    for a in agent_ids:
        decisions += engine.set_status(a, AgentStatus.online, now)
    for k, cid in enumerate(conv_ids):
        decisions += engine.enqueue(cid, 1, now, priority=0, queued_at=now - timedelta(seconds=len(conv_ids) - k))
    decisions += engine.dispatch(now)
    total = time.perf_counter() - t
    return {"assigns": sum(1 for d in decisions if isinstance(d, Assign)), "total_s": total}


def plain_sql(database: Any, conv_ids: list[int], agent_ids: list[int], count: int) -> dict[str, Any]:
    """The floor of persistence: ``count`` compare-and-set UPDATEs in one transaction, committed."""
    from sqlalchemy import text

    from kefu.db.base import utcnow

    stmt = text(
        "UPDATE conversations SET status = 'active', agent_id = :agent, accepted_at = :now "
        "WHERE id = :id AND status = 'queued'"
    )
    now = utcnow()
    pairs = [(cid, agent_ids[k % len(agent_ids)]) for k, cid in enumerate(conv_ids[:count])]
    t = time.perf_counter()
    done = 0
    with database.engine.connect() as conn, conn.begin():
        for cid, agent in pairs:
            done += conn.execute(stmt, {"agent": agent, "now": now, "id": cid}).rowcount
    return {"assigns": done, "total_s": time.perf_counter() - t}


def grab_race(database: Any, world: dict[str, Any], capacity: int, threads: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    from kefu.actions.conversations import do_grab_conversation, no_longer_waiting
    from kefu.errors import KefuError
    from kefu.models.conversation import Conversation, ConversationStatus

    tenant_id, conv_ids, agent_ids = world["tenant_id"], world["conv_ids"], world["agent_ids"]
    wins: dict[int, list[int]] = {}
    lock = threading.Lock()
    attempts = [0] * threads
    failures: dict[str, int] = {}
    start = threading.Barrier(threads)

    def racer(t: int) -> None:
        mine = agent_ids[t::threads]
        room = {a: capacity for a in mine}
        start.wait()
        for cid in conv_ids:
            free = next((a for a in mine if room[a] > 0), None)
            if free is None:
                return
            attempts[t] += 1
            try:  # as the agent socket does: a read tells a loser, the write decides
                with database.session() as db:
                    lost = no_longer_waiting(db, cid, tenant_id, free)
                if lost is not None:
                    raise lost
                with database.session() as db:
                    do_grab_conversation(db, cid, tenant_id=tenant_id, agent_id=free)
            except KefuError as exc:
                with lock:
                    failures[exc.code] = failures.get(exc.code, 0) + 1
                continue
            room[free] -= 1
            with lock:
                wins.setdefault(cid, []).append(free)

    workers = [threading.Thread(target=racer, args=(t,)) for t in range(threads)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    won = sum(len(v) for v in wins.values())
    double = sum(1 for v in wins.values() if len(v) > 1)
    with database.session() as db:
        active = dict(
            db.execute(
                select(Conversation.id, Conversation.agent_id).where(
                    Conversation.tenant_id == tenant_id, Conversation.status == ConversationStatus.active
                )
            ).all()
        )
        over = db.scalar(
            select(func.count()).select_from(
                select(Conversation.agent_id)
                .where(Conversation.tenant_id == tenant_id, Conversation.status == ConversationStatus.active)
                .group_by(Conversation.agent_id)
                .having(func.count() > capacity)
                .subquery()
            )
        )
    mismatched = sum(1 for cid, v in wins.items() if len(v) != 1 or active.get(cid) != v[0])
    mismatched += sum(1 for cid in active if cid not in wins)
    return {
        "grabs": won,
        "attempts": sum(attempts),
        "total_s": elapsed,
        "conversations_with_two_winners": double,
        "db_mismatches": mismatched,
        "agents_over_capacity": over or 0,
        "refusals": failures,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--queued", type=int, default=10_000)
    p.add_argument("--agents", type=int, default=500)
    p.add_argument("--capacity", type=int, default=5)
    p.add_argument("--threads", type=int, default=8, help="concurrent grabbers (broadcast_grab)")
    p.add_argument(
        "--grab-queued", type=int, default=0, help="queued conversations for the grab race (default: --queued)"
    )
    p.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    p.add_argument("--quick", action="store_true", help="smoke run: 1,000 queued, 50 agents")
    args = p.parse_args()
    if args.quick:
        args.queued, args.agents = 1000, 50
    grab_queued = args.grab_queued or args.queued

    from kefu.db.engine import make_engine
    from kefu.db.migrate import upgrade
    from kefu.db.session import Database
    from kefu.events.bus import MemoryBus

    tmp = tempfile.mkdtemp(prefix="kefu-bench-routing-")
    db_url = args.database_url or f"sqlite:///{tmp}/kefu.db"
    engine = make_engine(db_url, pool_size=max(10, args.threads))
    upgrade(engine)
    database = Database(engine, MemoryBus())
    backend = database.backend
    out: dict[str, Any] = {
        "queued": args.queued,
        "agents": args.agents,
        "capacity": args.capacity,
        "backend": backend,
        "machine": machine(),
    }
    try:
        for mode in ("round_robin", "least_busy"):
            t = time.perf_counter()
            world = seed_tenant(database, mode, args.agents, args.capacity, args.queued)
            log(f"{mode}: seeded {args.agents} agents, {args.queued} queued in {time.perf_counter() - t:.1f}s")
            pure = engine_only(mode, world["agent_ids"], args.capacity, world["conv_ids"])
            svc = service_path(database, world["tenant_id"])
            # The floor of persistence, on conversations still queued after the service ran.
            with database.session() as db:
                from sqlalchemy import select

                from kefu.models.conversation import Conversation, ConversationStatus

                left = db.scalars(
                    select(Conversation.id)
                    .where(
                        Conversation.tenant_id == world["tenant_id"], Conversation.status == ConversationStatus.queued
                    )
                    .order_by(Conversation.id)
                ).all()
            sql = plain_sql(database, list(left), world["agent_ids"], svc["assigns"])
            rate = svc["assigns"] / svc["total_s"]
            pure_rate = pure["assigns"] / pure["total_s"]
            sql_rate = sql["assigns"] / sql["total_s"]
            out[mode] = {
                "assignments": svc["assigns"],
                "assignments_per_s": round(rate, 1),
                "service_s": round(svc["total_s"], 3),
                "carry_out_s": round(svc["carry_out_s"], 3),
                "engine_only_assignments": pure["assigns"],
                "engine_only_per_s": round(pure_rate, 1),
                "plain_sql_updates": sql["assigns"],
                "plain_sql_per_s": round(sql_rate, 1),
                "ratio_vs_engine": round(rate / pure_rate, 4),
                "ratio_vs_plain_sql": round(rate / sql_rate, 4),
            }
            log(f"{mode}: {json.dumps(out[mode])}")
        t = time.perf_counter()
        world = seed_tenant(database, "broadcast_grab", args.agents, args.capacity, grab_queued)
        log(f"broadcast_grab: seeded in {time.perf_counter() - t:.1f}s; {args.threads} threads racing")
        race = grab_race(database, world, args.capacity, args.threads)
        ok = race["conversations_with_two_winners"] == 0 and race["db_mismatches"] == 0
        grab_rate = race["grabs"] / race["total_s"]
        rr_sql = out["round_robin"]["plain_sql_per_s"]
        out["broadcast_grab"] = {
            "threads": args.threads,
            "queued": grab_queued,
            "grabs": race["grabs"],
            "attempts": race["attempts"],
            "grabs_per_s": round(grab_rate, 1),
            "attempts_per_s": round(race["attempts"] / race["total_s"], 1),
            "ratio_vs_plain_sql": round(grab_rate / rr_sql, 4) if rr_sql else None,
            "exactly_one_winner_each": ok,
            "agents_over_capacity": race["agents_over_capacity"],
            "refusals": race["refusals"],
        }
        log(f"broadcast_grab: {json.dumps(out['broadcast_grab'])}")
    finally:
        database.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
