"""The conversation lifecycle: bot → queued → accepted → ended, messages with per-conversation sequence
numbers, and ratings. Channels (web chat, phone, e-mail, webhook) call these; routing decides who
accepts. Every step emits the event that carries the timestamps the KPI formulas need.

These are system-level actions (the caller is a channel or the router, which check who may do what);
``agent_id`` arguments are trusted to have been authorised by the caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from kefu.db.base import utcnow
from kefu.db.session import action
from kefu.errors import Conflict, Invalid, Msg, not_found
from kefu.events.record import emit
from kefu.models.channel import Channel
from kefu.models.conversation import Conversation, ConversationStatus, Message, MessageKind, SenderKind
from kefu.models.skill_group import SkillGroup
from kefu.models.staff import User
from kefu.models.team import TeamMembership
from kefu.models.visitor import Visitor

WAITING = (ConversationStatus.queued, ConversationStatus.offered)
MAX_BODY = 5000
ENDED_BY = frozenset({"agent", "visitor", "timeout", "supervisor", "system"})


def _conversation(db: Session, conversation_id: int, tenant_id: int) -> Conversation:
    conv = db.scalar(
        select(Conversation).where(Conversation.id == conversation_id, Conversation.tenant_id == tenant_id)
    )
    if conv is None:
        raise not_found("会话", "conversation")
    return conv


def _primary_team(db: Session, user_id: int) -> int | None:
    return db.scalar(select(func.min(TeamMembership.team_id)).where(TeamMembership.user_id == user_id))


@action
def do_start_conversation(
    db: Session, *, tenant_id: int, channel_id: int, visitor_id: int, now: datetime | None = None
) -> Conversation:
    now = now or utcnow()
    channel = db.scalar(select(Channel).where(Channel.id == channel_id, Channel.tenant_id == tenant_id))
    visitor = db.scalar(select(Visitor).where(Visitor.id == visitor_id, Visitor.tenant_id == tenant_id))
    if channel is None or not channel.enabled:
        raise not_found("渠道", "channel")
    if visitor is None:
        raise not_found("访客", "visitor")
    conv = Conversation(
        tenant_id=tenant_id,
        channel_id=channel.id,
        visitor_id=visitor.id,
        status=ConversationStatus.bot,
        priority=1 if visitor.is_vip else 0,
        created_at=now,
    )
    db.add(conv)
    db.flush()
    emit(
        db,
        "conversation.started",
        tenant_id=tenant_id,
        conversation_id=conv.id,
        occurred_at=now,
        payload={"channel_id": channel.id, "channel_kind": channel.kind.value, "visitor_id": visitor.id},
    )
    return conv


@action
def do_queue_conversation(
    db: Session,
    conversation_id: int,
    *,
    tenant_id: int,
    skill_group_id: int,
    priority: int | None = None,
    now: datetime | None = None,
) -> Conversation:
    """The visitor asked for a person (转人工): the conversation waits in the skill group's queue.
    ``queued_at`` is kept from the first request, so queue wait counts from when the visitor first asked."""
    now = now or utcnow()
    conv = _conversation(db, conversation_id, tenant_id)
    if conv.status is not ConversationStatus.bot:
        raise Conflict(
            Msg("会话不在机器人接待阶段，无法转人工", "the conversation is not with the bot"),
            code="conversation.not_in_bot",
        )
    group = db.scalar(select(SkillGroup).where(SkillGroup.id == skill_group_id, SkillGroup.tenant_id == tenant_id))
    if group is None:
        raise not_found("技能组", "skill group")
    conv.status = ConversationStatus.queued
    conv.skill_group_id = group.id
    conv.team_id = group.team_id
    conv.queued_at = conv.queued_at or now
    if priority is not None:
        conv.priority = priority
    emit(
        db,
        "conversation.queued",
        tenant_id=tenant_id,
        conversation_id=conv.id,
        team_id=group.team_id,
        occurred_at=now,
        payload={"skill_group_id": group.id, "priority": conv.priority},
    )
    return conv


@action
def do_accept_conversation(
    db: Session, conversation_id: int, *, tenant_id: int, agent_id: int, now: datetime | None = None
) -> Conversation:
    """An agent takes a waiting conversation. Exactly one agent wins, also across processes: the row is
    changed only if it is still waiting (compare-and-set), and a loser gets a clear conflict."""
    now = now or utcnow()
    agent = db.scalar(select(User).where(User.id == agent_id, User.tenant_id == tenant_id, User.is_active.is_(True)))
    if agent is None:
        raise not_found("坐席", "agent")
    team_id = _primary_team(db, agent.id)
    result: CursorResult[Any] = db.execute(  # type: ignore[assignment]
        update(Conversation)
        .where(
            Conversation.id == conversation_id, Conversation.tenant_id == tenant_id, Conversation.status.in_(WAITING)
        )
        .values(
            status=ConversationStatus.active,
            agent_id=agent.id,
            accepted_at=now,
            team_id=func.coalesce(team_id, Conversation.team_id),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        _conversation(db, conversation_id, tenant_id)  # 404 if it does not exist at all
        raise Conflict(
            Msg("该会话已被其他坐席接起或已结束", "the conversation was already taken or has ended"),
            code="conversation.taken",
        )
    conv = _conversation(db, conversation_id, tenant_id)
    db.refresh(conv)
    wait = (now - conv.queued_at).total_seconds() if conv.queued_at else None
    emit(
        db,
        "conversation.accepted",
        tenant_id=tenant_id,
        conversation_id=conv.id,
        team_id=conv.team_id,
        user_id=agent.id,
        actor_id=agent.id,
        occurred_at=now,
        payload={"skill_group_id": conv.skill_group_id, "queue_wait_s": wait},
    )
    return conv


@action
def do_send_message(
    db: Session,
    conversation_id: int,
    *,
    tenant_id: int,
    sender_kind: SenderKind,
    sender_id: int | None,
    body: str,
    kind: MessageKind = MessageKind.text,
    client_msg_id: str | None = None,
    attachment: dict[str, object] | None = None,
    now: datetime | None = None,
) -> tuple[Message, bool]:
    """Store a message with the next sequence number of its conversation; returns it and whether it was a
    resend (same ``client_msg_id`` from the same side), which is answered with the stored message."""
    now = now or utcnow()
    if client_msg_id is not None:
        existing = db.scalar(
            select(Message).where(
                Message.conversation_id == conversation_id,
                Message.sender_kind == sender_kind,
                Message.client_msg_id == client_msg_id,
                Message.tenant_id == tenant_id,
            )
        )
        if existing is not None:
            return existing, True
    if kind is MessageKind.text and not body.strip():
        raise Invalid(Msg("消息内容不能为空", "the message is empty"), code="message.empty")
    if len(body) > MAX_BODY:
        raise Invalid(
            Msg(f"消息过长（最多 {MAX_BODY} 字）", f"the message is too long (at most {MAX_BODY} characters)"),
            code="message.too_long",
        )
    conv = _conversation(db, conversation_id, tenant_id)
    if conv.status is ConversationStatus.ended and sender_kind is not SenderKind.system:
        raise Conflict(Msg("会话已结束", "the conversation has ended"), code="conversation.ended")
    if sender_kind is SenderKind.agent and (conv.status is not ConversationStatus.active or conv.agent_id != sender_id):
        raise Conflict(
            Msg("您不是该会话的接待坐席", "you are not serving this conversation"), code="conversation.not_yours"
        )
    # One statement takes the next number, so concurrent senders never share one.
    seq = db.execute(
        update(Conversation)
        .where(Conversation.id == conv.id)
        .values(last_seq=Conversation.last_seq + 1)
        .returning(Conversation.last_seq)
    ).scalar_one()
    msg = Message(
        tenant_id=tenant_id,
        conversation_id=conv.id,
        seq=seq,
        sender_kind=sender_kind,
        sender_id=sender_id,
        client_msg_id=client_msg_id,
        kind=kind,
        body=body,
        attachment=attachment,
        created_at=now,
    )
    db.add(msg)
    if sender_kind is SenderKind.agent and conv.first_response_at is None:
        conv.first_response_at = now
    db.flush()
    emit(
        db,
        "message.sent",
        tenant_id=tenant_id,
        conversation_id=conv.id,
        team_id=conv.team_id,
        user_id=conv.agent_id,
        actor_id=sender_id if sender_kind is SenderKind.agent else None,
        occurred_at=now,
        payload={
            "message_id": msg.id,
            "seq": seq,
            "sender_kind": sender_kind.value,
            "sender_id": sender_id,
            "kind": kind.value,
            "body": body,
        },
    )
    return msg, False


@action
def do_end_conversation(
    db: Session,
    conversation_id: int,
    *,
    tenant_id: int,
    ended_by: str,
    actor_id: int | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Conversation:
    now = now or utcnow()
    if ended_by not in ENDED_BY:
        raise Invalid(Msg("未知的结束方", "unknown ender"), code="conversation.bad_ender")
    conv = _conversation(db, conversation_id, tenant_id)
    if conv.status is ConversationStatus.ended:
        return conv
    was = conv.status
    conv.status = ConversationStatus.ended
    conv.ended_at = now
    conv.ended_by = ended_by
    conv.end_reason = reason
    emit(
        db,
        "conversation.ended",
        tenant_id=tenant_id,
        conversation_id=conv.id,
        team_id=conv.team_id,
        user_id=conv.agent_id,
        actor_id=actor_id,
        occurred_at=now,
        payload={
            "ended_by": ended_by,
            "reason": reason,
            "was": was.value,
            "abandoned_in_queue": was in WAITING,
            "skill_group_id": conv.skill_group_id,
        },
    )
    return conv


@action
def do_rate_conversation(
    db: Session,
    conversation_id: int,
    *,
    tenant_id: int,
    rating: int,
    comment: str | None = None,
    now: datetime | None = None,
) -> Conversation:
    now = now or utcnow()
    if not 1 <= rating <= 5:
        raise Invalid(Msg("评分须为 1–5 星", "the rating must be 1 to 5"), code="rating.range")
    conv = _conversation(db, conversation_id, tenant_id)
    if conv.status is not ConversationStatus.ended or conv.agent_id is None:
        raise Conflict(
            Msg("只能评价已结束的人工会话", "only an ended conversation with an agent can be rated"),
            code="rating.not_ratable",
        )
    if conv.rating is not None:
        raise Conflict(Msg("该会话已评价过", "the conversation was already rated"), code="rating.already")
    conv.rating = rating
    conv.rating_comment = (comment or "").strip()[:1000] or None
    emit(
        db,
        "conversation.rated",
        tenant_id=tenant_id,
        conversation_id=conv.id,
        team_id=conv.team_id,
        user_id=conv.agent_id,
        occurred_at=now,
        payload={"rating": rating},
    )
    return conv
