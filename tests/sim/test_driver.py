"""The simulator against a real ``kefu serve`` process: simulated visitors and agents speak the protocol,
and what they did is in the database afterwards."""

from __future__ import annotations

import asyncio
import io
import uuid
from pathlib import Path

from sqlalchemy import func, select

from kefu.access.scope import caller_for
from kefu.actions.channels import do_update_channel
from kefu.actions.kb import do_record_unanswered
from kefu.db.session import Database
from kefu.demo import seed_demo
from kefu.models.channel import Channel, ChannelKind
from kefu.models.conversation import Conversation, ConversationStatus, Message, SenderKind
from kefu.models.kb import KbEntry, KbLearningItem, LearningStatus
from kefu.models.skill_group import SkillGroup
from kefu.models.staff import ApiToken, User
from kefu.sim.curation import CuratorBehaviour
from kefu.sim.driver import (
    TOKEN_NAME,
    SimConfig,
    SimCurator,
    Simulator,
    demo_agent_order,
    demo_config,
    prepare,
    simulate,
)
from kefu.sim.script import demo_script
from kefu.sim.traffic import intraday_curve
from tests.conftest import BACKEND, NAMESPACE, need_redis
from tests.live.test_crash import server_env, start_server


def test_agents_printed_by_the_demo_are_taken_last() -> None:
    names = [f"{t}_agent{i}" for t in ("hq", "east", "south", "north") for i in (1, 2, 3)]
    order = demo_agent_order(names)
    assert sorted(order) == sorted(names)
    assert order[:4] == ["east_agent2", "south_agent2", "north_agent2", "hq_agent2"]
    assert all(n.endswith("1") for n in order[-4:])


def test_the_demo_load_is_modest() -> None:
    config = demo_config("http://127.0.0.1:8000")
    curve = intraday_curve(config.day_volume)
    per_wall_second = curve.peak_rate_per_hour() * config.speed / 3600
    assert 0.1 <= per_wall_second <= 0.5  # a visitor every 2–10 s at the peak
    assert config.ws_base == "ws://127.0.0.1:8000"


def test_prepare_replaces_the_simulator_tokens(database: Database) -> None:
    seed_demo(database)
    first = prepare(database, "demo", 3)
    again = prepare(database, "demo", 3)
    assert [a.username for a in again.agents] == ["east_agent2", "south_agent2", "north_agent2"]
    assert {a.token for a in first.agents}.isdisjoint(a.token for a in again.agents)
    assert set(again.groups) == {"售前", "售后", "技术支持"} and again.has_bot  # the demo bot answers from the shop FAQ
    with database.session() as db:
        live = db.scalar(
            select(func.count()).select_from(ApiToken).where(ApiToken.name == TOKEN_NAME, ApiToken.revoked_at.is_(None))
        )
    assert live == 4  # the three agents' and the administrator's, who clears the learning queue
    assert prepare(database, "demo", 0, curator=False).curator_token is None


def test_simulated_traffic_reaches_the_database(database: Database, database_url: str, tmp_path: Path) -> None:
    if BACKEND == "postgres":
        need_redis()
    seed_demo(database)
    # People only, so that many conversations reach agents, end and get rated within seconds (the bot's own
    # conversation flow is tests/live/test_bot_chat.py).
    with database.session() as db:
        web = db.scalars(select(Channel).where(Channel.kind == ChannelKind.web)).one()
        admin = db.scalars(select(User).where(User.tenant_id == web.tenant_id, User.username == "admin")).one()
        do_update_channel(db, caller_for(db, admin), web.id, config={**web.config, "bot_enabled": False})
    setup = prepare(database, "demo", 6)
    assert not setup.has_bot
    env = server_env(database_url, tmp_path, f"{NAMESPACE}-sim-{uuid.uuid4().hex[:6]}")
    server = start_server(env, tmp_path / "run")
    out = io.StringIO()
    try:
        config = SimConfig(
            url=server.base,
            speed=600.0,  # ~2 visitors a second at 10 h
            chat_speed=40.0,  # a conversation in a few seconds, patience ~3 s
            day_volume=200.0,
            start_hour=10.0,
            seed=20260101,
            duration=10.0,
            stats_every=2.0,
        )
        stats = asyncio.run(simulate(config, setup, out=out))
    finally:
        server.stop()
    print(out.getvalue())  # shown with -s
    assert stats.arrived >= 5 and stats.accepted >= 1 and stats.messages_visitor >= 1 and stats.messages_agent >= 1
    assert "arrived" in out.getvalue()

    agent_ids = {a.user_id for a in setup.agents}
    with database.session() as db:
        convs = db.scalars(select(Conversation)).all()
        senders = dict(db.execute(select(Message.sender_kind, func.count()).group_by(Message.sender_kind)).all())
        grab_group = db.scalar(select(SkillGroup.id).where(SkillGroup.name == "售后"))
    assert len(convs) >= 5
    assert sum(c.queued_at is not None for c in convs) >= 5
    accepted = [c for c in convs if c.accepted_at is not None]
    assert accepted and {c.agent_id for c in accepted} <= agent_ids
    assert senders.get(SenderKind.visitor, 0) >= 1 and senders.get(SenderKind.agent, 0) >= 1
    assert any(c.status is ConversationStatus.ended for c in convs)
    assert any(c.rating is not None for c in convs), [(c.status, c.ended_by, c.rating) for c in convs]
    assert {c.skill_group_id for c in convs} - {None} <= {g for g in setup.groups.values()}
    assert grab_group in {c.skill_group_id for c in convs}


