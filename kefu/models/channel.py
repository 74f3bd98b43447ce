from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kefu.db.base import Base, BigId, UTCDateTime, utcnow


class ChannelKind(enum.StrEnum):
    web = "web"
    phone = "phone"
    email = "email"
    webhook = "webhook"


class Channel(Base):
    """An entry point for contacts. A web-chat channel has a public widget key for its script tag."""

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ChannelKind] = mapped_column(Enum(ChannelKind, native_enum=False, length=16))
    name: Mapped[str] = mapped_column(String(100))
    #: Public, not secret: it appears in the tenant's web pages. Null for non-web channels.
    widget_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    default_skill_group_id: Mapped[int | None] = mapped_column(ForeignKey("skill_groups.id", ondelete="SET NULL"))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
