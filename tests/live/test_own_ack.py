"""The sending socket's own message comes in its ``ack``, in seq order with everything else the socket is
sent, whichever comes first: the writer's answer or the message's event (kefu.live.hub ``Connection``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from kefu.actions.messages import SendRequest, Stored
from kefu.events.envelope import EventEnvelope
from kefu.live.hub import Connection
from kefu.models.conversation import SenderKind

AT = datetime(2026, 11, 11, 1, 0, tzinfo=UTC)


class Writer:
    """Stands in for the message writer: the test decides when a send is stored."""

    def __init__(self) -> None:
        self.pending: asyncio.Future[Stored] | None = None

    async def send(self, request: SendRequest) -> Stored:
        self.pending = asyncio.get_running_loop().create_future()
        return await self.pending


def event(seq: int, cmid: str, sender: str = "visitor") -> EventEnvelope:
    payload = {"message_id": 100 + seq, "seq": seq, "sender_kind": sender, "sender_id": 7, "kind": "text"}
    payload |= {"body": f"#{seq}", "client_msg_id": cmid, "created_at": AT.isoformat()}
    return EventEnvelope(id=seq, tenant_id=1, type="message.sent", occurred_at=AT, conversation_id=5, payload=payload)


def stored(seq: int, cmid: str) -> Stored:
    return Stored(100 + seq, 5, seq, AT, False, cmid)


def sent(conn: Connection) -> list[dict[str, Any]]:
    return [f for f in conn._early or [] if isinstance(f, dict)]  # frames pushed before the socket starts


async def scenario(event_first: bool) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    conn = Connection(websocket=None, tenant_id=1)  # type: ignore[arg-type]
    writer = Writer()
    request = SendRequest(5, 1, SenderKind.visitor, 7, "#3", client_msg_id="c3")
    task = asyncio.create_task(conn.store(writer, request, ref="r3"))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert writer.pending is not None
    if event_first:
        assert conn.own_message(event(3, "c3"))  # the hub sends the ack in the message's place
        assert not conn.own_message(event(4, "a4", sender="agent"))  # the next message: not ours
        conn.push({"type": "message", "seq": 4})
        writer.pending.set_result(stored(3, "c3"))
        reply = await task
    else:
        writer.pending.set_result(stored(3, "c3"))
        reply = await task
        assert reply is not None
        conn.push(reply)
        assert conn.own_message(event(3, "c3"))  # its message frame is not sent
        assert not conn.own_message(event(4, "a4", sender="agent"))
        conn.push({"type": "message", "seq": 4})
    return reply, sent(conn)


def test_an_event_before_the_writers_answer_sends_the_ack_in_its_place() -> None:
    reply, frames = asyncio.run(scenario(event_first=True))
    assert reply is None  # nothing more to send: the ack is out
    assert [(f["type"], f["seq"]) for f in frames] == [("ack", 3), ("message", 4)]
    ack = frames[0]
    assert ack["ref"] == "r3" and ack["client_msg_id"] == "c3" and ack["duplicate"] is False
    assert ack["message"]["body"] == "#3" and ack["message_id"] == 103


def test_the_writers_answer_before_the_event_is_the_ack_and_the_event_is_not_echoed() -> None:
    reply, frames = asyncio.run(scenario(event_first=False))
    assert reply is not None and reply["type"] == "ack" and reply["seq"] == 3
    assert [(f["type"], f["seq"]) for f in frames] == [("ack", 3), ("message", 4)]
