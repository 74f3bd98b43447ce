"""Sessions, the ``@action`` transaction boundary and publishing events after commit.

An action is the only code that changes state. It runs inside one transaction: the state rows and the
events it appends are committed together or not at all, and the events are handed to the bus only after
the commit succeeded (like Zulip's ``send_event_on_commit``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from kefu.db.engine import WRITE_OPTION

if TYPE_CHECKING:
    from kefu.events.bus import EventBus
    from kefu.events.envelope import EventEnvelope

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

_PENDING = "kefu_pending_events"
_DEPTH = "kefu_action_depth"


class Database:
    """The engine, its session factory and the bus that committed events go to."""

    def __init__(self, engine: Engine, bus: EventBus) -> None:
        self.engine = engine
        self.bus = bus
        # expire_on_commit=False: actions return objects that routes serialise after the commit.
        self.sessionmaker = sessionmaker(engine, expire_on_commit=False, info={"bus": bus})

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessionmaker() as db:
            yield db

    def dispose(self) -> None:
        self.engine.dispose()


def queue_event_for_publish(db: Session, event_obj: Any) -> None:
    """Remember an event row so it is published if, and only if, the transaction commits."""
    db.info.setdefault(_PENDING, []).append(event_obj)


def action(fn: Callable[Concatenate[Session, P], R]) -> Callable[Concatenate[Session, P], R]:
    """Run ``fn`` as one transaction: commit when it returns, roll back everything when it raises.

    Actions may call other actions; an inner one runs in a SAVEPOINT and only the outermost commits, so a
    caller that catches an inner failure still sees a consistent session.
    """

    @functools.wraps(fn)
    def wrapper(db: Session, /, *args: P.args, **kwargs: P.kwargs) -> R:
        depth = db.info.get(_DEPTH, 0)
        db.info[_DEPTH] = depth + 1
        try:
            if depth:
                mark = len(db.info.get(_PENDING, ()))
                try:
                    with db.begin_nested():
                        return fn(db, *args, **kwargs)
                except BaseException:
                    # The savepoint's rows are gone; so must be its events.
                    del db.info.get(_PENDING, [])[mark:]
                    raise
            _end_read(db)
            db.connection(execution_options={WRITE_OPTION: True})
            try:
                result = fn(db, *args, **kwargs)
                db.commit()
            except BaseException:
                db.rollback()
                raise
            return result
        finally:
            db.info[_DEPTH] = depth

    return wrapper


def _end_read(db: Session) -> None:
    """End a read transaction already open (access checks in a request's dependencies) before the action's
    write transaction starts (IMMEDIATE on SQLite); it must hold no changes, since only actions write."""
    if db.in_transaction():
        if db.new or db.dirty or db.deleted:
            raise RuntimeError("changes were made outside an action")
        db.commit()
        # What was read before may have changed since; the action must decide on fresh rows.
        db.expire_all()


@event.listens_for(Session, "after_commit")
def _publish_after_commit(db: Session) -> None:
    # SQLAlchemy also fires after_commit when a SAVEPOINT is released; an inner action's events must wait
    # for the outermost commit (a caller may still roll everything back).
    if db.in_nested_transaction():
        return
    pending = db.info.pop(_PENDING, None)
    if not pending:
        return
    bus: EventBus | None = db.info.get("bus")
    if bus is None:
        return
    from kefu.events.envelope import EventEnvelope, envelope_of

    # Rows added through the ORM (emit) become envelopes now; emit_many queued envelopes already.
    publish_envelopes(bus, [row if isinstance(row, EventEnvelope) else envelope_of(row) for row in pending])


def publish_envelopes(bus: EventBus, envelopes: list[EventEnvelope]) -> None:
    """Hand committed events to ``bus``; a failure is counted and logged, never raised (the events are
    committed and remain the record; live consumers catch up from the table)."""
    if not envelopes:
        return
    from kefu.ops.metrics import EVENTS_PUBLISH_FAILURES, EVENTS_PUBLISHED

    try:
        bus.publish(envelopes)
        EVENTS_PUBLISHED.labels(bus.backend).inc(len(envelopes))
    except Exception:
        EVENTS_PUBLISH_FAILURES.labels(bus.backend).inc()
        # The events are committed and remain the record; live consumers catch up from the table.
        log.exception("publishing %d committed events failed", len(envelopes))


@event.listens_for(Session, "after_transaction_end")
def _forget_uncommitted(db: Session, transaction: Any) -> None:
    # After a commit the events were already taken by _publish_after_commit; whatever is still pending
    # when the outermost transaction ends belongs to a rollback and must never be published. (A savepoint
    # that rolls back is handled by the @action wrapper, which drops only that savepoint's events.)
    if transaction.parent is None:
        db.info.pop(_PENDING, None)
