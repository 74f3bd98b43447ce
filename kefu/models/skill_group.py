from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kefu.db.base import Base, BigId, UTCDateTime, utcnow


class DistributionMode(enum.StrEnum):
    round_robin = "round_robin"  # 轮流分配 (passive)
    broadcast_grab = "broadcast_grab"  # 广播分配/抢单 (active)
    least_busy = "least_busy"


class SkillGroup(Base):
    """技能组: a queue of conversations and the agents who serve it. Owned by a team (for access)."""

    __tablename__ = "skill_groups"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    mode: Mapped[DistributionMode] = mapped_column(
        Enum(DistributionMode, native_enum=False, length=20), default=DistributionMode.round_robin
    )
    #: Overflow (溢出): a conversation waiting longer than ``overflow_after_s``, or arriving while more than
    #: ``overflow_queue_len`` wait, moves to ``overflow_group_id`` (keeping its place in time).
    overflow_group_id: Mapped[int | None] = mapped_column(ForeignKey("skill_groups.id", ondelete="SET NULL"))
    overflow_after_s: Mapped[int | None] = mapped_column(Integer)
    overflow_queue_len: Mapped[int | None] = mapped_column(Integer)
    #: Working hours as kefu.routing.hours.WorkingHours.to_dict(); null = always open.
    working_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    off_hours_message: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SkillGroupAgent(Base):
    """An agent serving a skill group; an agent may serve several groups."""

    __tablename__ = "skill_group_agents"

    skill_group_id: Mapped[int] = mapped_column(ForeignKey("skill_groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    #: Lower serves first when the routing mode prefers some agents (e.g. primary vs backup).
    priority: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
