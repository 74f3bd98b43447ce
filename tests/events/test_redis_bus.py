"""The Redis bus's wire form: one message per run of a tenant's events (kefu.events.redis_bus)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import redis

from kefu.events.envelope import EventEnvelope
from kefu.events.redis_bus import RedisBus, decode_events
from tests.conftest import REDIS_URL, need_redis


def ev(i: int, tenant: int = 1) -> EventEnvelope:
    return EventEnvelope(
        id=i,
        tenant_id=tenant,
        type="message.sent",
        occurred_at=datetime(2026, 12, 2, 8, 0, i, tzinfo=UTC),
        team_id=3,
        conversation_id=10 + i,
        payload={"body": "<b>你好</b>", "seq": i, "attachment": None},
    )


def test_an_envelope_survives_its_json_form() -> None:
    event = ev(1)
    assert EventEnvelope.from_json(event.to_json()) == event
    assert decode_events(event.to_json()) == [event]  # one envelope, as published before arrays


def test_a_batch_goes_as_one_message_per_run_of_one_tenant() -> None:
    need_redis()
    bus = RedisBus(REDIS_URL, namespace=f"kefu-wire-{uuid.uuid4().hex[:8]}")
    listener = redis.Redis.from_url(REDIS_URL).pubsub()
    listener.psubscribe(f"{bus.prefix}*")
    assert listener.get_message(timeout=5)["type"] == "psubscribe"  # type: ignore[index]
    events = [ev(1), ev(2), ev(3, tenant=2), ev(4)]
    bus.publish(events)
    got: list[tuple[str, list[EventEnvelope]]] = []
    for _ in range(3):
        msg = listener.get_message(timeout=5)
        assert msg is not None and msg["type"] == "pmessage"
        got.append((msg["channel"].decode(), decode_events(msg["data"])))
    assert got == [(bus.channel(1), events[:2]), (bus.channel(2), events[2:3]), (bus.channel(1), events[3:])]
    assert listener.get_message(timeout=0.3) is None
    listener.close()


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"x"', b"{}", b"not json"])
def test_a_malformed_message_is_refused(raw: bytes) -> None:
    with pytest.raises((ValueError, TypeError, KeyError)):
        decode_events(raw)
