"""The conversation lifecycle: bot → queued → accepted → ended, messages with per-conversation sequence
numbers, and ratings. Channels (web chat, phone, e-mail, webhook) call these; routing decides who
accepts. Every step emits the event that carries the timestamps the KPI formulas need.

These are system-level actions (the caller is a channel or the router, which check who may do what);
``agent_id`` arguments are trusted to have been authorised by the caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from kefu.db.base import utcnow
from kefu.db.session import action
from kefu.errors import Conflict, Invalid, KefuError, Msg, not_found
from kefu.events.record import emit
from kefu.models.channel import Channel
from kefu.models.conversation import Conversation, ConversationStatus, Message, MessageKind, SenderKind
from kefu.models.skill_group import DistributionMode, SkillGroup, SkillGroupAgent
from kefu.models.staff import User
from kefu.models.team import TeamMembership
from kefu.models.visitor import Visitor

WAITING = (ConversationStatus.queued, ConversationStatus.offered)
MAX_BODY = 5000
ENDED_BY = frozenset({"agent", "visitor", "timeout", "supervisor", "system"})


def _conversation(db: Session, conversation_id: int, tenant_id: int, *, lock: bool = False) -> Conversation:
    """The conversation; with ``lock``, its row is locked for this transaction and read fresh, so that
    concurrent changes to one conversation (accept, end, queue, rate, messages) happen one after another.
    (On SQLite the write transaction already excludes every other writer.)"""
    query = select(Conversation).where(Conversation.id == conversation_id, Conversation.tenant_id == tenant_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    conv = db.scalar(query)
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
    reason: str = "visitor",
    now: datetime | None = None,
) -> Conversation:
    """The visitor asked for a person (转人工): the conversation waits in the skill group's queue.
    ``queued_at`` is kept from the first request, so queue wait counts from when the visitor first asked.
    ``reason`` (in the event, for the bot's hand-over rate): ``visitor`` (he asked), ``bot_handover`` (the
    bot gave up after its misses, or he asked in words), ``no_bot`` (the channel has no bot)."""
    now = now or utcnow()
    conv = _conversation(db, conversation_id, tenant_id, lock=True)
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
        payload={"skill_group_id": group.id, "priority": conv.priority, "reason": reason},
    )
    return conv


@action
def do_accept_conversation(
    db: Session,
    conversation_id: int,
    *,
    tenant_id: int,
    agent_id: int,
    by: str = "agent",
    now: datetime | None = None,
) -> Conversation:
    """An agent takes a waiting conversation (``by``: ``grab``, ``routing`` when the router assigned it, or
    ``agent``). Exactly one agent wins, also across processes: the row is changed only if it is still
    waiting (compare-and-set), and a loser gets a clear conflict."""
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
            # A conversation transferred back to a queue keeps its first acceptance for the KPIs.
            accepted_at=func.coalesce(Conversation.accepted_at, now),
            team_id=func.coalesce(team_id, Conversation.team_id),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        _conversation(db, conversation_id, tenant_id)  # 404 if it does not exist at all
        raise _taken()
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
        payload={"skill_group_id": conv.skill_group_id, "queue_wait_s": wait, "by": by},
    )
    return conv


def _taken() -> Conflict:
    return Conflict(
        Msg("该会话已被其他坐席接起或已结束", "the conversation was already taken or has ended"),
        code="conversation.taken",
    )


def no_longer_waiting(db: Session, conversation_id: int, tenant_id: int, agent_id: int) -> Conflict | None:
    """Read only, before a grab: the conflict a grab of a conversation that no longer waits would end in.
    In a grab race all but one agent lose; telling them from a read spares each loser a write transaction
    (on SQLite, a turn of the one write lock that the winner and the message writer are waiting for). The
    grab itself still decides by compare-and-set, so a stale read never makes two winners. Only an agent of
    the conversation's broadcast-grab group hears it was taken; anyone else gets the grab's own answer."""
    status = db.scalar(
        select(Conversation.status).where(
            Conversation.id == conversation_id,
            Conversation.tenant_id == tenant_id,
            select(SkillGroupAgent.user_id)
            .where(SkillGroupAgent.skill_group_id == Conversation.skill_group_id, SkillGroupAgent.user_id == agent_id)
            .exists(),
            select(SkillGroup.id)
            .where(SkillGroup.id == Conversation.skill_group_id, SkillGroup.mode == DistributionMode.broadcast_grab)
            .exists(),
        )
    )
    return _taken() if status is not None and status not in WAITING else None


@action
def do_grab_conversation(
    db: Session, conversation_id: int, *, tenant_id: int, agent_id: int, now: datetime | None = None
) -> Conversation:
    """抢单: an agent grabs a conversation waiting in one of his groups. He must be online with room; the
    agent row is locked so that two grabs by one agent never take him past his capacity, and the
    conversation's compare-and-set makes exactly one of several agents win."""
    now = now or utcnow()
    agent = db.scalar(
        select(User)
        .where(User.id == agent_id, User.tenant_id == tenant_id, User.is_active.is_(True))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if agent is None:
        raise not_found("坐席", "agent")
    if agent.agent_status != "online":
        raise Conflict(Msg("请先将状态设为在线", "set your status to online first"), code="agent.not_online")
    if open_load(db, agent.id) >= agent.max_concurrent:
        raise Conflict(
            Msg(
                f"已达最大接待量（{agent.max_concurrent}）", f"you already serve your maximum ({agent.max_concurrent})"
            ),
            code="agent.full",
        )
    member = select(SkillGroupAgent.user_id).where(
        SkillGroupAgent.skill_group_id == Conversation.skill_group_id, SkillGroupAgent.user_id == agent.id
    )
    grab_group = select(SkillGroup.id).where(
        SkillGroup.id == Conversation.skill_group_id, SkillGroup.mode == DistributionMode.broadcast_grab
    )
    in_group = db.scalar(
        select(Conversation.id).where(
            Conversation.id == conversation_id,
            Conversation.tenant_id == tenant_id,
            member.exists(),
            grab_group.exists(),
        )
    )
    if in_group is None:
        _conversation(db, conversation_id, tenant_id)  # 404 when it does not exist
        raise Conflict(
            Msg("该会话不在您的抢单技能组中", "the conversation is not waiting in one of your broadcast-grab groups"),
            code="grab.not_member",
        )
    return do_accept_conversation(db, conversation_id, tenant_id=tenant_id, agent_id=agent.id, by="grab", now=now)


def open_load(db: Session, agent_id: int) -> int:
    """How many conversations the agent serves now."""
    return (
        db.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.agent_id == agent_id, Conversation.status == ConversationStatus.active)
        )
        or 0
    )


