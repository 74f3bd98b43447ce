"""Quick replies (快捷回复): canned texts an agent inserts with one click. A personal reply belongs to one
member of staff; a team reply to a team, shown to the members of that team and of every team below it."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kefu.db.base import Base, BigId, UTCDateTime, utcnow

MAX_TITLE_LEN = 50
MAX_BODY_LEN = 2000


class QuickReplyScope(enum.StrEnum):
    personal = "personal"  # the owner's own
    team = "team"  # the team's, for its members and those of the teams below it


class QuickReply(Base):
    __tablename__ = "quick_replies"
    __table_args__ = (
        CheckConstraint(
            "(scope = 'personal' AND owner_id IS NOT NULL AND team_id IS NULL)"
            " OR (scope = 'team' AND team_id IS NOT NULL AND owner_id IS NULL)",
            name="owner_or_team",
        ),
        Index("ix_quick_replies_tenant_owner", "tenant_id", "owner_id"),
        Index("ix_quick_replies_tenant_team", "tenant_id", "team_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    scope: Mapped[QuickReplyScope] = mapped_column(Enum(QuickReplyScope, native_enum=False, length=16))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(MAX_TITLE_LEN))
    body: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
