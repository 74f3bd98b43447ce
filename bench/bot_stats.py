"""Bot KPIs by day (机器人数据) on a big tenant: counted in SQL (``kefu.bot.kpi_query``, what the API does)
against its peer, reading the same events into Python and counting them there (``kefu.bot.kpi``, what
the API did before), on the same database in one run.

A tenant is given ``--conversations`` bot conversations spread over ``--days`` days (answers, suggestions,
"not understood", feedback, hand-overs, ends: about five events each), written straight into ``events``
as the actions would have. Both ways then compute the daily figures of all those days; they must agree.

Prints one JSON object on stdout (progress on stderr). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from common import machine  # bench/ is on sys.path when a benchmark runs as a script

T = TypeVar("T")
TZ = ZoneInfo("Asia/Shanghai")


def log(*parts: Any) -> None:
    print("[bot_stats]", *parts, file=sys.stderr, flush=True)


def events_of(rng: random.Random, tenant_id: int, cid: int, at: datetime, message: int) -> list[dict[str, Any]]:
    """One bot conversation's events, as the actions write them."""
    rows: list[dict[str, Any]] = []

    def add(kind: str, payload: dict[str, Any]) -> None:
        nonlocal at
        rows.append(
            {"tenant_id": tenant_id, "type": kind, "occurred_at": at, "conversation_id": cid, "payload": payload}
        )
        at += timedelta(seconds=rng.randint(2, 90))

    for n in range(rng.choice((1, 1, 2, 3))):
        outcome = rng.choices(("answer", "suggest", "unknown", "handover"), (60, 20, 15, 5))[0]
        add("bot.replied", {"outcome": outcome, "message_id": message + n})
        if outcome == "answer" and rng.random() < 0.3:
            add("bot.feedback", {"message_id": message + n, "helpful": rng.random() < 0.8})
        if outcome == "handover":
            add("conversation.queued", {"reason": "bot_handover"})
            break
    add("conversation.ended", {"by": "visitor"})
    return rows


def seed(database: Any, conversations: int, days: int, now: datetime) -> int:
    from sqlalchemy import insert

    from kefu.actions.tenants import do_create_tenant
    from kefu.models.event import Event

    with database.session() as db:
        tenant = do_create_tenant(db, slug="bench", name="Bench", admin_username="admin", admin_password="x" * 12)
        tenant_id: int = tenant.tenant.id
        db.commit()
    rng = random.Random(11)
    start = now - timedelta(days=days)
    batch: list[dict[str, Any]] = []
    written = 0
    with database.session() as db:
        for cid in range(1, conversations + 1):
            at = start + timedelta(seconds=rng.uniform(0, days * 86400 - 3600))
            batch += events_of(rng, tenant_id, cid, at, cid * 10)
            if len(batch) >= 20_000 or cid == conversations:
                db.execute(insert(Event), batch)
                written += len(batch)
                batch = []
                log(f"seeded {cid:,}/{conversations:,} conversations, {written:,} events")
        db.commit()
    return written


def measured(fn: Callable[[], T], rounds: int) -> tuple[T, float, float]:
    """The result, the best wall time of ``rounds`` runs, and the peak Python memory (MB) of one."""
    best = float("inf")
    result: T | None = None
    for _ in range(rounds):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    assert result is not None
    return result, best, peak


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conversations", type=int, default=200_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--rounds", type=int, default=3, help="timed runs of each way (the best is reported)")
    p.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    p.add_argument("--quick", action="store_true", help="smoke run: 5,000 conversations, 1 round")
    args = p.parse_args()
    if args.quick:
        args.conversations, args.rounds = 5000, 1

    from sqlalchemy import select

    from kefu.bot.kpi import BotEvent, daily_bot_kpis, day_starts
    from kefu.bot.kpi_query import daily_kpis
    from kefu.db.engine import make_engine
    from kefu.db.migrate import upgrade
    from kefu.db.session import Database
    from kefu.events.bus import MemoryBus
    from kefu.models.event import Event

    tmp = tempfile.mkdtemp(prefix="kefu-bench-bot-stats-")
    engine = make_engine(args.database_url or f"sqlite:///{tmp}/kefu.db")
    upgrade(engine)
    database = Database(engine, MemoryBus())
    now = datetime.now(UTC)
    today = now.astimezone(TZ).date()
    dates = [today - timedelta(days=n) for n in range(args.days, -1, -1)]  # the seeded days and today
    t = time.perf_counter()
    events = seed(database, args.conversations, args.days, now)
    log(f"seeded in {time.perf_counter() - t:.1f}s")
    with database.session() as db:
        tenant_id = db.scalar(select(Event.tenant_id).limit(1))
    assert tenant_id is not None

    def in_sql() -> Any:
        with database.session() as db:
            return daily_kpis(db, tenant_id, TZ, dates)

    def in_python() -> Any:
        """What the route did before: every event of the days read, counted in Python."""
        starts = day_starts(TZ, dates)
        start, end = starts[0], starts[-1]
        with database.session() as db:
            rows = db.execute(
                select(Event.occurred_at, Event.type, Event.conversation_id, Event.payload)
                .where(
                    Event.tenant_id == tenant_id,
                    Event.type.in_(("bot.replied", "bot.feedback", "conversation.queued", "conversation.ended")),
                    Event.occurred_at >= start,
                    Event.occurred_at < end,
                )
                .order_by(Event.occurred_at, Event.id)
            )
            return daily_bot_kpis(
                ((r.occurred_at, BotEvent(r.type, r.conversation_id, r.payload or {})) for r in rows), TZ, dates
            )

    log("counting in SQL …")
    sql_result, sql_s, sql_mb = measured(in_sql, args.rounds)
    log(f"SQL: {sql_s:.2f}s; counting in Python …")
    py_result, py_s, py_mb = measured(in_python, args.rounds)
    log(f"Python: {py_s:.2f}s")
    total = sql_result[1]
    print(
        json.dumps(
            {
                "conversations": args.conversations,
                "events": events,
                "days": len(dates),
                "backend": database.backend,
                "sql_s": round(sql_s, 3),
                "python_s": round(py_s, 3),
                "ratio": round(py_s / sql_s, 2),  # how many times faster SQL is than the peer
                "sql_peak_mb": round(sql_mb, 1),
                "python_peak_mb": round(py_mb, 1),
                "same_figures": sql_result == py_result,
                "counted_conversations": total.conversations,
                "self_service_rate": total.self_service_rate,
                "machine": machine(),
            }
        )
    )
    database.dispose()


if __name__ == "__main__":
    main()
