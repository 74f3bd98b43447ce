"""The form in which a committed event travels on the bus and over WebSockets."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

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
        data = asdict(self)
        data["occurred_at"] = self.occurred_at.isoformat()
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> EventEnvelope:
        data = json.loads(raw)
        data["occurred_at"] = datetime.fromisoformat(data["occurred_at"])
        return cls(**data)


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
