"""Appending events inside an action's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from kefu.db.base import utcnow
from kefu.db.session import queue_event_for_publish
from kefu.models.event import Event


def emit(
    db: Session,
    type: str,
    *,
    tenant_id: int,
    actor_id: int | None = None,
    team_id: int | None = None,
    user_id: int | None = None,
    conversation_id: int | None = None,
    payload: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """Append an event to the current transaction; it is published only if the transaction commits."""
    row = Event(
        tenant_id=tenant_id,
        type=type,
        occurred_at=occurred_at or utcnow(),
        actor_id=actor_id,
        team_id=team_id,
        user_id=user_id,
        conversation_id=conversation_id,
        payload=payload or {},
    )
    db.add(row)
    queue_event_for_publish(db, row)
    return row