@action
def do_assign_conversations(
    db: Session, assignments: list[tuple[int, int]], *, tenant_id: int, now: datetime | None = None
) -> list[int]:
    """The router's decisions (conversation id, agent id), written in one transaction with a fixed number
    of statements: the conversations still waiting are locked and assigned, the others (the visitor left,
    an agent grabbed it) are skipped without undoing the rest — the same compare-and-set as an accept, for
    a whole batch. Returns the conversation ids that were assigned."""
    now = now or utcnow()
    if not assignments:
        return []
    agent_ids = {a for _, a in assignments}
    agents = set(
        db.scalars(select(User.id).where(User.id.in_(agent_ids), User.tenant_id == tenant_id, User.is_active.is_(True)))
    )
    teams = dict(
        db.execute(
            select(TeamMembership.user_id, func.min(TeamMembership.team_id))
            .where(TeamMembership.user_id.in_(agents))
            .group_by(TeamMembership.user_id)
        ).all()
    )
    waiting = {
        row.id: row
        for row in db.execute(
            select(
                Conversation.id,
                Conversation.team_id,
                Conversation.skill_group_id,
                Conversation.queued_at,
                Conversation.accepted_at,
            )
            .where(
                Conversation.id.in_([c for c, _ in assignments]),
                Conversation.tenant_id == tenant_id,
                Conversation.status.in_(WAITING),
            )
            .order_by(Conversation.id)
            .with_for_update()
        )
    }
    rows: list[dict[str, Any]] = []
    done: list[int] = []
    for conversation_id, agent_id in assignments:
        conv = waiting.pop(conversation_id, None)  # popped: a conversation is assigned at most once
        if conv is None or agent_id not in agents:
            continue
        team_id = teams.get(agent_id) or conv.team_id
        rows.append({"cid": conversation_id, "agent": agent_id, "at": conv.accepted_at or now, "team": team_id})
        done.append(conversation_id)
        emit(
            db,
            "conversation.accepted",
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            team_id=team_id,
            user_id=agent_id,
            actor_id=agent_id,
            occurred_at=now,
            payload={
                "skill_group_id": conv.skill_group_id,
                "queue_wait_s": (now - conv.queued_at).total_seconds() if conv.queued_at else None,
                "by": "routing",
            },
        )
    if rows:
        table = cast(Table, Conversation.__table__)
        db.execute(
            update(table)
            .where(table.c.id == bindparam("cid"))
            .values(
                status=ConversationStatus.active.value,
                agent_id=bindparam("agent"),
                accepted_at=bindparam("at"),
                team_id=bindparam("team"),
            ),
            rows,
        )
        assigned = set(done)
        for obj in list(db.identity_map.values()):
            if isinstance(obj, Conversation) and obj.id in assigned:
                db.expire(obj)
    return done


