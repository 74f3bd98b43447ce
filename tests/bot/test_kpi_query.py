"""The KPIs counted in SQL (kefu.bot.kpi_query) are those of the definition in code (kefu.bot.kpi), on random
event histories in the database of this run's backend (SQLite, or PostgreSQL)."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kefu.bot.kpi import BotEvent, bot_kpis, bucketed_bot_kpis, daily_bot_kpis, day_starts, hour_starts
from kefu.bot.kpi_query import bucketed_kpis, daily_kpis, period_kpis
from kefu.db.session import Database
from kefu.models.event import Event
from tests.factories import make_tenant

TZ = ZoneInfo("Asia/Shanghai")
FIRST_DAY = date(2026, 11, 9)
DAYS = [FIRST_DAY + timedelta(days=n) for n in range(4)]


@dataclass(frozen=True)
class Timed:
    at: datetime
    event: BotEvent


def history(rng: random.Random, conversations: int, *, since: datetime, until: datetime) -> list[Timed]:
    """Conversations of the bot (some handed over, ended, rated; feedback changed) and of channels without a
    bot, each beginning at a random time in ``[since, until)``; every event falls before ``until``."""
    out: list[Timed] = []
    span = (until - since).total_seconds()
    message = 1000
    for cid in range(1, conversations + 1):
        at = since + timedelta(seconds=rng.uniform(0, span * 0.97))

        def add(kind: str, payload: dict[str, object], cid: int = cid) -> None:
            nonlocal at
            out.append(Timed(at, BotEvent(kind, cid, payload)))
            at = min(at + timedelta(seconds=rng.choice((0, 1, 30, 600, 4000))), until - timedelta(seconds=1))

        if rng.random() < 0.15:  # a channel without a bot
            add("conversation.queued", {"reason": "no_bot"})
            if rng.random() < 0.5:
                add("conversation.ended", {})
            continue
        for _ in range(rng.randint(1, 4)):
            outcome = rng.choice(("answer", "answer", "suggest", "unknown", "handover", "smalltalk"))
            message += 1
            payload: dict[str, Any] = {"outcome": outcome, "message_id": message}
            if outcome == "answer" and rng.random() < 0.3:
                payload["picked"] = True  # a suggestion the visitor picked
            elif outcome == "answer" and rng.random() < 0.3:
                payload["picked"] = False
            add("bot.replied", payload)
            if outcome == "answer":
                for _ in range(rng.choice((0, 0, 1, 2))):
                    add("bot.feedback", {"message_id": message, "helpful": rng.random() < 0.6})
            if outcome == "handover":
                break
        if rng.random() < 0.35:
            add("conversation.queued", {"reason": rng.choice(("bot_handover", "bot_misses"))})
        if rng.random() < 0.2:
            add("conversation.queued", {})  # no reason given: a hand-over too
        if rng.random() < 0.7:
            add("conversation.ended", {"by": "visitor"})
    out.sort(key=lambda t: t.at)
    return out


def store(database: Database, tenant_id: int, events: list[Timed], *, cid_offset: int = 0) -> None:
    with database.session() as db:
        db.add_all(
            Event(
                tenant_id=tenant_id,
                type=t.event.type,
                occurred_at=t.at,
                conversation_id=(t.event.conversation_id or 0) + cid_offset,
                payload=t.event.payload,
            )
            for t in events
        )
        db.add(Event(tenant_id=tenant_id, type="bot.replied", conversation_id=None, payload={"outcome": "answer"}))
        db.commit()


@pytest.fixture
def tenants(database: Database) -> tuple[int, int]:
    with database.session() as db:
        a, _ = make_tenant(db, "kpi-a")
        b, _ = make_tenant(db, "kpi-b")
        db.commit()
    return a, b


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_counts_what_the_definition_counts(database: Database, tenants: tuple[int, int], seed: int) -> None:
    rng = random.Random(seed)
    tenant, other = tenants
    starts = day_starts(TZ, DAYS)
    # from a day before the first day (conversations begun then are not counted by day) to the last's end
    events = history(rng, 160, since=starts[0] - timedelta(days=1), until=starts[-1])
    # conversations across the first midnight: begun before it, so counted on no day (only by period)
    for cid in (901, 902):
        unknown = BotEvent("bot.replied", cid, {"outcome": "unknown"})
        events += [
            Timed(starts[0] - timedelta(minutes=5), unknown),
            Timed(starts[0] + timedelta(minutes=1), unknown),
            Timed(starts[0] + timedelta(minutes=2), BotEvent("conversation.queued", cid, {"reason": "bot_misses"})),
        ]
    events.sort(key=lambda t: t.at)
    store(database, tenant, events)
    store(database, other, history(rng, 40, since=starts[0], until=starts[-1]), cid_offset=10_000)

    with database.session() as db:
        daily, total = daily_kpis(db, tenant, TZ, DAYS)
        want_daily, want_total = daily_bot_kpis(((t.at, t.event) for t in events), TZ, DAYS)
        assert daily == want_daily
        assert total == want_total
        assert total.conversations > 50 and total.resolved_by_bot > 0 and total.feedback > 0  # not all empty

        # by hour of one day (the curve of 机器人数据's 今天)
        hours = hour_starts(TZ, DAYS[1])
        hourly, day_total = bucketed_kpis(db, tenant, hours)
        want_hourly, want_day_total = bucketed_bot_kpis(((t.at, t.event) for t in events), hours)
        assert len(hourly) == 24 and hourly == want_hourly and day_total == want_day_total == want_daily[1][1]
        assert sum(k.conversations > 0 for k in hourly) >= 5

        for since, until in ((starts[0], starts[-1]), (starts[1] + timedelta(hours=5), starts[3])):
            got = period_kpis(db, tenant, since, until)
            assert got == bot_kpis(t.event for t in events if since <= t.at < until), (since, until)


def test_nothing_counted_is_null_not_zero(database: Database, tenants: tuple[int, int]) -> None:
    tenant, _ = tenants
    with database.session() as db:
        daily, total = daily_kpis(db, tenant, TZ, DAYS)
        assert [d for d, _ in daily] == DAYS
        assert all(k.conversations == 0 and k.answer_rate is None for _, k in daily)
        assert total.helpful_rate is None
        empty = period_kpis(db, tenant, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
        assert empty.conversations == 0 and empty.self_service_rate is None


def test_days_follow_the_time_zone_across_a_dst_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    starts = day_starts(berlin, [date(2026, 10, 24), date(2026, 10, 25)])  # clocks go back on the 25th
    assert [s.hour for s in starts] == [22, 22, 23]  # midnight is 22:00 UTC in summer, 23:00 in winter
    assert starts[2] - starts[1] == timedelta(hours=25)
    with pytest.raises(ValueError):
        day_starts(berlin, [date(2026, 10, 24), date(2026, 10, 26)])
    # hours of a day: 25 on the day clocks go back, 23 on the day they go forward, each an hour long
    back = hour_starts(berlin, date(2026, 10, 25))
    assert len(back) == 26 and back[0] == starts[1] and back[-1] == starts[2]
    assert {b - a for a, b in itertools.pairwise(back)} == {timedelta(hours=1)}
    assert [h.astimezone(berlin).hour for h in back[:5]] == [0, 1, 2, 2, 3]  # 02:00 twice
    assert len(hour_starts(berlin, date(2026, 3, 29))) == 24  # 23 hours
    assert len(hour_starts(TZ, DAYS[0])) == 25
