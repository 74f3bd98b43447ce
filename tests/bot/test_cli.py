"""``kefu bot eval`` as a tenant runs it, through a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kefu.bot.evaluate import EvalReport

KB = """id,question,similar,answer
return,怎么退货,"我想退货
退货流程是什么",在订单页申请退货
invoice,怎么开发票,"能开发票吗
发票在哪里申请",在订单详情里申请发票
delivery,快递几天能到,"多久能收到货
发货后几天到",一般三天
"""
QUERIES = """query,expected_id
退货怎么弄,return
可以开发票吗,invoice
几天能收到,delivery
今天天气怎么样,
"""


def bot(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kefu.bot.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def write(folder: Path) -> tuple[Path, Path]:
    kb, queries = folder / "kb.csv", folder / "queries.csv"
    kb.write_text(KB, encoding="utf-8")
    queries.write_text(QUERIES, encoding="utf-8")
    return kb, queries


def test_eval_json_prints_one_object_with_every_metric(tmp_path: Path) -> None:
    kb, queries = write(tmp_path)
    done = bot(["eval", "--kb", str(kb), "--queries", str(queries), "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert list(result) == list(EvalReport.model_fields)
    assert result["n"] == 4
    assert result["top1"] == 1.0 and result["top3"] == 1.0
    assert 0.0 <= result["answer_rate"] <= 1.0 and result["p99_ms"] >= result["p50_ms"] >= 0.0
    assert "evaluating" in done.stderr  # progress goes to stderr, never into the JSON


def test_eval_summary_is_readable(tmp_path: Path) -> None:
    kb, queries = write(tmp_path)
    done = bot(["eval", "--kb", str(kb), "--queries", str(queries), "--quiet"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "top-1" in done.stdout and "100.0%" in done.stdout and done.stderr == ""


def test_eval_reports_a_bad_file_clearly(tmp_path: Path) -> None:
    kb, queries = write(tmp_path)
    queries.write_text("query,expected_id\n退货,no-such-entry\n", encoding="utf-8")
    done = bot(["eval", "--kb", str(kb), "--queries", str(queries), "--json"], tmp_path)
    assert done.returncode == 2 and "row 2" in done.stderr and "no-such-entry" in done.stderr
    missing = bot(["eval", "--kb", str(tmp_path / "nope.csv"), "--queries", str(queries)], tmp_path)
    assert missing.returncode == 2 and "nope.csv" in missing.stderr


def test_eval_with_the_tenants_dictionary(tmp_path: Path) -> None:
    kb, queries, words = tmp_path / "kb.csv", tmp_path / "q.csv", tmp_path / "words.txt"
    kb.write_text(
        "id,question,similar,answer\njiebei,借呗提前还款有什么后果,,a\nhuabei,花呗逾期还款会怎样,,b\n", encoding="utf-8"
    )
    queries.write_text("query,expected_id\n花呗提前还款有什么后果,huabei\n", encoding="utf-8")
    words.write_text("# 产品名\n花呗\n借呗\n", encoding="utf-8")
    args = ["eval", "--kb", str(kb), "--queries", str(queries), "--json", "--quiet"]
    plain = json.loads(bot(args, tmp_path).stdout)
    assert plain["answer_rate"] == 1.0 and plain["answered_precision"] == 0.0  # a 借呗 answer to a 花呗 question
    with_words = bot([*args, "--words", str(words)], tmp_path)
    assert with_words.returncode == 0, with_words.stderr
    assert json.loads(with_words.stdout)["answer_rate"] == 0.0  # the dictionary names the products: no answer
    words.write_text("花呗\n蚂蚁 借呗\n", encoding="utf-8")
    bad = bot([*args, "--words", str(words)], tmp_path)
    assert bad.returncode == 2 and "line 2" in bad.stderr
