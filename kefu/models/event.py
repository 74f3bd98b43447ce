from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from kefu.db.base import Base, BigId, UTCDateTime, utcnow


class Event(Base):
    """The append-only record of what happened. Database triggers refuse UPDATE and DELETE.

    ``team_id`` and ``user_id`` say whose the event is, so that live consumers can apply the same
    access rules as queries do.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_tenant_id_id", "tenant_id", "id"),
        Index("ix_events_tenant_type_time", "tenant_id", "type", "occurred_at"),
        # also a conversation's events by type, and the first of a type, from the index alone
        Index("ix_events_conversation_type_time", "conversation_id", "type", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No ON DELETE CASCADE: the history of a tenant is not erased by accident.
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(BigId)
    team_id: Mapped[int | None] = mapped_column(BigId)
    user_id: Mapped[int | None] = mapped_column(BigId)
    conversation_id: Mapped[int | None] = mapped_column(BigId)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
