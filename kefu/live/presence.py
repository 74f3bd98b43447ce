"""Which agents have a live socket, across kefu processes.

Embedded, the hub of the one process knows. Scaled out, each process keeps, per connected agent, a field
in the Redis hash ``<ns>:presence:<user id>`` (process id → expiry, renewed by a heartbeat), so that the
process where an agent's last socket closed can tell whether he is still connected elsewhere before it
sets him away. A crashed process's fields expire on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

HEARTBEAT_S = 10.0
TTL_S = 30.0


class Presence:
    def __init__(self, redis_url: str | None, namespace: str, local_agents: Callable[[], set[int]]) -> None:
        self._url = redis_url
        self._ns = namespace
        self._local = local_agents
        self.process_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        #: One thread for every Redis call, so they run in the order they were asked for: a heartbeat asked
        #: for before an agent's socket closed can never re-add him after his "gone" was written.
        self._calls = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kefu-presence")

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._calls, fn, *args)

    def _key(self, user_id: int) -> str:
        return f"{self._ns}:presence:{user_id}"

    def _redis(self) -> Any:
        if self._client is None:
            import redis

            assert self._url is not None
            self._client = redis.Redis.from_url(self._url, socket_timeout=5, socket_connect_timeout=5)
        return self._client

    async def start(self) -> None:
        if self._url is not None:
            self._task = asyncio.create_task(self._heartbeat())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._call(self._forget_all, self._local())
                self._client.close()
        self._calls.shutdown(wait=False)

    async def _heartbeat(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                # Who is local is read when the call runs, not when it was queued.
                await self._call(lambda: self._renew(self._local()))
            await asyncio.sleep(HEARTBEAT_S)

    def _renew(self, user_ids: set[int]) -> None:
        expiry = time.time() + TTL_S
        pipe = self._redis().pipeline(transaction=False)
        for user_id in user_ids:
            pipe.hset(self._key(user_id), self.process_id, expiry)
            pipe.expire(self._key(user_id), int(TTL_S) + 5)
        pipe.execute()

    def _forget_all(self, user_ids: set[int]) -> None:
        pipe = self._redis().pipeline(transaction=False)
        for user_id in user_ids:
            pipe.hdel(self._key(user_id), self.process_id)
        pipe.execute()

    async def connected(self, user_id: int) -> None:
        if self._url is not None:
            with contextlib.suppress(Exception):
                await self._call(self._renew, {user_id})

    async def disconnected(self, user_id: int) -> None:
        if self._url is not None:
            with contextlib.suppress(Exception):
                await self._call(self._forget_all, {user_id})

    async def connected_elsewhere(self, user_id: int) -> bool:
        if self._url is None:
            return False

        def check() -> bool:
            now = time.time()
            fields = self._redis().hgetall(self._key(user_id))
            return any(k.decode() != self.process_id and float(v) > now for k, v in fields.items())

        try:
            return bool(await self._call(check))
        except Exception:
            log.warning("presence check failed; assuming agent %s is still connected", user_id)
            return True
