"""Engines for SQLite (embedded default) and PostgreSQL (scale-out), with the same behaviour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from kefu.jsontext import dumps

#: Execution option that marks a connection's next transaction as a write transaction.
WRITE_OPTION = "kefu_write"


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """Create the engine for ``url``; SQLite gets WAL, foreign keys and real transactions."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return create_engine(
        url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True, json_serializer=dumps
    )


def _sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, json_serializer=dumps)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; we emit BEGIN ourselves.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a committed transaction survives a killed process (kill -9); only an OS crash or
        # power loss can drop the last commits, which is the trade-off SQLite documents for WAL.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers (actions, see kefu.db.session.action) begin IMMEDIATE: they take the write lock up front,
        # because a deferred transaction that reads and then writes fails at once with SQLITE_BUSY when
        # another writer committed in between, which the busy timeout cannot help. Readers begin deferred
        # and, in WAL mode, never wait for anyone.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN")

    return engine


def backend_name(engine: Engine) -> str:
    return engine.dialect.name
