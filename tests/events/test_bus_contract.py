"""One contract, every bus backend: the same tests prove the in-process bus and the Redis bus."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from kefu.events.bus import EventBus, MemoryBus, SubscriptionLagged
from kefu.events.envelope import EventEnvelope
from tests.conftest import REDIS_URL, need_redis

pytestmark = pytest.mark.anyio


def ev(i: int, tenant: int = 1, **kw: object) -> EventEnvelope:
    return EventEnvelope(
        id=i,
        tenant_id=tenant,
        type="test.thing",
        occurred_at=datetime.now(UTC),
        payload={"n": i, "text": "你好"},
        **kw,
    )  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[EventBus]:
    if request.param == "redis":
        need_redis()
        from kefu.events.redis_bus import RedisBus

        instance: EventBus = RedisBus(REDIS_URL, namespace=f"kefu-contract-{uuid.uuid4().hex[:8]}")
    else:
        instance = MemoryBus()
    await instance.start()
    yield instance
    await instance.stop()


async def test_subscriber_receives_published_events_in_order(bus: EventBus) -> None:
    async with bus.subscribe() as sub:
        bus.publish([ev(1), ev(2)])
        bus.publish([ev(3)])
        got = [await sub.get(timeout=5) for _ in range(3)]
    assert [e.id for e in got] == [1, 2, 3]
    assert got[0].payload == {"n": 1, "text": "你好"}
    assert got[0].occurred_at.tzinfo is not None


async def test_tenant_subscription_sees_only_its_tenant(bus: EventBus) -> None:
    async with bus.subscribe(tenant_id=2) as only_two, bus.subscribe() as everything:
        bus.publish([ev(1, tenant=1), ev(2, tenant=2), ev(3, tenant=1), ev(4, tenant=2)])
        assert [(await only_two.get(timeout=5)).id for _ in range(2)] == [2, 4]
        assert [(await everything.get(timeout=5)).id for _ in range(4)] == [1, 2, 3, 4]
        with pytest.raises(asyncio.TimeoutError):
            await only_two.get(timeout=0.3)


async def test_publish_from_worker_threads_reaches_the_loop(bus: EventBus) -> None:
    async with bus.subscribe() as sub:
        threads = [threading.Thread(target=bus.publish, args=([ev(i)],)) for i in range(1, 21)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got = {(await sub.get(timeout=5)).id for _ in range(20)}
    assert got == set(range(1, 21))


async def test_a_slow_subscriber_is_told_it_lagged_instead_of_growing_without_bound(bus: EventBus) -> None:
    sub = bus.subscribe(maxsize=5)
    try:
        bus.publish([ev(i) for i in range(1, 21)])
        received = []
        with pytest.raises(SubscriptionLagged) as info:
            while True:
                received.append((await sub.get(timeout=5)).id)
        assert received == [1, 2, 3, 4, 5]
        assert info.value.last_id == 5  # catch up from the events table after this id
    finally:
        sub.close()


async def test_closed_subscription_receives_nothing_more(bus: EventBus) -> None:
    async with bus.subscribe() as other:
        sub = bus.subscribe()
        sub.close()
        bus.publish([ev(1)])
        assert (await other.get(timeout=5)).id == 1
        await asyncio.sleep(0.05)
    assert sub._queue.empty()


async def test_health_reports_the_backend(bus: EventBus) -> None:
    health = await bus.health()
    assert health.ok and health.backend == bus.backend


async def test_redis_bus_delivers_between_two_bus_instances() -> None:
    """Two RedisBus objects stand for two kefu processes: one publishes, the other's subscriber gets it."""
    need_redis()
    from kefu.events.redis_bus import RedisBus

    ns = f"kefu-pair-{uuid.uuid4().hex[:8]}"
    a, b = RedisBus(REDIS_URL, namespace=ns), RedisBus(REDIS_URL, namespace=ns)
    await a.start()
    await b.start()
    try:
        async with b.subscribe() as sub:
            a.publish([ev(42)])
            assert (await sub.get(timeout=5)).id == 42
    finally:
        await a.stop()
        await b.stop()


async def test_redis_bus_reports_unreachable_redis() -> None:
    from kefu.events.redis_bus import RedisBus

    bus = RedisBus("redis://127.0.0.1:1/0")
    health = await bus.health()
    assert not health.ok and "unreachable" in health.detail


async def test_redis_bus_tells_subscribers_to_catch_up_after_a_lost_connection() -> None:
    need_redis()
    import redis as redis_sync

    from kefu.events.redis_bus import RedisBus

    bus = RedisBus(REDIS_URL, namespace=f"kefu-drop-{uuid.uuid4().hex[:8]}")
    await bus.start()
    try:
        async with bus.subscribe() as sub:
            admin = redis_sync.Redis.from_url(REDIS_URL)
            killed = [c for c in admin.client_list() if c.get("name") == bus.client_name]
            assert killed, "the subscriber connection is named"
            for client in killed:
                admin.client_kill_filter(_id=client["id"])
            with pytest.raises(SubscriptionLagged):
                await sub.get(timeout=10)
    finally:
        await bus.stop()


async def test_redis_bus_still_delivers_locally_when_redis_is_gone() -> None:
    from kefu.events.redis_bus import RedisBus

    bus = RedisBus("redis://127.0.0.1:1/0")
    async with bus.subscribe() as sub:
        with pytest.raises(Exception, match=r"(?i)connect"):
            bus.publish([ev(7)])
        assert (await sub.get(timeout=2)).id == 7
