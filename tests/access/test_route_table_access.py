"""Every route of the application refuses callers outside the data's tenant and team subtree.

The routes come from the application's own route table, so a route added later is probed without
anyone remembering to add it here. For each route the probe fills path parameters, filters and request
bodies with the ids of the 华东 subtree of tenant A, and calls it as: the administrator of tenant B, the
supervisor of the sibling team 华南, an agent of 华南 and the inspector of 华南. Each must be refused
(403/404), or — for lists and self-service routes — answered without a single row of the 华东 subtree.
A positive control checks that the parent team's supervisor does see the same data, so a refusal means
scope, not a broken probe.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kefu.access.scope import caller_for
from kefu.actions.conversations import do_accept_conversation, do_queue_conversation, do_start_conversation
from kefu.actions.messages import SendRequest, do_send_messages
from kefu.actions.quick_replies import do_create_quick_reply
from kefu.actions.visitors import do_open_visitor
from kefu.api.route_table import routes_of
from kefu.app import PUBLIC_PATHS
from kefu.db.session import Database
from kefu.models.channel import Channel
from kefu.models.conversation import SenderKind
from kefu.models.quick_reply import QuickReplyScope
from kefu.schemas.quick_reply import QuickReplyCreate
from tests.factories import World, login, make_world
from tests.kb.probe import tenant_a_kb

DOC_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
#: Routes that only ever act on the caller himself or his own tenant (no id of anyone else's data).
SELF_SCOPED = {
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/password"),
    ("GET", "/api/v1/tenant"),
    ("PATCH", "/api/v1/tenant"),
    # Stores a file under the caller's own tenant; names nobody else's data.
    ("POST", "/api/v1/uploads"),
    # Knowledge base: create rows in the caller's own tenant (administrators only).
    ("POST", "/api/v1/kb/entries"),
    ("POST", "/api/v1/kb/categories"),
    ("POST", "/api/v1/kb/dictionary"),
    ("POST", "/api/v1/kb/synonyms"),
    ("POST", "/api/v1/kb/import"),
    # Asks the caller's own tenant's bot the questions of an uploaded file; names entries of that tenant only
    # (tests/api/test_bot_trial.py: another tenant's entries are unknown there).
    ("POST", "/api/v1/bot/trial"),
}
#: WebSocket routes and the test that proves each one's scope.
WEBSOCKET_ROUTES = {
    "/api/v1/events/stream": "tests/events/test_event_stream.py::test_stream_is_scoped",
    "/ws/agent": "tests/live/test_chat_flow.py::test_agent_socket_is_scoped",
    "/ws/visitor": "tests/live/test_chat_flow.py::test_a_reconnecting_visitor_gets_exactly_what_he_missed",
}
#: Areas only administrators may use: the positive control calls them as the administrator of tenant A.
ADMIN_ONLY = ("/api/v1/api-tokens", "/api/v1/channels", "/api/v1/bot/")
#: Tenant-wide areas, owned by no team: every member of staff of the tenant may read them (agents search
#: the knowledge base while chatting), so for their reads only the other tenant's administrator is an
#: outsider; changes are for the tenant's administrators (tests/api/test_kb.py proves both).
TENANT_WIDE = ("/api/v1/kb/",)
#: Areas whose team rows are inherited down the tree: a team's quick replies are used by the members of the
#: teams below it too, so the supervisor of 华东一组 reads 华东's by design (he may not change them: 403).
#: For their reads sup_east1 is no outsider; tests/api/test_quick_replies.py proves who sees what.
INHERITED_DOWN = ("/api/v1/quick-replies",)
OUTSIDERS = ["admin_b", "sup_south", "sup_south (cookie)", "agent_south", "qa_south", "sup_east1"]


def targets(world: World, who: str = "admin_b") -> dict[str, set[int]]:
    """The rows of the 华东 subtree that ``who`` must not see."""
    u = world.users
    tgt = {
        "team": {world.east, world.east1},
        "user": {u["sup_east"].id, u["agent_east"].id, u["agent_east1"].id},
        "skill_group": {world.skill_group},
        "tenant": {world.tenant_a},
    }
    if who != "admin_b":
        del tgt["tenant"]  # callers of tenant A may of course know tenant A
    elif isinstance(world, ProbeWorld):
        tgt["channel"] = {world.channel}
        tgt["kb"] = set(world.kb.values())
    if isinstance(world, ProbeWorld):
        tgt["conversations"] = {world.conversation}  # 华东's: no outsider may even name it
    if who == "sup_east1":  # his own team and its people are his; the parent team's are not
        tgt["team"] = {world.east}
        tgt["user"] = {u["sup_east"].id, u["agent_east"].id}
        # His own team row names its parent's id: that shows no data of the parent team.
        tgt["parent_ok"] = {world.east}
    return tgt


def as_outsider(client: TestClient, world: World, who: str) -> tuple[TestClient, dict[str, str]]:
    if who.endswith("(cookie)"):
        browser = TestClient(client.app)
        login(browser, "tenant-a", who.split()[0])
        return browser, {}
    return client, world.headers(who)


@dataclass
class ProbeWorld(World):
    """The world plus a conversation of 华东 (its skill group, served by agent_east, with a message)."""

    conversation: int = 0
    channel: int = 0
    kb: dict[str, int] = dataclasses.field(default_factory=dict)  # knowledge-base rows of tenant A (tests/kb/probe.py)
    quick_reply: int = 0  # a team quick reply of 华东


def east_conversation(database: Database, world: World) -> int:
    with database.session() as db:
        channel = db.scalars(select(Channel).where(Channel.tenant_id == world.tenant_a)).first()
        assert channel is not None and channel.widget_key is not None
        visitor = do_open_visitor(db, widget_key=channel.widget_key, secret_key="probe").visitor.id
        cid = do_start_conversation(db, tenant_id=world.tenant_a, channel_id=channel.id, visitor_id=visitor).id
        do_queue_conversation(db, cid, tenant_id=world.tenant_a, skill_group_id=world.skill_group)
        do_accept_conversation(db, cid, tenant_id=world.tenant_a, agent_id=world.users["agent_east"].id)
        do_send_messages(
            db, [SendRequest(cid, world.tenant_a, SenderKind.visitor, visitor, "probe", client_msg_id="p")]
        )
        return cid


def path_values(world: ProbeWorld, token_id: int) -> dict[str, int]:
    return {
        "team_id": world.east,
        "user_id": world.users["agent_east"].id,
        "skill_group_id": world.skill_group,
        "token_id": token_id,
        "conversation_id": world.conversation,
        "channel_id": world.channel,
        "quick_reply_id": world.quick_reply,
        **world.kb,
    }


def body_values(world: World) -> dict[str, Any]:
    return {
        "name": "probe",
        "parent_id": world.east,
        "team_id": world.east,
        "team_ids": [world.east],
        "user_id": world.users["agent_east"].id,
        "username": "probe_user",
        "display_name": "probe",
        "password": "probe-password-1",
        "role": "agent",
        "priority": 1,
        "mode": "round_robin",
        "description": "probe",
        "current_password": "not-the-password",
        "new_password": "probe-password-2",
        "standard_question": "probe",
        "answer": "probe",
        "question": "probe",
        "words": ["探针", "probe"],
        "entry_id": world.kb["entry_id"] if isinstance(world, ProbeWorld) else 1,
        # into itself: refused (422) for the owner, so the probe's entry survives the probe
        "merged_entry_id": world.kb["entry_id"] if isinstance(world, ProbeWorld) else 1,
        # the same entry again: refused (422) for the owner, so the probe's dismissal stays as it is
        "other_entry_id": world.kb["entry_id"] if isinstance(world, ProbeWorld) else 1,
        "title": "probe",
        "body": "probe",
        "scope": "team",
    }


def sample_body(schema: dict[str, Any], components: dict[str, Any], values: dict[str, Any], where: str) -> Any:
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in schema:
        schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
        return sample_body(schema, components, values, where)
    body = {}
    for field in schema.get("properties", {}):
        if field in values:
            body[field] = values[field]
        elif field in schema.get("required", []):
            pytest.fail(f"{where}: the access probe has no sample value for required field {field!r}; add one")
    return body


def resource_of(path: str) -> str:
    segment = path.removeprefix("/api/v1/").split("/")[0]
    return {
        "teams": "team",
        "users": "user",
        "skill-groups": "skill_group",
        "channels": "channel",
        "tenant": "tenant",
        "api-tokens": "api_token",
        "events": "event",
        "auth": "self",
        "kb": "kb",
    }.get(segment, segment)


def leaks(data: Any, resource: str, tgt: dict[str, set[int]]) -> list[str]:
    """Every place in a JSON answer that names a row of the target subtree."""
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                kind = {
                    "team_id": "team",
                    "parent_id": "team",
                    "user_id": "user",
                    "actor_id": "user",
                    "skill_group_id": "skill_group",
                    "tenant_id": "tenant",
                    "channel_id": "channel",
                    "conversation_id": "conversations",
                    "entry_id": "kb",
                }.get(key)
                if key == "id":
                    kind = resource
                if key in ("team_ids", "visible_team_ids") and isinstance(value, list):
                    found.extend(f"{path}.{key}" for v in value if v in tgt["team"])
                if key == "parent_id" and value in tgt.get("parent_ok", ()):
                    kind = None
                if kind in tgt and isinstance(value, int) and value in tgt[kind]:
                    found.append(f"{path}.{key}={value}")
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]")

    walk(data, "$")
    return found


def http_routes(client: TestClient) -> list[tuple[str, str]]:
    routes = [
        (method, r.path)
        for r in routes_of(client.app)  # type: ignore[arg-type]
        if r.kind == "http" and r.path not in DOC_PATHS
        for method in sorted(r.methods - {"HEAD", "OPTIONS"})
    ]
    # Two sources must agree, so a change in how FastAPI nests routers cannot hide a route from the probe.
    schema = client.app.openapi()  # type: ignore[attr-defined]
    in_schema = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    assert in_schema <= set(routes), f"routes in OpenAPI that the route walk missed: {in_schema - set(routes)}"
    hidden = {r for r in routes if r not in in_schema and r[1] not in PUBLIC_PATHS}
    assert not hidden, f"routes hidden from OpenAPI must be public or documented: {hidden}"
    return routes


def call(
    client: TestClient,
    method: str,
    path: str,
    headers: dict[str, str],
    world: ProbeWorld,
    token_id: int,
    schema: dict[str, Any],
) -> Any:
    values = path_values(world, token_id)
    params = re.findall(r"{(\w+)}", path)
    for name in params:
        if name not in values:
            pytest.fail(f"{method} {path}: the access probe has no sample for path parameter {name!r}; add one")
    url = path.format(**{p: values[p] for p in params})
    op = schema["paths"].get(path, {}).get(method.lower(), {})
    query = {}
    for param in op.get("parameters", []):
        if param["in"] == "query" and param["name"] in ("team_id", "parent_id", "user_id", "skill_group_id"):
            query[param["name"]] = values.get(param["name"], world.east if "team" in param["name"] else None)
        if param["in"] == "query" and param["name"] == "parent_id":
            query["parent_id"] = world.hq
    body = None
    if "multipart/form-data" in op.get("requestBody", {}).get("content", {}):
        png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\0" * 64
        if path.startswith(TENANT_WIDE):
            upload = ("kb.csv", "标准问题,答案\n探针问题,探针答案\n".encode())
        elif path.startswith("/api/v1/bot/"):  # questions that tenant A's knowledge base would answer
            upload = ("q.csv", "问题\n怎么退货\n我想退货\n".encode())
        else:
            upload = ("a.png", png)
        return client.request(method, url, headers=headers, params=query, files={"file": upload})
    if "requestBody" in op:
        content = op["requestBody"]["content"]["application/json"]["schema"]
        body = sample_body(content, schema["components"]["schemas"], body_values(world), f"{method} {path}")
    return client.request(method, url, headers=headers, params=query, json=body)


@pytest.fixture
def world(database) -> ProbeWorld:  # type: ignore[no-untyped-def]
    world = make_world(database)
    probe = ProbeWorld(**vars(world), conversation=east_conversation(database, world))
    with database.session() as db:
        probe.channel = db.scalars(select(Channel.id).where(Channel.tenant_id == world.tenant_a)).one()
    probe.kb = tenant_a_kb(database, world)
    with database.session() as db:
        sup_east = caller_for(db, world.users["sup_east"])
        reply = QuickReplyCreate(title="华东话术", body="您好", scope=QuickReplyScope.team, team_id=world.east)
        probe.quick_reply = do_create_quick_reply(db, sup_east, reply).id
    return probe


def agent_east_token_id(client: TestClient, world: World) -> int:
    resp = client.get("/api/v1/api-tokens", headers=world.headers("admin_a"), params={"page_size": 200})
    return next(t["id"] for t in resp.json()["items"] if t["user_id"] == world.users["agent_east"].id)


def test_every_route_refuses_other_tenants_and_sibling_teams(client: TestClient, world: ProbeWorld) -> None:
    schema = client.app.openapi()  # type: ignore[attr-defined]
    token_id = agent_east_token_id(client, world)
    callers = {who: as_outsider(client, world, who) for who in OUTSIDERS}
    routes = http_routes(client)
    probed = 0
    # Reads before writes, and deletions last, so that a wrongly allowed change cannot hide another leak.
    order = {"GET": 0, "PUT": 1, "POST": 1, "PATCH": 1, "DELETE": 2}
    # Logging out ends the browser caller's session, so it goes last of all.
    for method, path in sorted(routes, key=lambda r: (r[1].endswith("/logout"), order.get(r[0], 1))):
        if path in PUBLIC_PATHS:
            continue
        probed += 1
        for who in OUTSIDERS:
            http, headers = callers[who]
            resp = call(http, method, path, headers, world, token_id, schema)
            where = f"{method} {path} as {who}"
            assert resp.status_code < 500, f"{where}: {resp.status_code} {resp.text}"
            if method == "GET" and path.startswith(TENANT_WIDE) and who != "admin_b":
                continue  # readable by the whole tenant (see TENANT_WIDE); not a leak
            if method == "GET" and path.startswith(INHERITED_DOWN) and who == "sup_east1":
                continue  # inherited by the teams below (see INHERITED_DOWN); not a leak
            listing = method == "GET" and "{" not in path
            if (method, path) in SELF_SCOPED or listing:
                if resp.status_code in (403, 404):
                    continue
                assert resp.status_code < 300, f"{where}: {resp.status_code} {resp.text}"
                json_body = resp.headers.get("content-type", "").startswith("application/json")
                body = resp.json() if resp.content and json_body else None  # files: tests/api/test_kb.py
                # Callers of tenant A may of course know tenant A; everything else is off limits.
                mine = targets(world, who)
                found = leaks(body, resource_of(path), mine)
                assert not found, f"{where} leaked {found}"
            else:
                assert resp.status_code in (403, 404), f"{where} was not refused: {resp.status_code} {resp.text}"
    assert probed >= 25


def test_the_parent_supervisor_sees_what_outsiders_do_not(client: TestClient, world: ProbeWorld) -> None:
    """Positive control: the probe's ids are real and visible to the right people."""
    schema = client.app.openapi()  # type: ignore[attr-defined]
    token_id = agent_east_token_id(client, world)
    tgt = targets(world)
    for method, path in http_routes(client):
        if method != "GET" or path in PUBLIC_PATHS or (method, path) in SELF_SCOPED:
            continue
        if path.startswith(ADMIN_ONLY):
            resp = call(client, method, path, world.headers("admin_a"), world, token_id, schema)
            assert resp.status_code == 200, f"GET {path} as admin_a: {resp.status_code} {resp.text}"
            if path.startswith("/api/v1/channels"):
                assert leaks(resp.json(), resource_of(path), tgt), f"GET {path}: admin_a should see his channel"
            continue
        resp = call(client, method, path, world.headers("sup_hq"), world, token_id, schema)
        assert resp.status_code == 200, f"GET {path} as sup_hq: {resp.status_code} {resp.text}"
        if not resp.headers.get("content-type", "").startswith("application/json"):
            continue  # a file download (the knowledge-base export and template)
        if "{" in path or path.endswith("/teams") or path.endswith("/users") or path.endswith("/skill-groups"):
            assert leaks(resp.json(), resource_of(path), tgt), f"GET {path}: sup_hq should see the 华东 rows"


def test_every_route_needs_a_login(client: TestClient, world: ProbeWorld) -> None:
    schema = client.app.openapi()  # type: ignore[attr-defined]
    token_id = agent_east_token_id(client, world)
    for method, path in http_routes(client):
        if path in PUBLIC_PATHS:
            continue
        resp = call(client, method, path, {}, world, token_id, schema)
        assert resp.status_code == 401, f"{method} {path} without login: {resp.status_code}"


def test_every_websocket_route_has_a_scope_test(client: TestClient) -> None:
    found = {r.path for r in routes_of(client.app) if r.kind == "websocket"}  # type: ignore[arg-type]
    assert found <= set(WEBSOCKET_ROUTES), (
        f"new WebSocket routes need a scope test here: {found - set(WEBSOCKET_ROUTES)}"
    )
