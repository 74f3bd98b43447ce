"""Storing messages, several at once: the hot path of live chat.

``do_send_messages`` stores a batch in one transaction with a fixed number of statements whatever its
size — lock the batch's conversations, look up resends, insert the messages, advance the conversations,
append the events — instead of a handful of statements and a SAVEPOINT per message. Each message still
gets its own outcome: one that is refused (empty, conversation ended, not yours) is answered with its
error and stores nothing, the others are stored. Within a conversation, messages get consecutive sequence
numbers in the order of the batch; a resend (same conversation, side and ``client_msg_id``), also one
inside the same batch, is answered with the stored message and not stored again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ARRAY, BigInteger, ColumnElement, Select, String, Table, any_, bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from kefu.db.base import utcnow
from kefu.db.bulk import insert_returning_ids, update_many
from kefu.db.session import action
from kefu.errors import Conflict, Invalid, KefuError, Msg, not_found
from kefu.events.record import NewEvent, emit_many
from kefu.models.conversation import Conversation, ConversationStatus, Message, MessageKind, SenderKind

MAX_BODY = 5000


@dataclass
class SendRequest:
    conversation_id: int
    tenant_id: int
    sender_kind: SenderKind
    sender_id: int | None
    body: str
    kind: MessageKind = MessageKind.text
    client_msg_id: str | None = None
    attachment: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None


@dataclass(frozen=True)
class Stored:
    """What a sender is told once the message is committed."""

    message_id: int
    conversation_id: int
    seq: int
    created_at: datetime
    duplicate: bool
    client_msg_id: str | None


def _check_body(r: SendRequest) -> KefuError | None:
    if r.kind is MessageKind.text and not r.body.strip():
        return Invalid(Msg("消息内容不能为空", "the message is empty"), code="message.empty")
    if len(r.body) > MAX_BODY:
        return Invalid(
            Msg(f"消息过长（最多 {MAX_BODY} 字）", f"the message is too long (at most {MAX_BODY} characters)"),
            code="message.too_long",
        )
    return None


@dataclass
class _Conv:
    id: int
    tenant_id: int
    status: ConversationStatus
    agent_id: int | None
    team_id: int | None
    last_seq: int
    first_response_at: datetime | None
    changed: bool = False
    last_message_at: datetime | None = None


_CONVERSATIONS = cast(Table, Conversation.__table__)
_MESSAGES = cast(Table, Message.__table__)


def _in_list(column: ColumnElement[Any], name: str, *, array_of: TypeEngine[Any] | None) -> ColumnElement[bool]:
    """``column IN (…)``: on PostgreSQL ``= ANY(:name)`` with one array parameter, so that the statement's
    text is the same whatever the list's length and psycopg prepares it once (an expanding ``IN`` is new
    text for every length); elsewhere an expanding ``IN``."""
    if array_of is not None:
        return column == any_(bindparam(name, type_=ARRAY(array_of)))
    return column.in_(bindparam(name, expanding=True))


def _statements(postgres: bool) -> tuple[Select[Any], Select[Any]]:
    ids_type = BigInteger() if postgres else None
    cmids_type = String() if postgres else None
    # Locked in id order, so that two batches never wait on each other in a cycle (PostgreSQL; on SQLite
    # the write transaction already excludes other writers).
    lock = (
        select(
            _CONVERSATIONS.c.id,
            _CONVERSATIONS.c.tenant_id,
            _CONVERSATIONS.c.status,
            _CONVERSATIONS.c.agent_id,
            _CONVERSATIONS.c.team_id,
            _CONVERSATIONS.c.last_seq,
            _CONVERSATIONS.c.first_response_at,
        )
        .where(_in_list(_CONVERSATIONS.c.id, "ids", array_of=ids_type))
        .order_by(_CONVERSATIONS.c.id)
        .with_for_update()
    )
    # Stored messages that a request may be a resend of (a superset: matched exactly by key in Python).
    resends = select(
        _MESSAGES.c.id,
        _MESSAGES.c.conversation_id,
        _MESSAGES.c.sender_kind,
        _MESSAGES.c.client_msg_id,
        _MESSAGES.c.seq,
        _MESSAGES.c.created_at,
    ).where(
        _in_list(_MESSAGES.c.conversation_id, "ids", array_of=ids_type),
        _in_list(_MESSAGES.c.client_msg_id, "cmids", array_of=cmids_type),
    )
    return lock, resends


# Built once per kind of database (not per batch: building and coercing them cost more than running them).
_STATEMENTS = {False: _statements(False), True: _statements(True)}


@action
def do_send_messages(
    db: Session, requests: list[SendRequest], *, now: datetime | None = None
) -> list[Stored | KefuError]:
    """Store the messages of ``requests``; each one's outcome, in order."""
    now = now or utcnow()
    out: list[Stored | KefuError | None] = [_check_body(r) for r in requests]
    ids = sorted({r.conversation_id for r, o in zip(requests, out, strict=True) if o is None})
    connection = db.connection()
    lock_conversations, find_resends = _STATEMENTS[connection.dialect.name == "postgresql"]
    convs = {
        row.id: _Conv(row.id, row.tenant_id, row.status, row.agent_id, row.team_id, row.last_seq, row.first_response_at)
        for row in connection.execute(lock_conversations, {"ids": ids})
    }
    cmids = sorted({r.client_msg_id for r in requests if r.client_msg_id is not None})
    stored: dict[tuple[int, SenderKind, str | None], Stored] = {}
    if cmids and ids:
        for m in connection.execute(find_resends, {"ids": ids, "cmids": cmids}):
            stored[(m.conversation_id, m.sender_kind, m.client_msg_id)] = Stored(
                m.id, m.conversation_id, m.seq, m.created_at, True, m.client_msg_id
            )

    new: list[tuple[int, dict[str, Any]]] = []
    pending: dict[tuple[int, SenderKind, str | None], int] = {}  # resends within the batch -> index of first
    for i, r in enumerate(requests):
        if out[i] is not None:
            continue
        conv = convs.get(r.conversation_id)
        if conv is None or conv.tenant_id != r.tenant_id:
            out[i] = not_found("会话", "conversation")
            continue
        key = (r.conversation_id, r.sender_kind, r.client_msg_id)
        if r.client_msg_id is not None:
            if key in stored:
                out[i] = stored[key]
                continue
            if key in pending:
                continue  # answered below, with the first one's outcome
        if conv.status is ConversationStatus.ended and r.sender_kind is not SenderKind.system:
            out[i] = Conflict(Msg("会话已结束", "the conversation has ended"), code="conversation.ended")
            continue
        if r.sender_kind is SenderKind.agent and (
            conv.status is not ConversationStatus.active or conv.agent_id != r.sender_id
        ):
            out[i] = Conflict(
                Msg("您不是该会话的接待坐席", "you are not serving this conversation"), code="conversation.not_yours"
            )
            continue
        conv.last_seq += 1
        conv.changed = True
        if r.sender_kind is SenderKind.agent and conv.first_response_at is None:
            conv.first_response_at = now
        if r.sender_kind is not SenderKind.system:
            conv.last_message_at = now
        new.append(
            (
                i,
                {
                    "tenant_id": r.tenant_id,
                    "conversation_id": conv.id,
                    "seq": conv.last_seq,
                    "sender_kind": r.sender_kind,
                    "sender_id": r.sender_id,
                    "client_msg_id": r.client_msg_id,
                    "kind": r.kind,
                    "body": r.body,
                    "attachment": r.attachment,
                    "meta": r.meta,
                    "created_at": now,
                },
            )
        )
        if r.client_msg_id is not None:
            pending[key] = i
    if not new:
        return _finish(requests, out, pending)

    # Plain rows through Core, not ORM objects: this is the hot path (kefu.db.bulk).
    ids = insert_returning_ids(db, _MESSAGES, [row for _, row in new])
    changed = [c for c in convs.values() if c.changed]
    update_many(
        connection,
        _CONVERSATIONS,
        [
            {
                "id": c.id,
                "last_seq": c.last_seq,
                "first_response_at": c.first_response_at,
                "last_message_at": c.last_message_at,
            }
            for c in changed
        ],
    )
    events: list[NewEvent] = []
    for (i, row), message_id in zip(new, ids, strict=True):
        conv = convs[row["conversation_id"]]
        sender_kind: SenderKind = row["sender_kind"]
        events.append(
            NewEvent(
                type="message.sent",
                tenant_id=row["tenant_id"],
                conversation_id=conv.id,
                team_id=conv.team_id,
                user_id=conv.agent_id,
                actor_id=row["sender_id"] if sender_kind is SenderKind.agent else None,
                occurred_at=now,
                payload={
                    "message_id": message_id,
                    "seq": row["seq"],
                    "sender_kind": sender_kind.value,
                    "sender_id": row["sender_id"],
                    "kind": row["kind"].value,
                    "body": row["body"],
                    "attachment": row["attachment"],
                    "meta": row["meta"],
                    "client_msg_id": row["client_msg_id"],
                    "created_at": now.isoformat(),
                },
            )
        )
        out[i] = Stored(message_id, conv.id, row["seq"], now, False, row["client_msg_id"])
    emit_many(db, events)
    # The conversations were changed behind the ORM's back; objects already loaded must not be trusted.
    changed_ids = {c.id for c in changed}
    for obj in list(db.identity_map.values()):
        if isinstance(obj, Conversation) and obj.id in changed_ids:
            db.expire(obj)
    return _finish(requests, out, pending)


def _finish(
    requests: list[SendRequest],
    out: list[Stored | KefuError | None],
    pending: dict[tuple[int, SenderKind, str | None], int],
) -> list[Stored | KefuError]:
    done: list[Stored | KefuError] = []
    for r, o in zip(requests, out, strict=True):
        if o is None:  # a resend of a message earlier in this batch
            first = out[pending[(r.conversation_id, r.sender_kind, r.client_msg_id)]]
            assert isinstance(first, Stored)
            o = Stored(first.message_id, first.conversation_id, first.seq, first.created_at, True, first.client_msg_id)
        done.append(o)
    return done
