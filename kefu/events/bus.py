"""The event bus: one interface, an in-process backend and a Redis backend (``redis_bus``).

``publish`` is called after a commit, from whatever thread ran the action (FastAPI runs sync routes in a
thread pool), so it is thread-safe and never waits on a consumer. Subscribers are asyncio consumers
(WebSocket push, routing, live metrics). Each subscription has a bounded queue: a consumer that falls too
far behind is told so (``SubscriptionLagged``) and catches up from the ``events`` table, which is the
record, instead of letting memory grow without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

from kefu.events.envelope import EventEnvelope

#: Put in a subscription's queue to wake its consumer when events were lost.
_LAGGED = EventEnvelope(id=-1, tenant_id=-1, type="kefu.lagged", occurred_at=datetime.min.replace(tzinfo=UTC))


class SubscriptionLagged(Exception):
    """The subscriber fell behind and events were dropped; resume from ``last_id`` in the events table."""

    def __init__(self, last_id: int | None) -> None:
        super().__init__(f"subscriber fell behind after event {last_id}")
        self.last_id = last_id


@dataclass(frozen=True)
class BusHealth:
    backend: str
    ok: bool
    detail: str = ""


class Subscription:
    """Events for one consumer, optionally only one tenant's. Use as ``async with`` and ``async for``."""

    def __init__(self, fanout: FanOut, tenant_id: int | None, maxsize: int) -> None:
        self._fanout = fanout
        self.tenant_id = tenant_id
        self._queue: asyncio.Queue[EventEnvelope] = asyncio.Queue(maxsize=maxsize)
        self._loop = asyncio.get_running_loop()
        self._lagged = False
        self._last_id: int | None = None
        self._closed = False

    def _offer(self, events: Sequence[EventEnvelope]) -> None:
        # Runs on the subscriber's loop.
        for event in events:
            if self._closed or self._lagged:
                return
            try:
                self._queue.put_nowait(event)
            except asyncio.QueueFull:
                self._lagged = True

    def _set_lagged(self) -> None:
        self._lagged = True
        # Wake a consumer that is waiting on an empty queue.
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(_LAGGED)

    def mark_lagged_threadsafe(self) -> None:
        """Events may have been missed (e.g. the bus connection dropped): the consumer must catch up."""
        if self._closed:
            return
        try:
            self._loop.call_soon_threadsafe(self._set_lagged)
        except RuntimeError:
            self.close()

    def deliver_threadsafe(self, events: Sequence[EventEnvelope]) -> None:
        """Hand ``events`` to the subscriber's loop, in order, with one wake-up of that loop."""
        if self._closed or not events:
            return
        try:
            self._loop.call_soon_threadsafe(self._offer, events)
        except RuntimeError:  # the subscriber's loop is closed
            self.close()

    async def get(self, timeout: float | None = None) -> EventEnvelope:
        if self._lagged and self._queue.empty():
            raise SubscriptionLagged(self._last_id)
        event = await asyncio.wait_for(self._queue.get(), timeout)
        if event is _LAGGED:
            raise SubscriptionLagged(self._last_id)
        self._last_id = event.id
        return event

    def __aiter__(self) -> AsyncIterator[EventEnvelope]:
        return self

    async def __anext__(self) -> EventEnvelope:
        if self._closed:
            raise StopAsyncIteration
        return await self.get()

    def close(self) -> None:
        self._closed = True
        self._fanout.remove(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class FanOut:
    """Delivers events to the subscriptions of this process."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()

    def add(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.add(sub)

    def remove(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    def deliver(self, events: Sequence[EventEnvelope]) -> None:
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            wanted = events if sub.tenant_id is None else [e for e in events if e.tenant_id == sub.tenant_id]
            sub.deliver_threadsafe(wanted)

    def mark_all_lagged(self) -> None:
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub.mark_lagged_threadsafe()

    def __len__(self) -> int:
        return len(self._subs)


class EventBus(ABC):
    """Carries committed events to every subscriber of every kefu process that shares the bus."""

    backend: str

    def __init__(self) -> None:
        self.fanout = FanOut()

    @abstractmethod
    def publish(self, events: Sequence[EventEnvelope]) -> None:
        """Hand committed events to the bus. Thread-safe; does not wait for consumers."""

    def subscribe(self, *, tenant_id: int | None = None, maxsize: int = 10_000) -> Subscription:
        """Subscribe from a running event loop; events published after this call are delivered."""
        sub = Subscription(self.fanout, tenant_id, maxsize)
        self.fanout.add(sub)
        return sub

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect to the transport, if any. Subscriptions receive events only after this returns."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Disconnect."""

    @abstractmethod
    async def health(self) -> BusHealth: ...


class MemoryBus(EventBus):
    """The embedded default: events reach the subscribers of this process only."""

    backend = "memory"

    def publish(self, events: Sequence[EventEnvelope]) -> None:
        self.fanout.deliver(events)

    async def health(self) -> BusHealth:
        return BusHealth(self.backend, True, f"{len(self.fanout)} subscribers")


def make_bus(redis_url: str | None, namespace: str = "kefu") -> EventBus:
    if redis_url:
        from kefu.events.redis_bus import RedisBus

        return RedisBus(redis_url, namespace=namespace)
    return MemoryBus()
