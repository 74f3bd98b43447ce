from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.access.caller import Caller
from kefu.access.scope import caller_for
from kefu.db.session import Database
from kefu.models.event import Event
from tests.factories import make_tenant


@dataclass
class Kb:
    db: Session
    tenant_id: int
    admin: Caller
    other_tenant_id: int
    other_admin: Caller

    def events(self, type_prefix: str = "kb.") -> list[Event]:
        return list(
            self.db.scalars(
                select(Event)
                .where(Event.tenant_id == self.tenant_id, Event.type.startswith(type_prefix))
                .order_by(Event.id)
            )
        )


@pytest.fixture
def kb(database: Database) -> Iterator[Kb]:
    with database.session() as db:
        tenant_id, admin = make_tenant(db, "shop")
        other, other_admin = make_tenant(db, "other")
        yield Kb(db, tenant_id, caller_for(db, admin), other, caller_for(db, other_admin))
