"""机器人测试 over HTTP: an administrator uploads a question list and sees how the live bot answers each."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient

from kefu.db.session import Database
from tests.factories import World, make_world

KB = "/api/v1/kb"
TRIAL = "/api/v1/bot/trial"

ENTRIES = [
    ("怎么申请退货", ["我要退货", "退货流程是什么"], "在我的订单里点申请售后"),
    ("发票怎么开", ["能开发票吗", "开具增值税发票"], "在订单详情里申请电子发票"),
    ("运费谁承担", ["退货运费谁出", "包邮吗"], "质量问题我们承担运费"),
    ("多久发货", ["什么时候发货", "下单后几天发货"], "付款后 48 小时内发货"),
]


@pytest.fixture
def world(database: Database) -> World:
    return make_world(database)


def entries(client: TestClient, world: World) -> dict[str, int]:
    ids = {}
    for standard, similar, answer in ENTRIES:
        resp = client.post(
            f"{KB}/entries",
            json={"standard_question": standard, "similar_questions": similar, "answer": answer},
            headers=world.headers("admin_a"),
        )
        assert resp.status_code == 201, resp.text
        ids[standard] = resp.json()["id"]
    return ids


def upload(client: TestClient, world: World, content: bytes, name: str = "q.csv", who: str = "admin_a") -> Any:
    return client.post(TRIAL, files={"file": (name, content)}, headers={**world.headers(who), "Accept-Language": "en"})


def test_the_live_bot_answers_every_row_and_says_which_it_got_wrong(client: TestClient, world: World) -> None:
    ids = entries(client, world)
    rows = [
        "问题,标准问题",
        "我想申请退货,怎么申请退货",  # named by its standard question
        f"发票怎么开,{ids['发票怎么开']}",  # by its number
        "我想退货，运费谁承担,运费谁承担",
        "你们的客服电话是多少,",  # not in the knowledge base
    ]
    resp = upload(client, world, ("\n".join(rows) + "\n").encode())
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["n"] == 4 and len(out["rows"]) == 4
    assert [r["row"] for r in out["rows"]] == [2, 3, 4, 5]
    first, second, _, outside = out["rows"]
    assert first["expected_id"] == ids["怎么申请退货"] and first["expected_question"] == "怎么申请退货"
    assert first["hits"][0]["entry_id"] == ids["怎么申请退货"] and first["rank"] == 1
    assert second["expected_id"] == ids["发票怎么开"] and second["hits"][0]["standard_question"] == "发票怎么开"
    assert outside["expected_id"] is None and outside["rank"] is None
    # the verdicts are consistent with the outcomes, and count every row once
    for r in out["rows"]:
        if r["verdict"] == "answered":
            assert r["outcome"] == "answer" and r["hits"][0]["entry_id"] == r["expected_id"]
        if r["verdict"] == "declined":
            assert r["expected_id"] is None and r["outcome"] != "answer"
    assert sum(out["verdicts"].values()) == 4
    assert out["top1"] == pytest.approx(sum(r["rank"] == 1 for r in out["rows"][:3]) / 3, abs=1e-4)
    assert out["p99_ms"] is not None and out["thresholds_source"]


def test_a_disabled_entry_is_not_what_the_bot_answers_and_cannot_be_expected(client: TestClient, world: World) -> None:
    ids = entries(client, world)
    h = world.headers("admin_a")
    assert client.patch(f"{KB}/entries/{ids['多久发货']}", json={"enabled": False}, headers=h).status_code == 200
    resp = upload(client, world, "问题,标准问题\n下单后几天发货,多久发货\n".encode())
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "bot.trial_rejected"
    assert [(e["row"], e["column"]) for e in error["errors"]] == [(2, "标准问题")]
    resp = upload(client, world, "问题,标准问题\n下单后几天发货,\n".encode())
    assert resp.status_code == 200
    assert all(h["entry_id"] != ids["多久发货"] for r in resp.json()["rows"] for h in r["hits"])


def test_every_bad_row_is_reported_and_nothing_runs(client: TestClient, world: World) -> None:
    entries(client, world)
    content = "问题,标准问题,备注\n,怎么申请退货,\n怎么退,没有这个问题,\n".encode()
    resp = upload(client, world, content)
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "bot.trial_rejected" and error["rows"] == 2
    assert [(e["row"], e["column"]) for e in error["errors"]] == [(1, "备注"), (2, "问题"), (3, "标准问题")]
    assert "no enabled entry '没有这个问题'" in error["errors"][2]["message"]
    assert "nothing was tested" in error["message"]


def test_the_template_round_trips_and_only_administrators_may_test(client: TestClient, world: World) -> None:
    entries(client, world)
    h = world.headers("admin_a")
    xlsx = client.get(f"{TRIAL}/template", headers=h)
    assert xlsx.status_code == 200 and xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
    assert [c.value for c in sheet[1]] == ["问题", "标准问题"]
    resp = upload(client, world, xlsx.content, "template.xlsx")
    assert resp.status_code == 200, resp.text
    assert resp.json()["n"] == 2
    csv = client.get(f"{TRIAL}/template", params={"format": "csv"}, headers=h)
    assert csv.content.startswith(b"\xef\xbb\xbf") and upload(client, world, csv.content).status_code == 200

    assert upload(client, world, "问题\n怎么退货\n".encode(), who="agent_east").status_code == 403
    assert client.get(f"{TRIAL}/template", headers=world.headers("sup_hq")).status_code == 403


def test_another_tenants_entries_are_unknown_here(client: TestClient, world: World) -> None:
    entries(client, world)
    resp = upload(client, world, "问题,标准问题\n怎么申请退货,怎么申请退货\n".encode(), who="admin_b")
    assert resp.status_code == 422
    assert resp.json()["error"]["errors"][0]["column"] == "标准问题"
