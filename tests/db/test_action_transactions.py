"""Actions commit state and events together, publish only after the commit, and leave nothing behind
when they fail half-way."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from kefu.access.scope import caller_for
from kefu.actions import users as users_actions
from kefu.actions.teams import do_create_team
from kefu.actions.users import do_create_user
from kefu.db.session import Database, action
from kefu.errors import NotFound
from kefu.events.bus import EventBus
from kefu.events.envelope import EventEnvelope
from kefu.events.record import emit
from kefu.models import Event, Team, TeamMembership, User
from kefu.models.staff import Role
from kefu.schemas.team import TeamCreate
from kefu.schemas.user import UserCreate
from tests.factories import make_tenant


class RecordingBus(EventBus):
    backend = "recording"

    def __init__(self) -> None:
        super().__init__()
        self.published: list[EventEnvelope] = []

    def publish(self, events):  # type: ignore[no-untyped-def]
        self.published.extend(events)

    async def health(self):  # type: ignore[no-untyped-def]
        raise AssertionError


@pytest.fixture
def recorded(database: Database) -> tuple[Database, RecordingBus]:
    bus = RecordingBus()
    return Database(database.engine, bus), bus


def counts(db: Session) -> dict[str, int]:
    return {
        m.__name__: db.scalar(select(func.count()).select_from(m)) or 0 for m in (User, TeamMembership, Event, Team)
    }


def test_state_and_events_commit_together_and_publish_after_commit(
    recorded: tuple[Database, RecordingBus],
) -> None:
    database, bus = recorded
    with database.session() as db:
        _, admin = make_tenant(db, "acme")
        published_before = len(bus.published)
        team = do_create_team(db, caller_for(db, admin), TeamCreate(name="华东"))
    new = bus.published[published_before:]
    assert [e.type for e in new] == ["team.created"]
    assert new[0].team_id == team.id and new[0].id > 0
    with database.session() as db:
        stored = db.scalars(select(Event).where(Event.type == "team.created")).one()
        assert stored.id == new[0].id and stored.payload["name"] == "华东"


def test_an_action_failing_half_way_leaves_no_state_and_no_event(
    recorded: tuple[Database, RecordingBus], monkeypatch: pytest.MonkeyPatch
) -> None:
    database, bus = recorded
    with database.session() as db:
        _, admin = make_tenant(db, "acme")
        caller = caller_for(db, admin)
        team = do_create_team(db, caller, TeamCreate(name="华东"))
        before = counts(db)
        published_before = len(bus.published)

    # The user row is flushed and its memberships added before the event is written; fail right there.
    def explode(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(users_actions, "emit", explode)
    with database.session() as db, pytest.raises(RuntimeError, match="disk on fire"):
        do_create_user(
            db,
            caller,
            UserCreate(
                username="half",
                display_name="半",
                role=Role.agent,
                password="password-123",
                team_ids=[team.id],
            ),
        )
    with database.session() as db:
        assert counts(db) == before
        assert db.scalar(select(User).where(User.username == "half")) is None
    assert len(bus.published) == published_before


def test_a_validation_failure_after_writes_rolls_them_back(recorded: tuple[Database, RecordingBus]) -> None:
    database, bus = recorded

    @action
    def do_two_teams_then_fail(db: Session, tenant_id: int) -> None:
        db.add(Team(tenant_id=tenant_id, name="one"))
        db.flush()
        emit(db, "team.created", tenant_id=tenant_id)
        raise NotFound.__new__(NotFound)  # any domain error after a write

    with database.session() as db:
        tenant_id, _ = make_tenant(db, "acme")
        before = counts(db)
        n = len(bus.published)
        with pytest.raises(NotFound):
            do_two_teams_then_fail(db, tenant_id)
        assert counts(db) == before
    assert len(bus.published) == n


def test_a_nested_action_failing_keeps_the_outer_work_and_drops_only_its_own_events(
    recorded: tuple[Database, RecordingBus],
) -> None:
    database, bus = recorded

    @action
    def do_inner(db: Session, tenant_id: int) -> None:
        db.add(Team(tenant_id=tenant_id, name="inner"))
        db.flush()
        emit(db, "test.inner", tenant_id=tenant_id)
        raise ValueError("inner fails")

    @action
    def do_outer(db: Session, tenant_id: int) -> None:
        db.add(Team(tenant_id=tenant_id, name="outer"))
        db.flush()
        emit(db, "test.outer", tenant_id=tenant_id)
        with pytest.raises(ValueError):
            do_inner(db, tenant_id)

    with database.session() as db:
        tenant_id, _ = make_tenant(db, "acme")
        n = len(bus.published)
        do_outer(db, tenant_id)
    with database.session() as db:
        assert set(db.scalars(select(Team.name))) == {"outer"}
        assert set(db.scalars(select(Event.type).where(Event.type.like("test.%")))) == {"test.outer"}
    assert [e.type for e in bus.published[n:]] == ["test.outer"]


def test_a_nested_action_publishes_nothing_until_the_outermost_commit(
    recorded: tuple[Database, RecordingBus],
) -> None:
    """Releasing a SAVEPOINT is not a commit: an inner action's events wait for the outer one, and go
    nowhere when the outer action fails after the inner one succeeded."""
    database, bus = recorded
    seen_at_inner_return: list[int] = []

    @action
    def do_inner(db: Session, tenant_id: int) -> None:
        db.add(Team(tenant_id=tenant_id, name="inner"))
        db.flush()
        emit(db, "test.inner", tenant_id=tenant_id)

    @action
    def do_outer(db: Session, tenant_id: int, fail: bool) -> None:
        do_inner(db, tenant_id)
        seen_at_inner_return.append(len(bus.published))
        if fail:
            raise ValueError("outer fails after the inner action")

    with database.session() as db:
        tenant_id, _ = make_tenant(db, "acme")
        n = len(bus.published)
        with pytest.raises(ValueError):
            do_outer(db, tenant_id, True)
        assert seen_at_inner_return == [n] and len(bus.published) == n
        do_outer(db, tenant_id, False)
        assert seen_at_inner_return[-1] == n
    assert [e.type for e in bus.published[n:]] == ["test.inner"]
    with database.session() as db:
        assert db.scalar(select(func.count()).select_from(Event).where(Event.type == "test.inner")) == 1


def test_events_are_append_only_in_the_database(database: Database) -> None:
    with database.session() as db:
        make_tenant(db, "acme")
    for statement in ("UPDATE events SET type = 'forged'", "DELETE FROM events"):
        with database.engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text(statement))
    with database.session() as db:
        assert db.scalar(select(func.count()).select_from(Event)) == 3
        assert "forged" not in set(db.scalars(select(Event.type)))
