"""Events as the caller may see them: catch up over HTTP, follow live over a WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from kefu.access.caller import Caller
from kefu.access.scope import event_visible_clause
from kefu.api.deps import CallerDep, DbDep, socket_caller
from kefu.errors import KefuError
from kefu.events.bus import SubscriptionLagged
from kefu.events.envelope import EventEnvelope, envelope_of
from kefu.models.event import Event
from kefu.schemas.common import MAX_ID

router = APIRouter(prefix="/events", tags=["事件 events"])
log = logging.getLogger(__name__)

MAX_BATCH = 500
#: Seconds between re-checks of a stream's session or token.
RECHECK_EVERY = 30.0
#: Events just before a replay's ``after_id`` that are sent again (see ``stream_events``).
LATE_WINDOW = 200


def events_after(db: Any, caller: Caller, after_id: int, limit: int, type_prefix: str | None = None) -> list[Event]:
    query = (
        select(Event)
        .where(Event.tenant_id == caller.tenant_id, Event.id > after_id, event_visible_clause(caller))
        .order_by(Event.id)
        .limit(limit)
    )
    if type_prefix:
        query = query.where(Event.type.startswith(type_prefix, autoescape=True))
    return list(db.scalars(query))


@router.get("", summary="事件（补取）/ events after an id, for catching up")
def list_events(
    caller: CallerDep,
    db: DbDep,
    after_id: Annotated[int, Query(ge=0, le=MAX_ID, description="只返回 id 大于此值的事件 / events after this id")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_BATCH)] = 100,
    type: Annotated[str | None, Query(max_length=64, description="类型前缀，如 team. / type prefix")] = None,
) -> dict[str, Any]:
    rows = events_after(db, caller, after_id, limit, type)
    return {
        "events": [envelope_of(r).to_dict() for r in rows],
        "last_event_id": rows[-1].id if rows else after_id,
    }


def _origin_ok(websocket: WebSocket) -> bool:
    """A cookie-authenticated socket must come from our own pages (no cross-site WebSocket hijacking)."""
    origin = websocket.headers.get("origin")
    if not origin:
        return True  # not a browser
    return urlsplit(origin).netloc == websocket.headers.get("host")


@router.websocket("/stream")
async def stream_events(websocket: WebSocket, after_id: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None) -> None:
    """Live events the caller may see. Sends ``{"type": "hello"}``, then (when ``after_id`` is given) the
    stored events after it, then each new event as ``{"type": "event", "event": {...}}``.

    Delivery is at least once: the replay re-sends a few events just before ``after_id`` (ids are given
    at insert and transactions commit in any order, so one with a smaller id can commit later); clients
    keep the ids they have seen and drop repeats. A consumer that falls behind gets
    ``{"type": "lagged", "last_event_id": N}`` and catches up with GET /events."""
    database = websocket.app.state.database
    try:
        caller = await socket_caller(websocket)
    except KefuError as exc:
        await websocket.close(code=4401 if exc.status == 401 else 4403, reason=exc.code)
        return
    if caller.via == "session" and not _origin_ok(websocket):
        await websocket.close(code=4403, reason="cross-origin")
        return

    await websocket.accept()
    sent = RecentIds()
    last_sent = after_id or 0
    with contextlib.closing(database.bus.subscribe(tenant_id=caller.tenant_id)) as sub:
        await websocket.send_json({"type": "hello", "user_id": caller.user_id, "tenant_id": caller.tenant_id})
        if after_id is not None:
            last_sent = await _replay(database, caller, websocket, after_id, sent)
        receiver = asyncio.create_task(_drain_client(websocket))
        checked_at = time.monotonic()
        try:
            while not receiver.done():
                getter = asyncio.ensure_future(sub.get())
                done, _ = await asyncio.wait(
                    {getter, receiver}, timeout=RECHECK_EVERY, return_when=asyncio.FIRST_COMPLETED
                )
                if getter not in done:
                    getter.cancel()
                    if receiver.done():
                        break
                event: EventEnvelope | None = None
                if getter in done:
                    try:
                        event = getter.result()
                    except SubscriptionLagged:
                        await websocket.send_json({"type": "lagged", "last_event_id": last_sent})
                        break
                # Re-read the caller when an event may have changed his access, and every so often anyway
                # (a session that expired or an account that was closed ends the stream).
                stale = time.monotonic() - checked_at > RECHECK_EVERY
                if stale or (event is not None and _touches(caller, event)):
                    checked_at = time.monotonic()
                    try:
                        caller = await socket_caller(websocket)
                    except KefuError as exc:
                        await websocket.close(code=4401 if exc.status == 401 else 4403, reason=exc.code)
                        break
                if event is None or event.id in sent:
                    continue
                if not caller.event_visible(event.tenant_id, event.team_id, event.user_id, event.actor_id):
                    continue
                await websocket.send_json({"type": "event", "event": event.to_dict()})
                sent.add(event.id)
                last_sent = max(last_sent, event.id)
        except WebSocketDisconnect:
            pass
        finally:
            receiver.cancel()
            with contextlib.suppress(Exception):
                await websocket.close()


class RecentIds:
    """The ids sent lately on one stream, to drop repeats; bounded."""

    def __init__(self, size: int = 10_000) -> None:
        self._order: deque[int] = deque()
        self._set: set[int] = set()
        self._size = size

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._set

    def add(self, event_id: int) -> None:
        if event_id in self._set:
            return
        self._order.append(event_id)
        self._set.add(event_id)
        if len(self._order) > self._size:
            self._set.discard(self._order.popleft())


_SELF_EVENTS = frozenset(
    {
        "user.updated",
        "user.deleted",
        "staff.logged_out",
        "api_token.revoked",
        "team.member_added",
        "team.member_removed",
    }
)
_TREE_EVENTS = frozenset({"team.created", "team.updated", "team.deleted"})


def _touches(caller: Caller, event: EventEnvelope) -> bool:
    """Could this event change what the caller may see, or whether he may go on?"""
    if event.type in _SELF_EVENTS and event.user_id == caller.user_id:
        return True
    if event.type in _TREE_EVENTS and caller.visible_team_ids is not None:
        changed = event.payload.get("changed") or {}
        related = {event.team_id, event.payload.get("parent_id"), changed.get("parent_id")}
        return not caller.visible_team_ids.isdisjoint(t for t in related if isinstance(t, int))
    return False


async def _replay(database: Any, caller: Caller, websocket: WebSocket, after_id: int, sent: RecentIds) -> int:
    last = after_id
    start = max(0, after_id - LATE_WINDOW)
    while True:

        def fetch(begin: int = start) -> list[dict[str, Any]]:
            with database.session() as db:
                return [envelope_of(r).to_dict() for r in events_after(db, caller, begin, MAX_BATCH)]

        batch = await run_in_threadpool(fetch)
        for item in batch:
            sent.add(item["id"])
            await websocket.send_json({"type": "event", "event": item})
            last = max(last, item["id"])
        if len(batch) < MAX_BATCH:
            return last
        start = batch[-1]["id"]


async def _drain_client(websocket: WebSocket) -> None:
    """The stream is one-way; reading tells us when the client goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()
