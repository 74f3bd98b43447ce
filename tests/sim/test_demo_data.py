"""The demo shop's shipped data: format and the promises made about it in kefu/demo_data/README.md."""

from __future__ import annotations

import csv
import io
import json
import re
from importlib import resources

import pytest

from kefu.sim.script import (
    AGENT_PURPOSES,
    FOLLOW_UP_PURPOSES,
    KB_HEADER,
    demo_script,
    parse_kb_csv,
    read_demo_file,
)


def normal(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


@pytest.fixture(scope="module")
def kb_rows() -> list[dict[str, str]]:
    text = read_demo_file("shop_kb.csv")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert tuple(reader.fieldnames or ()) == KB_HEADER
    return list(reader)


@pytest.fixture(scope="module")
def visitor() -> dict[str, object]:
    return json.loads(read_demo_file("visitor_questions.json"))


def kb_phrasings(rows: list[dict[str, str]]) -> list[str]:
    return [t for row in rows for t in [row["标准问题"], *row["相似问题"].splitlines()]]


def test_the_files_are_shipped_in_the_package() -> None:
    folder = resources.files("kefu").joinpath("demo_data")
    for name in ("shop_kb.csv", "visitor_questions.json", "agent_replies.json", "README.md"):
        assert folder.joinpath(name).is_file(), name
    assert "fictional" in folder.joinpath("README.md").read_text(encoding="utf-8")


def test_the_kb_csv_has_the_header_and_complete_entries(kb_rows: list[dict[str, str]]) -> None:
    assert 80 <= len(kb_rows) <= 120
    for row in kb_rows:
        assert set(row) == set(KB_HEADER) and all(v is not None for v in row.values()), row
        similar = [s for s in row["相似问题"].splitlines() if s.strip()]
        assert 3 <= len(similar) <= 8, row["标准问题"]
        assert all(s == s.strip() for s in similar), row["标准问题"]
        assert row["答案"].strip(), row["标准问题"]
        sentences = len(re.findall(r"[。！？]", row["答案"]))
        assert 1 <= sentences <= 4 and row["答案"][-1] in "。！？", row["标准问题"]
        assert re.fullmatch(r"[^/\s]+(/[^/\s]+)+", row["分类"]), row["分类"]


def test_no_question_is_in_the_kb_twice(kb_rows: list[dict[str, str]]) -> None:
    standard = [row["标准问题"] for row in kb_rows]
    assert len(set(standard)) == len(standard)
    phrasings = [normal(t) for t in kb_phrasings(kb_rows)]
    duplicates = {p for p in phrasings if phrasings.count(p) > 1}
    assert not duplicates


def test_the_kb_covers_what_shop_customers_ask(kb_rows: list[dict[str, str]]) -> None:
    topics = {row["分类"].split("/")[0] for row in kb_rows}
    assert {"订单", "支付", "物流", "售后", "账户", "商品", "投诉与建议"} <= topics
    text = "".join(row["标准问题"] + row["答案"] for row in kb_rows)
    for must in ("增值税专用发票", "顺丰", "双11", "七天无理由", "运费险", "拒收", "保修", "积分", "尺码", "正品"):
        assert must in text, must


def test_the_parser_reads_the_same_entries(kb_rows: list[dict[str, str]]) -> None:
    entries = parse_kb_csv(read_demo_file("shop_kb.csv"))
    assert [e.question for e in entries] == [row["标准问题"] for row in kb_rows]
    assert parse_kb_csv("\ufeff" + read_demo_file("shop_kb.csv")) == entries
    with pytest.raises(ValueError, match="header"):
        parse_kb_csv("问题,答案\n a,b\n")


def test_visitor_phrasings_are_unseen_by_the_kb(kb_rows: list[dict[str, str]], visitor: dict[str, object]) -> None:
    standard = {row["标准问题"] for row in kb_rows}
    known = {normal(t) for t in kb_phrasings(kb_rows)}
    kb = visitor["kb"]
    assert isinstance(kb, dict)
    assert set(kb) <= standard
    assert len(kb) >= 0.7 * len(standard)  # a large subset
    seen: set[str] = set()
    for question, phrasings in kb.items():
        assert 2 <= len(phrasings) <= 5, question
        for p in phrasings:
            assert normal(p) not in known, p  # not verbatim, not even up to punctuation and spaces
            assert normal(p) not in seen, p
            seen.add(normal(p))


def test_out_of_scope_and_human_requests(kb_rows: list[dict[str, str]], visitor: dict[str, object]) -> None:
    known = {normal(t) for t in kb_phrasings(kb_rows)}
    out = visitor["out_of_scope"]
    human = visitor["human_requests"]
    assert isinstance(out, dict) and isinstance(human, list)
    assert set(out) == {"chitchat", "uncovered", "complaint"}
    lines = [line for group in out.values() for line in group] + human
    assert len(lines) >= 40
    assert len({normal(t) for t in lines}) == len(lines)
    assert not [t for t in lines if normal(t) in known]
    assert "转人工" in human and "人工" in human and len(human) >= 10


def test_follow_ups_and_agent_replies(visitor: dict[str, object]) -> None:
    follow_ups = visitor["follow_ups"]
    assert isinstance(follow_ups, dict)
    assert set(FOLLOW_UP_PURPOSES) <= set(follow_ups)
    assert all("{order_no}" in t for t in follow_ups["order_number"])
    agent = json.loads(read_demo_file("agent_replies.json"))
    assert set(AGENT_PURPOSES) <= set(agent) and all(len(agent[p]) >= 3 for p in AGENT_PURPOSES)
    assert "您好，很高兴为您服务，请问有什么可以帮您？" in agent["greeting"]


def test_the_demo_script_answers_every_known_phrasing() -> None:
    script = demo_script()
    for entry in script.kb:
        assert script.answer_for(entry.question) == entry.answer
        for phrasing in script.visitor.kb.get(entry.question, ()):
            assert script.answer_for(phrasing + "？") == entry.answer
    assert script.answer_for("今天天气怎么样") is None
