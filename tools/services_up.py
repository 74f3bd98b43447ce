"""Exit 0 when the PostgreSQL and Redis the tests use answer, else say which does not and exit 1."""

from __future__ import annotations

import os
import sys

import redis
from sqlalchemy import create_engine, text

PG = os.environ.get("KEFU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("KEFU_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def main() -> int:
    ok = True
    try:
        engine = create_engine(PG, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        print(f"PostgreSQL {PG}: {str(exc).splitlines()[0]}", file=sys.stderr)
        ok = False
    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=3).ping()
    except Exception as exc:
        print(f"Redis {REDIS}: {exc}", file=sys.stderr)
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
