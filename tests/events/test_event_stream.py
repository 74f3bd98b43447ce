"""The live event stream follows the same access rules as queries."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.factories import World, login, make_world


@pytest.fixture
def world(database) -> World:  # type: ignore[no-untyped-def]
    return make_world(database)


def next_event(ws: Any) -> dict[str, Any]:
    while True:
        frame = ws.receive_json()
        if frame["type"] == "event":
            return frame["event"]  # type: ignore[no-any-return]


def test_stream_is_scoped(client: TestClient, world: World) -> None:
    url = "/api/v1/events/stream"
    with (
        client.websocket_connect(url, headers=world.headers("sup_hq")) as hq,
        client.websocket_connect(url, headers=world.headers("sup_south")) as south,
        client.websocket_connect(url, headers=world.headers("admin_b")) as other_tenant,
    ):
        for ws in (hq, south, other_tenant):
            assert ws.receive_json()["type"] == "hello"
        # Something happens in 华东: only the supervisors above it may see it.
        created = client.post(
            "/api/v1/teams",
            json={"name": "华东二组", "parent_id": world.east},
            headers=world.headers("admin_a"),
        )
        assert created.status_code == 201
        # Then markers each outsider may see: the next event they get must be the marker, not the 华东 one.
        marker_south = client.post(
            "/api/v1/teams",
            json={"name": "华南一组", "parent_id": world.south},
            headers=world.headers("admin_a"),
        ).json()
        marker_b = client.post("/api/v1/teams", json={"name": "B 总部"}, headers=world.headers("admin_b")).json()

        first = next_event(hq)
        assert first["type"] == "team.created" and first["team_id"] == created.json()["id"]
        assert next_event(hq)["team_id"] == marker_south["id"]
        assert next_event(south)["team_id"] == marker_south["id"]
        got_b = next_event(other_tenant)
        assert got_b["team_id"] == marker_b["id"] and got_b["tenant_id"] == world.tenant_b


def test_stream_replays_what_was_missed(client: TestClient, world: World) -> None:
    first = client.get("/api/v1/events", headers=world.headers("sup_east")).json()
    assert first["events"], "the 华东 supervisor sees the events of his subtree"
    assert all(e["tenant_id"] == world.tenant_a for e in first["events"])
    after = first["events"][0]["id"]
    missed = [e["id"] for e in first["events"][1:]]
    url = f"/api/v1/events/stream?after_id={after}"
    with client.websocket_connect(url, headers=world.headers("sup_east")) as ws:
        assert ws.receive_json()["type"] == "hello"
        # At least once: everything after `after`, in order, possibly preceded by a few already seen.
        replayed = [next_event(ws)["id"] for _ in range(len(first["events"]))]
    assert [i for i in replayed if i > after] == missed
    assert len(set(replayed)) == len(replayed)


def test_stream_refuses_strangers_and_other_sites(client: TestClient, world: World) -> None:
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/api/v1/events/stream") as ws:
        ws.receive_json()
    assert info.value.code == 4401
    login(client, "tenant-a", "admin")
    with (
        pytest.raises(WebSocketDisconnect) as info,
        client.websocket_connect("/api/v1/events/stream", headers={"Origin": "https://evil.example"}) as ws,
    ):
        ws.receive_json()
    assert info.value.code == 4403
    with client.websocket_connect("/api/v1/events/stream", headers={"Origin": "http://testserver"}) as ws:
        assert ws.receive_json()["type"] == "hello"


def test_a_cookie_socket_from_another_site_is_refused_even_with_an_authorization_header(
    client: TestClient, world: World
) -> None:
    login(client, "tenant-a", "admin")
    headers = {"Origin": "https://evil.example", "Authorization": "Basic dXNlcjpwYXNz"}
    with (
        pytest.raises(WebSocketDisconnect) as info,
        client.websocket_connect("/api/v1/events/stream", headers=headers) as ws,
    ):
        ws.receive_json()
    assert info.value.code in (4401, 4403)
