"""The form in which a committed event travels on the bus and over WebSockets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from kefu.jsontext import dumps
from kefu.models.event import Event


@dataclass(frozen=True, slots=True)
class EventEnvelope:
    id: int
    tenant_id: int
    type: str
    occurred_at: datetime
    actor_id: int | None = None
    team_id: int | None = None
    user_id: int | None = None
    conversation_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The envelope as JSON-ready values (``occurred_at`` as ISO 8601); the payload is not copied."""
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "type": self.type,
            "occurred_at": self.occurred_at.isoformat(),
            "actor_id": self.actor_id,
            "team_id": self.team_id,
            "user_id": self.user_id,
            "conversation_id": self.conversation_id,
            "payload": self.payload,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventEnvelope:
        return cls(
            id=data["id"],
            tenant_id=data["tenant_id"],
            type=data["type"],
            occurred_at=datetime.fromisoformat(data["occurred_at"]),
            actor_id=data.get("actor_id"),
            team_id=data.get("team_id"),
            user_id=data.get("user_id"),
            conversation_id=data.get("conversation_id"),
            payload=data.get("payload") or {},
        )

    def to_json(self) -> str:
        return dumps(self.to_dict())

    @classmethod
    def from_json(cls, raw: str | bytes) -> EventEnvelope:
        return cls.from_dict(orjson.loads(raw))


def envelope_of(row: Event) -> EventEnvelope:
    return EventEnvelope(
        id=row.id,
        tenant_id=row.tenant_id,
        type=row.type,
        occurred_at=row.occurred_at,
        actor_id=row.actor_id,
        team_id=row.team_id,
        user_id=row.user_id,
        conversation_id=row.conversation_id,
        payload=dict(row.payload or {}),
    )
