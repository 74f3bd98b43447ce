"""The message writers (kefu.live.writer): the thread writer and the process writer store alike, answer
each message with its own outcome, publish the events after the commit, and a writer process that dies
loses nothing acknowledged and is replaced."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from kefu.actions.conversations import do_end_conversation, do_start_conversation
from kefu.actions.messages import SendRequest, Stored
from kefu.actions.visitors import do_open_visitor
from kefu.db.session import Database
from kefu.errors import Conflict, Msg
from kefu.events.bus import Subscription
from kefu.events.envelope import EventEnvelope
from kefu.live.writer import (
    BatchingWriter,
    MessageWriter,
    ProcessMessageWriter,
    WriterUnavailable,
    dump_reply,
    dump_requests,
    load_reply,
    load_requests,
    make_writer,
)
from kefu.models.conversation import Message, MessageKind, SenderKind
from tests.live.ws import Shop


@pytest.fixture(params=["thread", "process"])
def writer(request: pytest.FixtureRequest, database: Database) -> Iterator[BatchingWriter]:
    w = make_writer(database, request.param)
    assert isinstance(w, ProcessMessageWriter if request.param == "process" else MessageWriter)
    w.start()
    yield w
    w.stop()


def open_conversation(database: Database, shop: Shop) -> tuple[int, int]:
    with database.session() as db:
        visitor = do_open_visitor(db, widget_key=shop.widget_key, secret_key="k").visitor.id
        cid = do_start_conversation(db, tenant_id=shop.tenant_id, channel_id=shop.channel_id, visitor_id=visitor).id
    return cid, visitor


def text(cid: int, tenant_id: int, visitor: int, cmid: str, body: str = "你好") -> SendRequest:
    return SendRequest(cid, tenant_id, SenderKind.visitor, visitor, body, client_msg_id=cmid)


async def message_events(sub: Subscription) -> list[str]:
    """The client_msg_ids of the message events that come until none has come for two seconds."""
    seen: list[str] = []
    while True:
        try:
            event = await sub.get(timeout=2)
        except TimeoutError:
            return seen
        if event.type == "message.sent":
            seen.append(event.payload["client_msg_id"])


def test_both_writers_store_in_order_answer_each_message_and_publish_its_event(
    database: Database, shop: Shop, writer: BatchingWriter
) -> None:
    cid, visitor = open_conversation(database, shop)
    other_cid, other_visitor = open_conversation(database, shop)
    with database.session() as db:
        do_end_conversation(db, other_cid, tenant_id=shop.tenant_id, ended_by="visitor")

    async def run() -> tuple[list[Stored | BaseException], list[str]]:
        requests = [text(cid, shop.tenant_id, visitor, f"c{i}", f"第{i}条") for i in range(50)]
        requests.append(text(cid, shop.tenant_id, visitor, "c7"))  # a resend
        requests.append(text(other_cid, shop.tenant_id, other_visitor, "late"))  # to an ended conversation
        await database.bus.start()
        try:
            with contextlib.closing(database.bus.subscribe()) as sub:  # before anything commits
                outcomes = await asyncio.gather(*(writer.send(r) for r in requests), return_exceptions=True)
                return outcomes, await message_events(sub)
        finally:
            await database.bus.stop()

    outcomes, events = asyncio.run(run())
    stored = [o for o in outcomes[:50] if isinstance(o, Stored)]
    assert [s.seq for s in stored] == list(range(1, 51))
    assert all(not s.duplicate for s in stored)
    resend = outcomes[50]
    assert isinstance(resend, Stored) and resend.duplicate and resend.seq == 8
    refused = outcomes[51]
    assert isinstance(refused, Conflict) and refused.code == "conversation.ended"
    assert refused.msg.zh == "会话已结束"
    assert events == [f"c{i}" for i in range(50)]
    with database.session() as db:
        rows = db.scalars(select(Message).where(Message.conversation_id == cid).order_by(Message.seq)).all()
        assert [(m.seq, m.client_msg_id, m.body) for m in rows] == [(i + 1, f"c{i}", f"第{i}条") for i in range(50)]


def test_a_killed_writer_process_answers_not_saved_and_a_new_one_takes_the_next_batch(
    database: Database, shop: Shop
) -> None:
    cid, visitor = open_conversation(database, shop)
    writer = ProcessMessageWriter(database)
    writer.start()
    try:
        first = asyncio.run(writer.send(text(cid, shop.tenant_id, visitor, "before")))
        assert first.seq == 1
        assert writer._process is not None and writer._process.pid is not None
        os.kill(writer._process.pid, signal.SIGKILL)
        writer._process.wait(5)
        with pytest.raises(WriterUnavailable) as lost:
            asyncio.run(writer.send(text(cid, shop.tenant_id, visitor, "during")))
        assert lost.value.code == "storage.unavailable"
        # The sender resends with the same client_msg_id; a new process stores it exactly once.
        again = asyncio.run(writer.send(text(cid, shop.tenant_id, visitor, "during")))
        assert (again.seq, again.duplicate) == (2, False)
    finally:
        writer.stop()
    assert writer._process is None
    with database.session() as db:
        count = db.scalar(select(func.count()).select_from(Message).where(Message.conversation_id == cid))
    assert count == 2


def test_the_writer_process_ends_with_its_parent_and_refuses_after_stop(database: Database) -> None:
    writer = ProcessMessageWriter(database)
    writer.start()
    process = writer._process
    assert process is not None and process.poll() is None
    writer.stop()
    assert process.poll() is not None  # it has exited
    with pytest.raises(WriterUnavailable):
        asyncio.run(writer.send(text(1, 1, 1, "x")))


def test_what_crosses_the_pipe_comes_back_equal() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    requests = [
        SendRequest(
            3, 1, SenderKind.agent, 9, "<b>不是标记</b>", MessageKind.image, "c1", {"url": "/u/1.png"}, {"x": 1}
        ),
        SendRequest(4, 1, SenderKind.visitor, None, "hi"),
    ]
    assert load_requests(dump_requests(requests)) == requests
    outcomes = [Stored(10, 3, 5, now, False, "c1"), Conflict(Msg("会话已结束", "ended"), code="conversation.ended")]
    envelope = EventEnvelope(7, 1, "message.sent", now, None, 2, 9, 3, {"body": "hi", "seq": 5})
    back, events = load_reply(dump_reply(outcomes, [envelope]))
    assert back is not None and back[0] == outcomes[0]
    error = back[1]
    assert isinstance(error, Conflict) and error.code == "conversation.ended" and error.msg.en == "ended"
    assert events == [envelope]
    assert load_reply(dump_reply(None, [])) == (None, [])


def test_an_in_memory_database_gets_the_thread_writer(database: Database) -> None:
    from kefu.db.engine import make_engine

    memory = Database(make_engine("sqlite://"), database.bus)
    assert isinstance(make_writer(memory, "process"), MessageWriter)
    assert isinstance(make_writer(database, "thread"), MessageWriter)
