"""Fixtures of the in-process live tests: the shop (tests/live/ws.py) and a client of the whole app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kefu.config import Settings
from kefu.db.session import Database
from tests.live.ws import Shop, make_shop


@pytest.fixture
def shop(database: Database) -> Shop:
    return make_shop(database)


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    from kefu.app import create_app

    with TestClient(create_app(settings, database)) as c:
        yield c
