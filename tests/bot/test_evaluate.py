"""The evaluation metrics on a tiny example worked out by hand."""

from __future__ import annotations

import io

import pytest

from kefu.bot import Hit, KbDoc, Matcher, Thresholds
from kefu.bot.evaluate import evaluate, percentile
from kefu.bot.kb_file import EvalQuery, KbFileError, parse_kb, parse_queries


class ScriptedMatcher(Matcher):
    """Returns fixed hits per query, so the metrics can be checked by hand."""

    def __init__(self, answers: dict[str, list[Hit]], thresholds: Thresholds) -> None:
        super().__init__(thresholds=thresholds)
        self.answers = answers

    def search(self, query: str, k: int = 3) -> list[Hit]:
        return self.answers[query][:k]


def hits(*scored: tuple[str, float]) -> list[Hit]:
    return [Hit(entry_id, score, entry_id) for entry_id, score in scored]


def test_metrics_on_a_hand_computed_example() -> None:
    # answer: best ≥ 0.8 and a lead of ≥ 0.1; suggest: best ≥ 0.3
    thresholds = Thresholds(answer=0.8, margin=0.1, suggest=0.3)
    matcher = ScriptedMatcher(
        {
            "q1": hits(("a", 0.9), ("b", 0.2)),  # in KB, rank 1, answered right
            "q2": hits(("a", 0.85), ("b", 0.5)),  # in KB (b), rank 2, answered wrong
            "q3": hits(("x", 0.5), ("y", 0.45), ("c", 0.4)),  # in KB (c), rank 3, suggest
            "q4": hits(("x", 0.4)),  # in KB (d), absent, suggest
            "q5": hits(("a", 0.95)),  # out of KB, answered: a false answer
            "q6": hits(("a", 0.1)),  # out of KB, unknown
        },
        thresholds,
    )
    queries = [
        EvalQuery("q1", "a"),
        EvalQuery("q2", "b"),
        EvalQuery("q3", "c"),
        EvalQuery("q4", "d"),
        EvalQuery("q5", None),
        EvalQuery("q6", None),
    ]
    ticks = iter(range(100))
    report = evaluate(matcher, queries, clock=lambda: next(ticks) / 1000.0)  # every query takes 1 ms
    assert report.n == 6
    assert report.top1 == 0.25  # q1 of q1..q4
    assert report.top3 == 0.75  # q1, q2, q3
    assert report.mrr == pytest.approx((1 + 1 / 2 + 1 / 3 + 0) / 4, abs=1e-4)
    assert report.answer_rate == 0.5  # q1, q2, q5 of six
    assert report.answered_precision == 0.5  # q1 right, q2 wrong
    assert report.false_answer_rate == 0.5  # q5 of q5, q6
    assert report.p50_ms == pytest.approx(1.0) and report.p99_ms == pytest.approx(1.0)
    assert set(report.as_dict()) == {
        "n",
        "top1",
        "top3",
        "mrr",
        "answer_rate",
        "answered_precision",
        "false_answer_rate",
        "p50_ms",
        "p99_ms",
    }


def test_undefined_metrics_are_null() -> None:
    matcher = ScriptedMatcher({"q": hits(("a", 0.1))}, Thresholds(answer=0.8, margin=0.1, suggest=0.3))
    report = evaluate(matcher, [EvalQuery("q", None)])
    assert report.top1 is None and report.mrr is None and report.answered_precision is None
    assert report.false_answer_rate == 0.0


def test_nearest_rank_percentile() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0


def test_real_matcher_end_to_end() -> None:
    docs = [KbDoc("return", "怎么退货", ("我想退货",)), KbDoc("invoice", "怎么开发票", ("能开发票吗",))]
    matcher = Matcher(docs, thresholds=Thresholds(answer=0.6, margin=0.1, suggest=0.2))
    report = evaluate(matcher, [EvalQuery("怎么退货呢", "return"), EvalQuery("可以开发票吗", "invoice")])
    assert report.top1 == 1.0 and report.top3 == 1.0 and report.mrr == 1.0


def test_parse_the_evaluation_layout() -> None:
    text = 'id,question,similar,answer\ne1,怎么退货,"我想退货\n退货流程",答案一\ne2,怎么开发票,,答案二\n'
    docs = parse_kb(io.StringIO(text, newline=""))
    assert docs == [KbDoc("e1", "怎么退货", ("我想退货", "退货流程")), KbDoc("e2", "怎么开发票")]


def test_parse_the_import_template_with_bom() -> None:
    text = '\ufeff标准问题,相似问题,答案,分类\n怎么退货,"我想退货\n\n退货流程",答案一,售后/退货\n'
    docs = parse_kb(io.StringIO(text, newline=""))
    assert docs == [KbDoc("怎么退货", "怎么退货", ("我想退货", "退货流程"))]


def test_bad_rows_are_all_reported_with_their_row_numbers() -> None:
    text = "id,question,similar,answer\ne1,怎么退货,,a\ne2,,,b\ne1,重复,,c\n"
    with pytest.raises(KbFileError) as caught:
        parse_kb(io.StringIO(text, newline=""))
    assert len(caught.value.problems) == 2
    assert "row 3" in caught.value.problems[0] and "row 4" in caught.value.problems[1]


def test_a_query_naming_an_unknown_entry_is_an_error() -> None:
    text = "query,expected_id\n怎么退货,e1\n开发票,nope\n随便问问,\n"
    with pytest.raises(KbFileError, match="row 3"):
        parse_queries(io.StringIO(text, newline=""), known_ids=["e1"])
    assert parse_queries(io.StringIO(text, newline=""))[2] == EvalQuery("随便问问", None)


def test_missing_column_is_reported() -> None:
    with pytest.raises(KbFileError, match="标准问题"):
        parse_kb(io.StringIO("foo,bar\n1,2\n", newline=""))


def test_parse_words_and_synonym_sets() -> None:
    from kefu.bot.kb_file import parse_synonyms, parse_words

    assert parse_words(io.StringIO("\ufeff花呗\n\n# 产品\n借呗 \n")) == ["花呗", "借呗"]
    assert parse_synonyms(io.StringIO("退款 退钱,返款\n花呗、花贝、花呗\n")) == [
        ["退款", "退钱", "返款"],
        ["花呗", "花贝"],
    ]
    with pytest.raises(KbFileError) as bad_words:
        parse_words(io.StringIO("花呗\n蚂蚁 花呗\n" + "长" * 51 + "\n"))
    assert bad_words.value.problems[0].startswith("第 2 行") and "line 3" in bad_words.value.problems[1]
    with pytest.raises(KbFileError) as bad_sets:
        parse_synonyms(io.StringIO("退款\n"))
    assert "line 1" in str(bad_sets.value) and "two words" in str(bad_sets.value)
