"""The knowledge-base API: administrators change it, all staff read it, other tenants see nothing."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient

from kefu.actions.kb import do_record_unanswered
from kefu.db.session import Database
from tests.factories import World, make_world

KB = "/api/v1/kb"


@pytest.fixture
def world(database: Database) -> World:
    return make_world(database)


def post_entry(client: TestClient, world: World, who: str = "admin_a", **body: Any) -> Any:
    return client.post(f"{KB}/entries", json={"answer": "答案", **body}, headers=world.headers(who))


def make_entry(client: TestClient, world: World, **body: Any) -> dict[str, Any]:
    resp = post_entry(client, world, **body)
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def category(client: TestClient, world: World, name: str, parent_id: int | None = None) -> int:
    resp = client.post(
        f"{KB}/categories", json={"name": name, "parent_id": parent_id}, headers=world.headers("admin_a")
    )
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]  # type: ignore[no-any-return]


def test_create_read_update_delete(client: TestClient, world: World) -> None:
    after_sales = category(client, world, "售后")
    returns = category(client, world, "退货", after_sales)
    e = make_entry(
        client,
        world,
        standard_question="怎么退货",
        similar_questions=["我想退货", "退货流程"],
        answer='<p onclick="x()">签收后 7 天内可退，<a href="https://shop.example/r">查看</a></p><script>alert(1)</script>',
        category_id=returns,
    )
    assert (
        e["answer"] == '<p>签收后 7 天内可退，<a href="https://shop.example/r" rel="noopener noreferrer">查看</a></p>'
    )
    assert e["category_path"] == "售后/退货" and e["in_effect"] is True
    assert [s["question"] for s in e["similar_questions"]] == ["我想退货", "退货流程"]

    h = world.headers("admin_a")
    changed = client.patch(f"{KB}/entries/{e['id']}", json={"enabled": False, "category_id": None}, headers=h).json()
    assert changed["enabled"] is False and changed["in_effect"] is False and changed["category_id"] is None
    added = client.post(f"{KB}/entries/{e['id']}/similar-questions", json={"question": "怎样退货"}, headers=h)
    assert added.status_code == 201 and len(added.json()["similar_questions"]) == 3
    sid = added.json()["similar_questions"][0]["id"]
    assert client.delete(f"{KB}/entries/{e['id']}/similar-questions/{sid}", headers=h).status_code == 204
    assert len(client.get(f"{KB}/entries/{e['id']}", headers=h).json()["similar_questions"]) == 2
    cats = client.get(f"{KB}/categories", headers=h).json()
    assert [(c["path"], c["entry_count"]) for c in cats] == [("售后", 0), ("售后/退货", 0)]
    assert client.delete(f"{KB}/categories/{after_sales}", headers=h).status_code == 409
    assert client.delete(f"{KB}/entries/{e['id']}", headers=h).status_code == 204
    assert client.get(f"{KB}/entries/{e['id']}", headers=h).status_code == 404


def test_list_filters_search_and_paging(client: TestClient, world: World) -> None:
    top = category(client, world, "售后")
    sub = category(client, world, "退货", top)
    other = category(client, world, "物流")
    make_entry(client, world, standard_question="怎么退货", similar_questions=["不想要了"], category_id=sub)
    make_entry(client, world, standard_question="运费谁出", category_id=top, enabled=False)
    make_entry(client, world, standard_question="几天发货", category_id=other, valid_until="2020-01-01T00:00:00Z")
    h = world.headers("agent_south")  # agents search the knowledge base too

    def questions(**params: Any) -> list[str]:
        resp = client.get(f"{KB}/entries", params=params, headers=h)
        assert resp.status_code == 200, resp.text
        return [e["standard_question"] for e in resp.json()["items"]]

    assert questions(category_id=top) == ["怎么退货", "运费谁出"]
    assert questions(category_id=top, include_subcategories=False) == ["运费谁出"]
    assert questions(enabled=False) == ["运费谁出"]
    assert questions(in_effect=True) == ["怎么退货"]
    assert questions(q="不想要") == ["怎么退货"]  # found by its similar question
    assert questions(q="100%") == []
    page = client.get(f"{KB}/entries", params={"page": 2, "page_size": 2}, headers=h).json()
    assert page["total"] == 3 and [e["standard_question"] for e in page["items"]] == ["几天发货"]


def test_agents_and_supervisors_read_but_do_not_write(client: TestClient, world: World) -> None:
    e = make_entry(client, world, standard_question="怎么退货")
    for who in ("agent_east", "sup_hq", "qa_south"):
        assert client.get(f"{KB}/entries/{e['id']}", headers=world.headers(who)).status_code == 200
        denied = post_entry(client, world, who, standard_question="新问题")
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "kb.admin_only"
        assert client.delete(f"{KB}/entries/{e['id']}", headers=world.headers(who)).status_code == 403
    en = client.patch(
        f"{KB}/entries/{e['id']}",
        json={"answer": "x"},
        headers={**world.headers("agent_east"), "Accept-Language": "en"},
    )
    assert en.json()["error"]["message"] == "only an administrator can change the knowledge base"
    # The learning queue and the export are not for agents.
    assert client.get(f"{KB}/learning", headers=world.headers("agent_east")).status_code == 403
    assert client.get(f"{KB}/export", headers=world.headers("agent_east")).status_code == 403
    assert client.get(f"{KB}/learning", headers=world.headers("sup_hq")).status_code == 200


def test_another_tenant_sees_nothing(client: TestClient, world: World, database: Database) -> None:
    e = make_entry(client, world, standard_question="怎么退货", similar_questions=["我想退货"])
    with database.session() as db:
        item = do_record_unanswered(db, world.tenant_a, "能退吗", None, [e["id"]], "unanswered")
        assert item is not None
    h = world.headers("admin_b")
    assert client.get(f"{KB}/entries", headers=h).json()["total"] == 0
    assert client.get(f"{KB}/entries/{e['id']}", headers=h).status_code == 404
    assert client.get(f"{KB}/learning", headers=h).json()["total"] == 0
    assert client.post(f"{KB}/learning/{item.id}/ignore", headers=h).status_code == 404
    export = client.get(f"{KB}/export", params={"format": "csv"}, headers=h)
    assert export.status_code == 200 and "怎么退货" not in export.content.decode("utf-8-sig")
    # The same question is free in tenant B.
    assert post_entry(client, world, "admin_b", standard_question="我想退货").status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"standard_question": "", "answer": "a"}, "standard_question"),
        ({"standard_question": "两\n行", "answer": "a"}, "standard_question"),
        ({"standard_question": "长" * 201, "answer": "a"}, "standard_question"),
        ({"standard_question": "q", "answer": "a" * 10_001}, "answer"),
        ({"standard_question": "q", "answer": "a", "category_id": 10**20}, "category_id"),
        ({"standard_question": "q", "answer": "a", "valid_from": "2026-11-11T00:00:00"}, "valid_from"),
        ({"standard_question": "q", "answer": "a", "similar_questions": [""]}, "similar_questions.0"),
    ],
)
def test_bad_input_is_a_clear_422(client: TestClient, world: World, body: dict[str, Any], field: str) -> None:
    resp = client.post(f"{KB}/entries", json=body, headers=world.headers("admin_a"))
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["fields"][0]["field"] == field


def test_conflicts_and_bad_values_say_what_is_wrong(client: TestClient, world: World) -> None:
    make_entry(client, world, standard_question="怎么退货", similar_questions=["我想退货"])
    dup = post_entry(client, world, standard_question="我想 退货？")
    assert dup.status_code == 409 and "相似问题" in dup.json()["error"]["message"]
    en = client.post(
        f"{KB}/entries",
        json={"standard_question": "怎么退货", "answer": "a"},
        headers={**world.headers("admin_a"), "Accept-Language": "en"},
    )
    assert en.json()["error"]["message"] == "'怎么退货' is already the standard question of the entry '怎么退货'"
    assert post_entry(client, world, standard_question="？！").status_code == 422
    assert post_entry(client, world, standard_question="q", answer="<script>x</script>").status_code == 422
    bad_period = post_entry(
        client, world, standard_question="q", valid_from="2026-11-12T00:00:00Z", valid_until="2026-11-11T00:00:00Z"
    )
    assert bad_period.status_code == 422 and bad_period.json()["error"]["code"] == "kb.validity_invalid"
    assert post_entry(client, world, standard_question="q", category_id=999_999).status_code == 404


def test_import_reports_every_bad_row_as_json(client: TestClient, world: World) -> None:
    csv = "标准问题,相似问题,答案,分类,备注\n怎么退货,,可以,售后,\n,,没问题,,\n怎么退货,,重复,,\n".encode()
    resp = client.post(
        f"{KB}/import",
        files={"file": ("kb.csv", csv, "text/csv")},
        headers={**world.headers("admin_a"), "Accept-Language": "en"},
    )
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "kb.import_rejected" and error["rows"] == 3
    assert [(e["row"], e["column"]) for e in error["errors"]] == [(1, "备注"), (3, "标准问题"), (4, "标准问题")]
    assert error["errors"][2]["message"] == "the standard question repeats a question of row 2"
    assert client.get(f"{KB}/entries", headers=world.headers("admin_a")).json()["total"] == 0


def test_import_export_and_template_over_http(client: TestClient, world: World) -> None:
    h = world.headers("admin_a")
    template = client.get(f"{KB}/template", headers=h)
    assert template.status_code == 200
    assert template.headers["content-type"].startswith("application/vnd.openxmlformats")
    dry = client.post(
        f"{KB}/import", params={"dry_run": True}, files={"file": ("t.xlsx", template.content)}, headers=h
    ).json()
    assert dry == {
        "ok": True,
        "dry_run": True,
        "mode": "append",
        "rows": 2,
        "created": 2,
        "updated": 0,
        "deleted": 0,
        "categories_created": 0,
        "errors": [],
    }
    done = client.post(f"{KB}/import", files={"file": ("t.xlsx", template.content)}, headers=h).json()
    assert done["created"] == 2 and done["categories_created"] == 3
    again = client.post(f"{KB}/import", files={"file": ("t.xlsx", template.content)}, headers=h)
    assert again.status_code == 422  # append: the questions exist now
    upsert = client.post(
        f"{KB}/import", params={"mode": "upsert"}, files={"file": ("t.xlsx", template.content)}, headers=h
    )
    assert upsert.json()["updated"] == 2
    export = client.get(f"{KB}/export", headers=h)
    assert export.headers["content-disposition"].startswith("attachment;")
    sheet = openpyxl.load_workbook(io.BytesIO(export.content))["知识库"]
    rows = [[c or "" for c in row] for row in sheet.iter_rows(values_only=True)]
    sheet_t = openpyxl.load_workbook(io.BytesIO(template.content))["知识库"]
    assert rows == [[c or "" for c in row] for row in sheet_t.iter_rows(values_only=True)]
    assert (
        client.post(f"{KB}/import", params={"mode": "wipe"}, files={"file": ("t.csv", b"x")}, headers=h).status_code
        == 422
    )
    png = client.post(f"{KB}/import", files={"file": ("a.png", b"\x89PNG\r\n")}, headers=h)
    assert png.status_code == 422 and png.json()["error"]["code"] == "kb.import_format"


def test_dictionary_and_synonyms_over_http(client: TestClient, world: World) -> None:
    h = world.headers("admin_a")
    added = client.post(f"{KB}/dictionary", json={"words": ["小米14", "华为Mate60"]}, headers=h)
    assert added.status_code == 201 and [w["word"] for w in added.json()] == ["小米14", "华为Mate60"]
    assert client.post(f"{KB}/dictionary", json={"words": ["有 空格"]}, headers=h).status_code == 422
    assert client.get(f"{KB}/dictionary", params={"q": "小米"}, headers=h).json()["total"] == 1
    s = client.post(f"{KB}/synonyms", json={"words": ["退款", "退钱"]}, headers=h).json()
    clash = client.post(f"{KB}/synonyms", json={"words": ["返款", "退钱"]}, headers=h)
    assert clash.status_code == 409 and "退钱" in clash.json()["error"]["message"]
    put = client.put(f"{KB}/synonyms/{s['id']}", json={"words": ["退款", "退钱", "返款"]}, headers=h)
    assert put.json()["words"] == ["退款", "退钱", "返款"]
    assert client.delete(f"{KB}/synonyms/{s['id']}", headers=h).status_code == 204
    assert client.get(f"{KB}/dictionary", headers=world.headers("agent_east")).status_code == 403


def test_learning_queue_round_trip(client: TestClient, world: World, database: Database) -> None:
    e = make_entry(client, world, standard_question="怎么退货")
    with database.session() as db:
        for text in ("东西坏了能退吗", "东西坏了能退吗？", "发票怎么开", "你好", "东西坏了 能退吗"):
            do_record_unanswered(db, world.tenant_a, text, None, [e["id"]], "unanswered")
    h = world.headers("admin_a")
    items = client.get(f"{KB}/learning", headers=h).json()["items"]
    # By count, then the latest asked first.
    assert [(i["text"], i["ask_count"]) for i in items] == [("东西坏了能退吗", 3), ("你好", 1), ("发票怎么开", 1)]
    assert items[0]["candidate_questions"] == ["怎么退货"]
    broken, hello, invoice = (i["id"] for i in items)

    attached = client.post(f"{KB}/learning/{broken}/attach", json={"entry_id": e["id"]}, headers=h)
    assert attached.status_code == 200 and attached.json()["status"] == "attached"
    entry = client.get(f"{KB}/entries/{e['id']}", headers=h).json()
    assert [s["question"] for s in entry["similar_questions"]] == ["东西坏了能退吗"]
    created = client.post(f"{KB}/learning/{invoice}/create-entry", json={"answer": "在订单页申请开票"}, headers=h)
    assert created.status_code == 201
    new_entry = client.get(f"{KB}/entries/{created.json()['entry_id']}", headers=h).json()
    assert new_entry["standard_question"] == "发票怎么开"
    assert client.post(f"{KB}/learning/{hello}/ignore", headers=h).json()["status"] == "ignored"
    assert client.post(f"{KB}/learning/{broken}/ignore", headers=h).status_code == 409

    listed = client.get(f"{KB}/learning", params={"status": "open"}, headers=h).json()
    assert listed["total"] == 0
    by_status = client.get(f"{KB}/learning", headers=h).json()["items"]
    assert {i["status"] for i in by_status} == {"attached", "created", "ignored"}
    assert client.post(f"{KB}/learning/{hello}/reopen", headers=h).json()["status"] == "open"
    assert client.get(f"{KB}/learning", headers=h).json()["items"][0]["id"] == hello  # open ones first
    assert client.post(f"{KB}/learning/{hello}/ignore", headers=world.headers("sup_hq")).status_code == 403


def test_the_routes_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    kb_paths = {p for p in paths if p.startswith(KB)}
    assert {f"{KB}/entries", f"{KB}/import", f"{KB}/export", f"{KB}/template", f"{KB}/learning"} <= kb_paths
    for path in kb_paths:
        for op in paths[path].values():
            assert "/" in op["summary"], f"{path}: bilingual summary"
