"""疑似重复 over HTTP: the duplicate list, merging a pair, and marking a pair 不是重复 (and taking it back)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kefu.db.session import Database
from tests.api.test_kb import KB, category, make_entry
from tests.factories import World, make_world


@pytest.fixture
def world(database: Database) -> World:
    return make_world(database)


def duplicates(client: TestClient, world: World, **params: Any) -> list[dict[str, Any]]:
    resp = client.get(f"{KB}/duplicates", params=params, headers=world.headers("admin_a"))
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def until(check: Any) -> None:
    """Wait (5 s at most) for the bot to hear of a change over the event bus."""
    deadline = time.monotonic() + 5
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert check()


def test_duplicates_found_and_merged_over_http(client: TestClient, world: World) -> None:
    h = world.headers("admin_a")
    returns = category(client, world, "收款")
    a = make_entry(client, world, standard_question="怎样申请花呗收款码", similar_questions=["花呗收款码在哪申请"])
    b = make_entry(client, world, standard_question="花呗收款码怎样申请", category_id=returns)
    make_entry(client, world, standard_question="怎么修改手机号")
    found = client.get(f"{KB}/duplicates", headers=h)
    assert found.status_code == 200, found.text
    (pair,) = found.json()
    assert pair["first"]["id"] == a["id"] and pair["first"]["similar_count"] == 1
    assert pair["second"] == {
        "id": b["id"],
        "standard_question": "花呗收款码怎样申请",
        "similar_count": 0,
        "category_path": "收款",
        "matched_question": "花呗收款码怎样申请",
    }
    assert 0.8 <= pair["score"] <= 1.0
    assert client.get(f"{KB}/duplicates", headers=world.headers("sup_hq")).status_code == 200  # staff read it
    assert client.get(f"{KB}/duplicates", headers=world.headers("agent_east")).status_code == 403
    refused = client.post(
        f"{KB}/entries/{a['id']}/merge", json={"merged_entry_id": b["id"]}, headers=world.headers("sup_hq")
    )
    assert refused.status_code == 403
    assert client.get(f"{KB}/duplicates", params={"min_score": 2}, headers=h).status_code == 422

    merged = client.post(f"{KB}/entries/{a['id']}/merge", json={"merged_entry_id": b["id"]}, headers=h)
    assert merged.status_code == 200, merged.text
    assert [q["question"] for q in merged.json()["similar_questions"]] == ["花呗收款码在哪申请", "花呗收款码怎样申请"]
    assert client.get(f"{KB}/entries/{b['id']}", headers=h).status_code == 404
    again = client.post(f"{KB}/entries/{a['id']}/merge", json={"merged_entry_id": a["id"]}, headers=h)
    assert again.status_code == 422 and again.json()["error"]["code"] == "kb.merge_self"
    deadline = time.monotonic() + 5  # the bot hears of the merge over the event bus
    while client.get(f"{KB}/duplicates", headers=h).json() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get(f"{KB}/duplicates", headers=h).json() == []


def test_a_pair_marked_not_duplicates_is_left_out_until_the_mark_is_taken_back(
    client: TestClient, world: World
) -> None:
    h = world.headers("admin_a")
    a = make_entry(client, world, standard_question="怎样申请花呗收款码")
    b = make_entry(client, world, standard_question="花呗收款码怎样申请")
    c = make_entry(client, world, standard_question="怎么修改绑定的手机号")
    make_entry(client, world, standard_question="绑定的手机号怎么修改")
    make_entry(client, world, standard_question="退款多久到账")
    until(lambda: len(duplicates(client, world)) == 2)
    marked = client.post(
        f"{KB}/duplicates/dismissals", json={"entry_id": b["id"], "other_entry_id": a["id"]}, headers=h
    )
    assert marked.status_code == 201, marked.text
    mark = marked.json()
    assert mark["first"]["id"] == a["id"] and mark["second"]["standard_question"] == "花呗收款码怎样申请"
    assert mark["dismissed_by"] == "管理员" and mark["dismissed_at"]
    (left,) = duplicates(client, world, limit=1)  # the limit counts listed pairs, not marked ones
    assert {left["first"]["id"], left["second"]["id"]} != {a["id"], b["id"]}
    again = client.post(f"{KB}/duplicates/dismissals", json={"entry_id": a["id"], "other_entry_id": b["id"]}, headers=h)
    assert again.status_code == 201 and again.json()["id"] == mark["id"]

    sup = world.headers("sup_hq")
    assert [m["id"] for m in client.get(f"{KB}/duplicates/dismissals", headers=sup).json()] == [mark["id"]]
    assert client.get(f"{KB}/duplicates/dismissals", headers=world.headers("agent_east")).status_code == 403
    body = {"entry_id": a["id"], "other_entry_id": c["id"]}
    assert client.post(f"{KB}/duplicates/dismissals", json=body, headers=sup).status_code == 403
    assert client.get(f"{KB}/duplicates/dismissals", headers=world.headers("admin_b")).json() == []
    refused = client.post(f"{KB}/duplicates/dismissals", json=body, headers=world.headers("admin_b"))
    assert refused.status_code == 404
    itself = client.post(
        f"{KB}/duplicates/dismissals", json={"entry_id": a["id"], "other_entry_id": a["id"]}, headers=h
    )
    assert itself.status_code == 422 and itself.json()["error"]["code"] == "kb.dismiss_self"
    assert client.delete(f"{KB}/duplicates/dismissals/{mark['id']}", headers=sup).status_code == 403
    assert (
        client.delete(f"{KB}/duplicates/dismissals/{mark['id']}", headers=world.headers("admin_b")).status_code == 404
    )

    assert client.delete(f"{KB}/duplicates/dismissals/{mark['id']}", headers=h).status_code == 204
    assert len(duplicates(client, world)) == 2
    assert client.get(f"{KB}/duplicates/dismissals", headers=h).json() == []
    assert client.delete(f"{KB}/duplicates/dismissals/{mark['id']}", headers=h).status_code == 404
