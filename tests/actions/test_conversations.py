"""The conversation lifecycle actions: timestamps for the KPIs, sequence numbers, idempotent resends,
exactly one winner when agents race to accept."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from kefu.access.scope import caller_for
from kefu.actions.conversations import (
    do_accept_conversation,
    do_end_conversation,
    do_queue_conversation,
    do_rate_conversation,
    do_send_message,
    do_start_conversation,
)
from kefu.actions.skill_groups import do_create_skill_group
from kefu.actions.teams import do_create_team
from kefu.db.session import Database
from kefu.errors import Conflict, Invalid
from kefu.models import Channel, Conversation, ConversationStatus, Event, Message, Role, SenderKind, Visitor
from kefu.schemas.skill_group import SkillGroupCreate
from kefu.schemas.team import TeamCreate
from tests.factories import make_tenant, make_user

T0 = datetime(2026, 11, 11, 1, 0, tzinfo=UTC)


@dataclass
class Shop:
    tenant_id: int
    channel_id: int
    visitor_id: int
    group_id: int
    team_id: int
    agents: list[int]


@pytest.fixture
def shop(database: Database) -> Shop:
    with database.session() as db:
        tenant_id, admin = make_tenant(db, "shop")
        caller = caller_for(db, admin)
        team = do_create_team(db, caller, TeamCreate(name="客服部"))
        group = do_create_skill_group(db, caller, SkillGroupCreate(name="售后", team_id=team.id))
        agents = [make_user(db, caller, f"agent{i}", Role.agent, [team.id]).id for i in range(8)]
        channel_id = db.scalars(select(Channel.id).where(Channel.tenant_id == tenant_id)).one()
        visitor = Visitor(tenant_id=tenant_id, name="王女士")
        db.add(visitor)
        db.commit()
        return Shop(tenant_id, channel_id, visitor.id, group.id, team.id, agents)


def start_and_queue(database: Database, shop: Shop) -> int:
    with database.session() as db:
        conv = do_start_conversation(
            db, tenant_id=shop.tenant_id, channel_id=shop.channel_id, visitor_id=shop.visitor_id, now=T0
        )
        do_queue_conversation(
            db, conv.id, tenant_id=shop.tenant_id, skill_group_id=shop.group_id, now=T0 + timedelta(seconds=30)
        )
        return conv.id


def test_a_whole_conversation_records_what_the_kpis_need(database: Database, shop: Shop) -> None:
    cid = start_and_queue(database, shop)
    agent = shop.agents[0]
    t = shop.tenant_id
    with database.session() as db:
        do_send_message(
            db,
            cid,
            tenant_id=t,
            sender_kind=SenderKind.visitor,
            sender_id=None,
            body="快递丢了",
            now=T0 + timedelta(seconds=31),
        )
        do_accept_conversation(db, cid, tenant_id=t, agent_id=agent, now=T0 + timedelta(seconds=50))
        msg, dup = do_send_message(
            db,
            cid,
            tenant_id=t,
            sender_kind=SenderKind.agent,
            sender_id=agent,
            body="您好，我来帮您查",
            now=T0 + timedelta(seconds=58),
        )
        assert (msg.seq, dup) == (2, False)
        do_end_conversation(db, cid, tenant_id=t, ended_by="agent", actor_id=agent, now=T0 + timedelta(minutes=5))
        do_rate_conversation(db, cid, tenant_id=t, rating=5, comment="很快", now=T0 + timedelta(minutes=6))
    with database.session() as db:
        conv = db.get_one(Conversation, cid)
        assert conv.status is ConversationStatus.ended and conv.team_id == shop.team_id
        assert conv.accepted_at - conv.queued_at == timedelta(seconds=20)  # queue wait
        assert conv.first_response_at - conv.accepted_at == timedelta(seconds=8)  # first response time
        assert conv.ended_at - conv.accepted_at == timedelta(minutes=4, seconds=10)  # session duration
        assert conv.rating == 5
        kinds = list(db.scalars(select(Event.type).where(Event.conversation_id == cid).order_by(Event.id)))
        assert kinds == [
            "conversation.started",
            "conversation.queued",
            "message.sent",
            "conversation.accepted",
            "message.sent",
            "conversation.ended",
            "conversation.rated",
        ]
        accepted = db.scalars(select(Event).where(Event.type == "conversation.accepted")).one()
        assert accepted.payload["queue_wait_s"] == 20 and accepted.user_id == agent


def test_a_resend_with_the_same_client_id_is_stored_once(database: Database, shop: Shop) -> None:
    cid = start_and_queue(database, shop)
    with database.session() as db:
        first, dup1 = do_send_message(
            db,
            cid,
            tenant_id=shop.tenant_id,
            sender_kind=SenderKind.visitor,
            sender_id=None,
            body="在吗",
            client_msg_id="c-1",
        )
        again, dup2 = do_send_message(
            db,
            cid,
            tenant_id=shop.tenant_id,
            sender_kind=SenderKind.visitor,
            sender_id=None,
            body="在吗",
            client_msg_id="c-1",
        )
        assert (dup1, dup2) == (False, True) and again.id == first.id and again.seq == first.seq
        assert db.scalar(select(func.count()).select_from(Message)) == 1
        assert db.scalar(select(func.count()).select_from(Event).where(Event.type == "message.sent")) == 1


def test_exactly_one_of_many_racing_agents_accepts(database: Database, shop: Shop) -> None:
    for _ in range(5):
        cid = start_and_queue(database, shop)
        winners, losers = [], []
        barrier = threading.Barrier(len(shop.agents))

        def race(
            agent: int,
            cid: int = cid,
            barrier: threading.Barrier = barrier,
            winners: list[int] = winners,
            losers: list[int] = losers,
        ) -> None:
            with database.session() as db:
                barrier.wait()
                try:
                    do_accept_conversation(db, cid, tenant_id=shop.tenant_id, agent_id=agent)
                    winners.append(agent)
                except Conflict:
                    losers.append(agent)

        threads = [threading.Thread(target=race, args=(a,)) for a in shop.agents]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert len(winners) == 1 and len(losers) == len(shop.agents) - 1
        with database.session() as db:
            assert db.get_one(Conversation, cid).agent_id == winners[0]
            accepted = db.scalar(
                select(func.count())
                .select_from(Event)
                .where(Event.type == "conversation.accepted", Event.conversation_id == cid)
            )
            assert accepted == 1


def test_concurrent_senders_get_distinct_consecutive_sequence_numbers(database: Database, shop: Shop) -> None:
    cid = start_and_queue(database, shop)

    def send(i: int) -> None:
        with database.session() as db:
            do_send_message(
                db,
                cid,
                tenant_id=shop.tenant_id,
                sender_kind=SenderKind.visitor,
                sender_id=None,
                body=f"消息 {i}",
                client_msg_id=f"m-{i}",
            )

    threads = [threading.Thread(target=send, args=(i,)) for i in range(30)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    with database.session() as db:
        seqs = sorted(db.scalars(select(Message.seq).where(Message.conversation_id == cid)))
        assert seqs == list(range(1, 31))
        assert db.get_one(Conversation, cid).last_seq == 30


def test_the_rules_of_the_lifecycle(database: Database, shop: Shop) -> None:
    cid = start_and_queue(database, shop)
    t = shop.tenant_id
    a, b = shop.agents[:2]
    with database.session() as db:
        with pytest.raises(Conflict):  # queued already
            do_queue_conversation(db, cid, tenant_id=t, skill_group_id=shop.group_id)
        with pytest.raises(Conflict):  # nobody accepted yet
            do_send_message(db, cid, tenant_id=t, sender_kind=SenderKind.agent, sender_id=a, body="hi")
        do_accept_conversation(db, cid, tenant_id=t, agent_id=a)
        with pytest.raises(Conflict):  # not his
            do_send_message(db, cid, tenant_id=t, sender_kind=SenderKind.agent, sender_id=b, body="hi")
        with pytest.raises(Invalid):
            do_send_message(db, cid, tenant_id=t, sender_kind=SenderKind.visitor, sender_id=None, body="   ")
        with pytest.raises(Conflict):  # not ended yet
            do_rate_conversation(db, cid, tenant_id=t, rating=4)
        do_end_conversation(db, cid, tenant_id=t, ended_by="visitor")
        with pytest.raises(Conflict):
            do_send_message(db, cid, tenant_id=t, sender_kind=SenderKind.visitor, sender_id=None, body="还在吗")
        with pytest.raises(Invalid):
            do_rate_conversation(db, cid, tenant_id=t, rating=6)
        do_rate_conversation(db, cid, tenant_id=t, rating=1)
        with pytest.raises(Conflict):
            do_rate_conversation(db, cid, tenant_id=t, rating=5)


def test_abandoned_in_the_queue_is_marked_for_the_reception_rate(database: Database, shop: Shop) -> None:
    cid = start_and_queue(database, shop)
    with database.session() as db:
        do_end_conversation(db, cid, tenant_id=shop.tenant_id, ended_by="visitor", reason="left")
        ended = db.scalars(select(Event).where(Event.type == "conversation.ended")).one()
        assert ended.payload["abandoned_in_queue"] is True and ended.payload["was"] == "queued"
        with pytest.raises(Conflict):  # no agent: nothing to rate
            do_rate_conversation(db, cid, tenant_id=shop.tenant_id, rating=3)


def run_together(*fns):  # type: ignore[no-untyped-def]
    """Run the functions at the same moment in threads; return their results or exceptions."""
    barrier = threading.Barrier(len(fns))
    results: list[object] = [None] * len(fns)

    def go(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fns[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(fns))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return results


def in_session(database: Database, fn):  # type: ignore[no-untyped-def]
    def call():  # type: ignore[no-untyped-def]
        with database.session() as db:
            result = fn(db)
            return result if not isinstance(result, tuple) else (result[0].id, result[1])

    return call


def test_racing_changes_to_one_conversation_stay_consistent(database: Database, shop: Shop) -> None:
    t = shop.tenant_id
    for _ in range(3):
        cid = start_and_queue(database, shop)
        accept = in_session(
            database, lambda db, c=cid: do_accept_conversation(db, c, tenant_id=t, agent_id=shop.agents[0]).id
        )
        end = in_session(database, lambda db, c=cid: do_end_conversation(db, c, tenant_id=t, ended_by="visitor").id)
        run_together(accept, end)
        with database.session() as db:
            conv = db.get_one(Conversation, cid)
            ended = db.scalars(
                select(Event).where(Event.type == "conversation.ended", Event.conversation_id == cid)
            ).one()
            assert conv.status is ConversationStatus.ended
            if conv.agent_id is None:  # the visitor left first: the accept lost
                assert ended.payload["was"] == "queued" and ended.payload["abandoned_in_queue"]
            else:  # accepted first, then ended
                assert ended.payload["was"] == "active" and not ended.payload["abandoned_in_queue"]

        resend = in_session(
            database,
            lambda db, c=cid: do_send_message(
                db, c, tenant_id=t, sender_kind=SenderKind.system, sender_id=None, body="系统通知", client_msg_id="same"
            ),
        )
        results = run_together(resend, resend, resend)
        assert all(isinstance(r, tuple) for r in results), results
        assert len({r[0] for r in results}) == 1 and sorted(r[1] for r in results) == [False, True, True]

        if conv.agent_id is not None:
            rate = in_session(database, lambda db, c=cid: do_rate_conversation(db, c, tenant_id=t, rating=4).id)
            outcomes = run_together(rate, rate)
            assert sum(isinstance(o, Conflict) for o in outcomes) == 1
            with database.session() as db:
                rated = db.scalar(
                    select(func.count())
                    .select_from(Event)
                    .where(Event.type == "conversation.rated", Event.conversation_id == cid)
                )
                assert rated == 1


def test_a_double_request_for_a_person_queues_once(database: Database, shop: Shop) -> None:
    t = shop.tenant_id
    with database.session() as db:
        cid = do_start_conversation(db, tenant_id=t, channel_id=shop.channel_id, visitor_id=shop.visitor_id).id
    queue = in_session(
        database, lambda db: do_queue_conversation(db, cid, tenant_id=t, skill_group_id=shop.group_id).id
    )
    outcomes = run_together(queue, queue)
    assert sum(isinstance(o, Conflict) for o in outcomes) == 1


def test_routing_assigns_a_batch_skipping_what_is_no_longer_waiting(database: Database, shop: Shop) -> None:
    from kefu.actions.conversations import do_assign_conversations

    t = shop.tenant_id
    waiting, taken, left, twice = (start_and_queue(database, shop) for _ in range(4))
    with database.session() as db:
        do_accept_conversation(db, taken, tenant_id=t, agent_id=shop.agents[5])
        do_end_conversation(db, left, tenant_id=t, ended_by="visitor")
        now = T0 + timedelta(seconds=90)
        done = do_assign_conversations(
            db,
            [
                (waiting, shop.agents[0]),
                (taken, shop.agents[1]),
                (left, shop.agents[2]),
                (twice, shop.agents[3]),
                (twice, shop.agents[4]),  # the same conversation twice in one batch: the first wins
                (99_999, shop.agents[0]),
            ],
            tenant_id=t,
            now=now,
        )
        assert done == [waiting, twice]
    with database.session() as db:
        by_id = {c.id: c for c in db.scalars(select(Conversation))}
        assert by_id[waiting].agent_id == shop.agents[0] and by_id[waiting].status is ConversationStatus.active
        assert by_id[waiting].accepted_at == now and by_id[waiting].team_id == shop.team_id
        assert by_id[twice].agent_id == shop.agents[3]
        assert by_id[taken].agent_id == shop.agents[5] and by_id[left].status is ConversationStatus.ended
        accepted = db.scalars(select(Event).where(Event.type == "conversation.accepted", Event.payload.is_not(None)))
        routed = [e for e in accepted if e.payload.get("by") == "routing"]
        assert sorted(e.conversation_id for e in routed) == sorted([waiting, twice])
        assert {e.payload["queue_wait_s"] for e in routed} == {60.0}
