from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kefu.db.base import Base, BigId, UTCDateTime, utcnow


class ConversationStatus(enum.StrEnum):
    bot = "bot"
    queued = "queued"
    offered = "offered"
    active = "active"
    ended = "ended"


class Conversation(Base):
    """会话: one contact on any channel, from first message or ring to its end.

    The timestamps are the ones the KPI formulas in DESIGN.md need.
    """

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_tenant_status", "tenant_id", "status"),
        Index("ix_conversations_agent_status", "agent_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="RESTRICT"))
    visitor_id: Mapped[int] = mapped_column(ForeignKey("visitors.id", ondelete="RESTRICT"), index=True)
    skill_group_id: Mapped[int | None] = mapped_column(ForeignKey("skill_groups.id", ondelete="SET NULL"))
    #: The team that owns the conversation for access: the serving agent's team, else the group's team.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[ConversationStatus] = mapped_column(
        Enum(ConversationStatus, native_enum=False, length=16), default=ConversationStatus.bot
    )
    priority: Mapped[int] = mapped_column(Integer, default=0)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Last message from either side, for the inactivity timeout.
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(16))
    end_reason: Mapped[str | None] = mapped_column(String(32))
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)


class SenderKind(enum.StrEnum):
    visitor = "visitor"
    agent = "agent"
    bot = "bot"
    system = "system"


class MessageKind(enum.StrEnum):
    text = "text"
    image = "image"
    file = "file"
    notice = "notice"


class Message(Base):
    """One message; ``seq`` orders a conversation and lets a client ask for what it missed."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        # A resend with the same client id is recognised, never stored twice.
        UniqueConstraint("conversation_id", "sender_kind", "client_msg_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    sender_kind: Mapped[SenderKind] = mapped_column(Enum(SenderKind, native_enum=False, length=16))
    sender_id: Mapped[int | None] = mapped_column(BigId)
    client_msg_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[MessageKind] = mapped_column(Enum(MessageKind, native_enum=False, length=16), default=MessageKind.text)
    body: Mapped[str] = mapped_column(Text, default="")
    attachment: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: What clients show beside the text: for the bot, ``{"bot": {outcome, entry_id, suggestions, …}}``
    #: (docs/protocol.md §5).
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
