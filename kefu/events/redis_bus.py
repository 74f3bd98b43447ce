"""The scale-out bus: events published by an action in one kefu process reach every process.

Redis pub/sub carries the events; it keeps nothing, which is fine because the ``events`` table is the
record — a consumer that was disconnected catches up from there. Publishing uses the synchronous client
(it is called from worker threads after a commit); receiving runs one asyncio task per process that
feeds the local fan-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis

from kefu.events.bus import BusHealth, EventBus
from kefu.events.envelope import EventEnvelope
from kefu.jsontext import dumps

log = logging.getLogger(__name__)


class RedisBus(EventBus):
    backend = "redis"

    def __init__(self, url: str, *, namespace: str = "kefu") -> None:
        super().__init__()
        self.url = url
        self.prefix = f"{namespace}:events:"
        #: Shown by Redis CLIENT LIST, so operators can tell kefu's subscriber connections apart.
        self.client_name = f"{namespace}-bus-subscriber"
        # Short timeouts: publishing happens after a commit, on the request's time.
        self._sync = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Event | None = None
        self._stopping = False

    def channel(self, tenant_id: int) -> str:
        return f"{self.prefix}{tenant_id}"

    def publish(self, events: Sequence[EventEnvelope]) -> None:
        if not events:
            return
        # One Redis message per run of one tenant's events, as a JSON array: a batch of chat messages
        # (hundreds of events from one commit) costs each process one message to read and parse, not
        # hundreds; events keep their order across tenants too (runs, not groups).
        runs: list[tuple[int, list[dict[str, Any]]]] = []
        for event in events:
            if not runs or runs[-1][0] != event.tenant_id:
                runs.append((event.tenant_id, []))
            runs[-1][1].append(event.to_dict())
        pipe = self._sync.pipeline(transaction=False)
        for tenant_id, run in runs:
            pipe.publish(self.channel(tenant_id), dumps(run))
        try:
            pipe.execute()
        except redis.RedisError:
            # Redis is unreachable: this process's subscribers still get the events; the other processes'
            # lose their connection too and are told to catch up from the events table when it returns.
            self.fanout.deliver(events)
            raise

    async def start(self) -> None:
        if self._task is not None:
            return
        self._stopping = False
        self._ready = asyncio.Event()
        self._task = asyncio.create_task(self._receive_forever(), name="kefu-redis-bus")
        ready = asyncio.ensure_future(self._ready.wait())
        done, _ = await asyncio.wait({ready, self._task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            await self.stop()
            raise ConnectionError(f"cannot subscribe to Redis at {self.url}")

    async def _receive_forever(self) -> None:
        backoff = 0.2
        connected_before = False
        while not self._stopping:
            client = aioredis.Redis.from_url(self.url, client_name=self.client_name)
            pubsub = client.pubsub()
            try:
                await pubsub.psubscribe(f"{self.prefix}*")
                # Wait for Redis to confirm, so that whoever awaited start() misses nothing from now on.
                while True:
                    msg = await pubsub.get_message(timeout=5)
                    if msg and msg["type"] == "psubscribe":
                        break
                assert self._ready is not None
                self._ready.set()
                if connected_before:
                    # Whatever was published while we were away is lost to pub/sub: catch up from the table.
                    self.fanout.mark_all_lagged()
                connected_before = True
                backoff = 0.2
                while not self._stopping:
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is not None and msg["type"] == "psubscribe":
                        # redis-py reconnects and subscribes again on its own after a lost connection;
                        # what was published meanwhile is gone from pub/sub: catch up from the table.
                        self.fanout.mark_all_lagged()
                        continue
                    if msg is None or msg["type"] != "pmessage":
                        continue
                    try:
                        events = decode_events(msg["data"])
                    except (ValueError, TypeError, KeyError):
                        log.warning("ignoring a malformed event on %s", msg.get("channel"))
                        continue
                    self.fanout.deliver(events)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost: reconnect with backoff
                log.warning("redis bus connection lost (%s); reconnecting in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def health(self) -> BusHealth:
        try:
            await asyncio.to_thread(self._sync.ping)
        except redis.RedisError as exc:
            return BusHealth(self.backend, False, f"redis unreachable: {exc}")
        receiving = self._task is not None and not self._task.done() and bool(self._ready and self._ready.is_set())
        if not receiving:
            return BusHealth(self.backend, False, "not subscribed")
        return BusHealth(self.backend, True, f"{len(self.fanout)} subscribers")


def decode_events(raw: str | bytes) -> list[EventEnvelope]:
    """The events of one Redis message: a JSON array of envelopes (or one envelope, as published before)."""
    data = orjson.loads(raw)
    if isinstance(data, dict):
        return [EventEnvelope.from_dict(data)]
    if not isinstance(data, list):
        raise TypeError("an event message is an array of envelopes")
    return [EventEnvelope.from_dict(item) for item in data]
