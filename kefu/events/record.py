"""Appending events inside an action's transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from kefu.db.base import utcnow
from kefu.db.bulk import insert_returning_ids
from kefu.db.session import queue_event_for_publish
from kefu.events.envelope import EventEnvelope
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


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append with :func:`emit_many`; the same fields as :func:`emit` takes."""

    type: str
    tenant_id: int
    occurred_at: datetime
    actor_id: int | None = None
    team_id: int | None = None
    user_id: int | None = None
    conversation_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def emit_many(db: Session, events: list[NewEvent]) -> list[EventEnvelope]:
    """Append many events in one statement (the message hot path); published only if the transaction
    commits, like :func:`emit`. Their envelopes, in order."""
    rows = [
        {
            "tenant_id": e.tenant_id,
            "type": e.type,
            "occurred_at": e.occurred_at,
            "actor_id": e.actor_id,
            "team_id": e.team_id,
            "user_id": e.user_id,
            "conversation_id": e.conversation_id,
            "payload": e.payload,
        }
        for e in events
    ]
    ids = insert_returning_ids(db, cast(Table, Event.__table__), rows)
    envelopes = [
        EventEnvelope(
            id=i,
            tenant_id=e.tenant_id,
            type=e.type,
            occurred_at=e.occurred_at,
            actor_id=e.actor_id,
            team_id=e.team_id,
            user_id=e.user_id,
            conversation_id=e.conversation_id,
            payload=e.payload,
        )
        for i, e in zip(ids, events, strict=True)
    ]
    for envelope in envelopes:
        queue_event_for_publish(db, envelope)
    return envelopes
