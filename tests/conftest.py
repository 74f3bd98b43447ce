"""Test fixtures. The whole suite runs on one storage backend per run, chosen by KEFU_TEST_BACKEND:

- ``sqlite`` (default): a migrated SQLite file copied per test, the in-process bus;
- ``postgres``: PostgreSQL (tables truncated between tests) and the Redis bus.

``tools/test`` runs the suite once with each. Where PostgreSQL or Redis cannot be reached the tests
that need them are skipped with a loud reason, unless KEFU_REQUIRE_SERVICES=1 (as in CI), which turns
that into a failure.
"""

from __future__ import annotations

import os

# Before kefu is imported: hashing hundreds of test passwords with production parameters takes minutes.
os.environ.setdefault("KEFU_ARGON2_PROFILE", "CHEAPEST")
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from kefu.app import create_app
from kefu.config import Settings
from kefu.db.base import Base
from kefu.db.engine import make_engine
from kefu.db.migrate import upgrade
from kefu.db.session import Database
from kefu.events.bus import EventBus, MemoryBus

BACKEND = os.environ.get("KEFU_TEST_BACKEND", "sqlite")
POSTGRES_URL = os.environ.get("KEFU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("KEFU_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("KEFU_REQUIRE_SERVICES") == "1"
#: Unique per run, so that runs sharing one Redis never see each other's events.
NAMESPACE = f"kefutest-{uuid.uuid4().hex[:8]}"


def reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url.replace("postgresql+psycopg", "postgresql"))
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def need_service(name: str, url: str, port: int) -> None:
    if reachable(url, port):
        return
    message = f"!!! {name} at {url} is not reachable: the tests that need it did NOT run !!!"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


def need_postgres() -> None:
    need_service("PostgreSQL", POSTGRES_URL, 5432)


def need_redis() -> None:
    need_service("Redis", REDIS_URL, 6379)


def pytest_report_header(config: pytest.Config) -> str:
    where = POSTGRES_URL + " + Redis " + REDIS_URL if BACKEND == "postgres" else "SQLite (file per test) + memory bus"
    return f"kefu test backend: {BACKEND} — {where}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_sep("=", f"kefu suite ran on backend: {BACKEND.upper()}", bold=True)


# --- storage ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "kefu.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    need_postgres()
    engine = make_engine(POSTGRES_URL, pool_size=5)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    yield engine
    engine.dispose()


def _truncate(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        # TRUNCATE does not fire the row triggers that keep `events` append-only.
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if BACKEND == "postgres":
        engine: Engine = request.getfixturevalue("postgres_engine")
        _truncate(engine)
        return POSTGRES_URL
    template: Path = request.getfixturevalue("sqlite_template")
    target = tmp_path / "kefu.db"
    shutil.copy(template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def bus() -> EventBus:
    if BACKEND == "postgres":
        need_redis()
        from kefu.events.redis_bus import RedisBus

        return RedisBus(REDIS_URL, namespace=NAMESPACE)
    return MemoryBus()


@pytest.fixture
def database(database_url: str, bus: EventBus) -> Iterator[Database]:
    db = Database(make_engine(database_url, pool_size=5), bus)
    yield db
    db.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        var_dir=tmp_path / "var",
        database_url=database_url,
        redis_url=REDIS_URL if BACKEND == "postgres" else None,
        bus_namespace=NAMESPACE,
        secret_key="test-secret-key",
        log_json=False,
        # The in-process tests commit on a thread (a child process per app would cost each test a second);
        # the process writer has tests of its own, and every test of a real server uses it.
        message_writer="thread",
        gc_tuning=False,  # process-wide: tested on its own (tests/ops/test_gc_tuning.py)
    )


@pytest.fixture
def app(settings: Settings, database: Database):  # type: ignore[no-untyped-def]
    return create_app(settings, database)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as c:
        yield c


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