@action
def do_transfer_conversation(
    db: Session,
    conversation_id: int,
    *,
    tenant_id: int,
    actor_id: int | None,
    to_agent_id: int | None = None,
    to_group_id: int | None = None,
    note: str = "",
    now: datetime | None = None,
) -> Conversation:
    """Transfer (转接) a conversation being served to another agent, or back to a skill group's queue,
    with a note for whoever takes it. The caller checked that ``actor_id`` may (the serving agent, or a
    supervisor in scope)."""
    now = now or utcnow()
    if (to_agent_id is None) == (to_group_id is None):
        raise Invalid(
            Msg("请选择转接到坐席或技能组（二选一）", "transfer to either an agent or a group"), code="transfer.target"
        )
    note = note.strip()
    if len(note) > 500:
        raise Invalid(Msg("转接备注最多 500 字", "the note is at most 500 characters"), code="transfer.note_too_long")
    conv = _conversation(db, conversation_id, tenant_id, lock=True)
    if conv.status is not ConversationStatus.active:
        raise Conflict(
            Msg("只能转接正在接待的会话", "only a conversation being served can be transferred"),
            code="transfer.not_active",
        )
    from_agent = conv.agent_id
    payload: dict[str, Any] = {"from_agent_id": from_agent, "note": note, "from_group_id": conv.skill_group_id}
    if to_agent_id is not None:
        if to_agent_id == from_agent:
            raise Invalid(Msg("不能转接给自己", "you cannot transfer to yourself"), code="transfer.self")
        agent = db.scalar(
            select(User).where(
                User.id == to_agent_id,
                User.tenant_id == tenant_id,
                User.is_active.is_(True),
                User.deleted_at.is_(None),
            )
        )
        if agent is None:
            raise not_found("坐席", "agent")
        if agent.agent_status not in ("online", "busy"):
            raise Conflict(
                Msg(f"{agent.display_name} 当前不在线或已离开", f"{agent.display_name} is not available now"),
                code="transfer.unavailable",
            )
        if open_load(db, agent.id) >= agent.max_concurrent:
            raise Conflict(
                Msg(f"{agent.display_name} 已达最大接待量", f"{agent.display_name} already serves his maximum"),
                code="transfer.full",
            )
        conv.agent_id = agent.id
        conv.team_id = _primary_team(db, agent.id) or conv.team_id
        payload |= {"to_agent_id": agent.id, "to_group_id": None}
    else:
        group = db.scalar(select(SkillGroup).where(SkillGroup.id == to_group_id, SkillGroup.tenant_id == tenant_id))
        if group is None:
            raise not_found("技能组", "skill group")
        conv.status = ConversationStatus.queued
        conv.agent_id = None
        conv.skill_group_id = group.id
        conv.team_id = group.team_id
        payload |= {"to_agent_id": None, "to_group_id": group.id, "priority": conv.priority}
    emit(
        db,
        "conversation.transferred",
        tenant_id=tenant_id,
        conversation_id=conv.id,
        team_id=conv.team_id,
        user_id=conv.agent_id if conv.agent_id is not None else from_agent,
        actor_id=actor_id,
        occurred_at=now,
        payload=payload,
    )
    return conv


@action
def do_overflow_conversation(
    db: Session, conversation_id: int, *, tenant_id: int, to_group_id: int, now: datetime | None = None
) -> Conversation | None:
    """溢出: a waiting conversation moves to another group; its ``queued_at`` (and so its place in time and
    the wait KPIs) is kept. None when it is no longer waiting."""
    now = now or utcnow()
    conv = _conversation(db, conversation_id, tenant_id, lock=True)
    if conv.status not in WAITING:
        return None
    group = db.scalar(select(SkillGroup).where(SkillGroup.id == to_group_id, SkillGroup.tenant_id == tenant_id))
    if group is None:
        raise not_found("技能组", "skill group")
    from_group = conv.skill_group_id
    conv.skill_group_id = group.id
    conv.team_id = group.team_id
    emit(
        db,
        "conversation.overflowed",
        tenant_id=tenant_id,
        conversation_id=conv.id,
        team_id=group.team_id,
        occurred_at=now,
        payload={"from_group_id": from_group, "to_group_id": group.id, "priority": conv.priority},
    )
    return conv


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
    attachment: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> tuple[Message, bool]:
    """Store one message with the next sequence number of its conversation; returns it and whether it was
    a resend (same ``client_msg_id`` from the same side), which is answered with the stored message.
    (One message through :func:`kefu.actions.messages.do_send_messages`, the batch path live chat uses.)"""
    from kefu.actions.messages import SendRequest, do_send_messages

    request = SendRequest(conversation_id, tenant_id, sender_kind, sender_id, body, kind, client_msg_id, attachment)
    (outcome,) = do_send_messages(db, [request], now=now)
    if isinstance(outcome, KefuError):
        raise outcome
    return db.get_one(Message, outcome.message_id), outcome.duplicate


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
    conv = _conversation(db, conversation_id, tenant_id, lock=True)
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
    conv = _conversation(db, conversation_id, tenant_id, lock=True)
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