def test_simulated_visitors_pick_the_bots_suggestions(database: Database, database_url: str, tmp_path: Path) -> None:
    """With the demo bot on, a visitor offered his question among the suggestions picks it: the bot answers
    that entry and the learning queue counts which entry visitors picked."""
    if BACKEND == "postgres":
        need_redis()
    seed_demo(database)
    setup = prepare(database, "demo", 3)
    assert setup.has_bot
    env = server_env(database_url, tmp_path, f"{NAMESPACE}-sim-{uuid.uuid4().hex[:6]}")
    server = start_server(env, tmp_path / "run")
    try:
        config = SimConfig(
            url=server.base,
            speed=600.0,
            chat_speed=40.0,
            day_volume=200.0,
            start_hour=10.0,
            seed=20261203,
            duration=12.0,
            stats_every=0.0,
        )
        stats = asyncio.run(simulate(config, setup, out=io.StringIO()))
    finally:
        server.stop()
    assert stats.suggestions_picked >= 1
    assert stats.learnt >= 1  # the simulated administrator reviewed the queue twice (at 3 s and 9 s)
    with database.session() as db:
        picked = [
            m.meta["bot"]
            for m in db.scalars(select(Message).where(Message.sender_kind == SenderKind.bot))
            if (m.meta or {}).get("bot", {}).get("picked")
        ]
        items = [i for i in db.scalars(select(KbLearningItem)) if i.picks]
    assert picked and all(b["outcome"] == "answer" for b in picked)
    counted = {(i.text_key, k) for i in items for k in i.picks}
    assert len(counted) >= 1 and sum(sum(i.picks.values()) for i in items) == len(picked)


def test_the_simulated_administrator_clears_the_learning_queue(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    """Through the REST API with the administrator's token: a visitor's wording of an FAQ question is attached
    to its entry, small talk ignored, a topic the FAQ lacks left open."""
    if BACKEND == "postgres":
        need_redis()
    seed_demo(database)
    setup = prepare(database, "demo", 0)
    assert setup.curator_token
    script = demo_script()
    order, hello, uncovered = (
        script.visitor.kb["怎么下单"][0],
        script.visitor.out_of_scope["chitchat"][0],
        script.visitor.out_of_scope["uncovered"][0],
    )
    with database.session() as db:
        tenant_id = db.scalars(select(Channel.tenant_id).where(Channel.kind == ChannelKind.web)).one()
        items = {text: do_record_unanswered(db, tenant_id, text, None, []) for text in (order, hello, uncovered)}
        ids = {text: item.id for text, item in items.items() if item is not None}
    env = server_env(database_url, tmp_path, f"{NAMESPACE}-sim-{uuid.uuid4().hex[:6]}")
    server = start_server(env, tmp_path / "run")
    try:
        sim = Simulator(SimConfig(url=server.base, stats_every=0.0), setup, out=io.StringIO())
        steps = asyncio.run(SimCurator(sim, setup.curator_token, CuratorBehaviour()).review_once())
    finally:
        server.stop()
    assert sorted((s.item_id, s.action) for s in steps) == sorted([(ids[order], "attach"), (ids[hello], "ignore")])
    assert (sim.stats.learnt, sim.stats.ignored) == (1, 1)
    with database.session() as db:
        status = {i.id: (i.status, i.entry_id) for i in db.scalars(select(KbLearningItem))}
        entry = db.scalars(select(KbEntry).where(KbEntry.standard_question == "怎么下单")).one()
        similar = [s.question for s in entry.similar]
    assert status[ids[order]] == (LearningStatus.attached, entry.id) and order in similar
    assert status[ids[hello]][0] is LearningStatus.ignored
    assert status[ids[uncovered]][0] is LearningStatus.open
