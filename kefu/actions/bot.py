"""The bot's state changes: its reply in a conversation, and the visitor's feedback on an answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.actions.kb import do_record_pick, do_record_unanswered
from kefu.actions.messages import SendRequest, Stored, do_send_messages
from kefu.bot.turn import Reply
from kefu.db.base import utcnow
from kefu.db.session import action
from kefu.errors import Conflict, KefuError, Msg, not_found
from kefu.events.record import emit
from kefu.models.conversation import Conversation, ConversationStatus, Message, SenderKind
from kefu.models.kb import LearningReason


@action
def do_bot_reply(
    db: Session, conversation_id: int, *, tenant_id: int, reply: Reply, now: datetime | None = None
) -> Stored | None:
    """Store the bot's ``reply`` in a conversation that is still with the bot (None when it is not any
    more: the visitor went to a person meanwhile), with a ``bot.replied`` event; a question it could not
    answer goes to the learning queue in the same transaction."""
    now = now or utcnow()
    status = db.scalar(
        select(Conversation.status)
        .where(Conversation.id == conversation_id, Conversation.tenant_id == tenant_id)
        .with_for_update()
    )
    if status is not ConversationStatus.bot:
        return None
    request = SendRequest(conversation_id, tenant_id, SenderKind.bot, None, reply.body, meta=reply.meta)
    (stored,) = do_send_messages(db, [request], now=now)
    if isinstance(stored, KefuError):
        raise stored
    bot = reply.meta["bot"]
    emit(
        db,
        "bot.replied",
        tenant_id=tenant_id,
        conversation_id=conversation_id,
        occurred_at=now,
        payload={
            "message_id": stored.message_id,
            "outcome": reply.outcome,
            "entry_id": bot.get("entry_id"),
            "suggested": [s["entry_id"] for s in bot.get("suggestions") or ()],
            "score": bot.get("score"),
            "query": bot.get("query"),
            "picked": bool(bot.get("picked")),
        },
    )
    if reply.learn and bot.get("query"):
        do_record_unanswered(db, tenant_id, bot["query"], None, reply.candidates, LearningReason.unanswered)
    if reply.picked_for and isinstance(bot.get("entry_id"), int):
        do_record_pick(db, tenant_id, reply.picked_for, bot["entry_id"])
    return stored


@action
def do_bot_feedback(
    db: Session, message_id: int, *, tenant_id: int, visitor_id: int, helpful: bool, now: datetime | None = None
) -> dict[str, Any]:
    """The visitor says whether the bot's answer helped (有帮助 / 没帮助). Once per answer: a second,
    different verdict replaces the first. An unhelpful answer sends its question to the learning queue."""
    now = now or utcnow()
    msg = db.scalar(
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.id == message_id,
            Message.tenant_id == tenant_id,
            Conversation.visitor_id == visitor_id,
            Message.sender_kind == SenderKind.bot,
        )
        .with_for_update()
    )
    if msg is None:
        raise not_found("机器人回答", "bot answer")
    bot = dict((msg.meta or {}).get("bot") or {})
    if bot.get("outcome") != "answer":
        raise Conflict(
            Msg("只能评价机器人的回答", "only the bot's answers take feedback"), code="bot.feedback_not_answer"
        )
    verdict = "helpful" if helpful else "unhelpful"
    if bot.get("feedback") == verdict:
        return bot
    previous = bot.get("feedback")
    bot["feedback"] = verdict
    msg.meta = {**(msg.meta or {}), "bot": bot}
    emit(
        db,
        "bot.feedback",
        tenant_id=tenant_id,
        conversation_id=msg.conversation_id,
        occurred_at=now,
        payload={
            "message_id": msg.id,
            "entry_id": bot.get("entry_id"),
            "helpful": helpful,
            "previous": previous,
            "query": bot.get("query"),
        },
    )
    if not helpful and bot.get("query"):
        entry = bot.get("entry_id")
        do_record_unanswered(
            db, tenant_id, bot["query"], None, [entry] if isinstance(entry, int) else [], LearningReason.unhelpful
        )
    return bot
