from __future__ import annotations

import pytest
from sqlalchemy import select

from kefu.access.scope import caller_for
from kefu.actions.teams import do_create_team
from kefu.db.session import Database
from kefu.models import Team
from kefu.schemas.team import TeamCreate
from tests.conftest import BACKEND
from tests.factories import make_tenant

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite locking")


def test_readers_do_not_block_each_other_or_a_writer(database: Database) -> None:
    with database.session() as db:
        _, admin = make_tenant(db, "acme")
        caller = caller_for(db, admin)
    with database.session() as reader1, database.session() as reader2, database.session() as writer:
        assert reader1.scalars(select(Team)).all() == []  # a read transaction stays open
        assert reader2.scalars(select(Team)).all() == []
        do_create_team(writer, caller, TeamCreate(name="华东"))  # WAL: the writer is not blocked
        assert reader1.scalars(select(Team)).all() == []  # snapshot isolation for the open reader
    with database.session() as db:
        assert [t.name for t in db.scalars(select(Team))] == ["华东"]
