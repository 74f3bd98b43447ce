"""kefu.bot.trial: a question list checked against the knowledge base, then asked of a live bot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kefu.bot.decision import Outcome, Thresholds
from kefu.bot.matcher import KbDoc, Matcher
from kefu.bot.registry import TenantBot
from kefu.bot.trial import TRIAL_LAYOUT, KnownEntries, TrialQuery, TrialRejected, plan_trial, run_trial, template
from kefu.kb.io import read_table

NOW = datetime(2026, 11, 11, 8, 0, tzinfo=UTC)
DOCS = [
    KbDoc("1", "怎么申请退货", ("我要退货", "退货流程是什么")),
    KbDoc("2", "发票怎么开", ("能开发票吗", "开具增值税发票")),
    KbDoc("3", "双十一满减规则", ("满减怎么算", "双11优惠规则")),
    KbDoc("4", "多久发货", ("什么时候发货", "下单后几天发货")),
]
KNOWN = KnownEntries.of([(int(d.entry_id), d.standard) for d in DOCS])


def table(text: str):  # type: ignore[no-untyped-def]
    return read_table(text.encode(), "q.csv", TRIAL_LAYOUT)


def test_rows_name_entries_by_standard_question_or_number() -> None:
    planned = plan_trial(table("问题,标准问题\n退货要怎么弄,怎么申请退货？\n开发票,2\n\n营业时间,\n"), KNOWN)
    assert planned == [
        TrialQuery(2, "退货要怎么弄", "1"),  # punctuation and width do not matter (kefu.kb.normalise)
        TrialQuery(3, "开发票", "2"),
        TrialQuery(5, "营业时间", None),  # blank rows keep their numbers
    ]


def test_every_bad_row_is_reported_at_once() -> None:
    with pytest.raises(TrialRejected) as caught:
        plan_trial(table("query,expected\n,1\n退货,99\n" + "退" * 501 + ",\n"), KNOWN)
    assert [(e.row, e.column) for e in caught.value.errors] == [(2, "问题"), (3, "标准问题"), (4, "问题")]
    with pytest.raises(TrialRejected) as caught:
        plan_trial(table("标准问题\n怎么申请退货\n"), KNOWN)
    missing = caught.value.errors[0]  # the required column is missing
    assert (missing.row, missing.column) == (1, "问题")
    with pytest.raises(TrialRejected):
        plan_trial(table("问题,标准问题\n"), KNOWN)  # no questions at all


def test_each_row_gets_a_verdict_and_the_report_counts_them() -> None:
    bot = TenantBot(Matcher(DOCS))
    queries = [
        TrialQuery(2, "我要退货", "1"),
        TrialQuery(3, "开具增值税发票", "2"),
        TrialQuery(4, "能开发票吗", "1"),  # expects the wrong entry: answered, so wrong
        TrialQuery(5, "今天天气怎么样", None),
    ]
    trial = run_trial(bot, queries, NOW)
    verdicts = [r.verdict for r in trial.rows]
    assert verdicts[0] == "answered" and verdicts[1] == "answered"
    assert trial.rows[0].rank == 1 and trial.rows[0].hits[0].entry_id == "1"
    assert verdicts[2] == "wrong" and trial.rows[2].right is False
    assert verdicts[3] == "declined" and trial.rows[3].right is True
    assert trial.report.n == 4 and trial.report.top1 == pytest.approx(2 / 3, abs=1e-4)
    assert trial.verdicts() == {"answered": 2, "suggested": 0, "declined": 1, "missed": 0, "wrong": 1}


def test_an_entry_out_of_its_period_is_not_answered_as_visitors_would_not_get_it() -> None:
    bot = TenantBot(Matcher(DOCS), {"3": (NOW + timedelta(days=1), None)})
    row = run_trial(bot, [TrialQuery(2, "双11优惠规则", "3")], NOW).rows[0]
    assert all(h.entry_id != "3" for h in row.hits) and row.verdict == "missed"
    later = run_trial(bot, [TrialQuery(2, "双11优惠规则", "3")], NOW + timedelta(days=2)).rows[0]
    assert later.verdict == "answered"


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_the_template_reads_back_as_two_questions(fmt: str) -> None:
    content = template(fmt)  # type: ignore[arg-type]
    planned = plan_trial(read_table(content, f"t.{fmt}", TRIAL_LAYOUT), KNOWN)
    assert [(q.query, q.expected_id) for q in planned] == [("我想退货怎么操作", "1"), ("你们几点下班", None)]


def test_suggested_means_the_visitor_would_have_seen_the_right_entry_offered() -> None:
    never_answers = Thresholds(answer=2.0, margin=0.0, suggest=0.2, source="test")
    bot = TenantBot(Matcher(DOCS, thresholds=never_answers))
    trial = run_trial(bot, [TrialQuery(2, "能开发票吗", "2"), TrialQuery(3, "能开发票吗", "4")], NOW)
    offered, not_offered = trial.rows  # entry 4 is a hit of 0.06 here, under the suggest threshold: not shown
    assert offered.outcome is Outcome.suggest and offered.verdict == "suggested" and offered.offered
    assert not_offered.verdict == "missed" and not not_offered.offered
    assert trial.report.answer_rate == 0.0
