"""The second stage: character features, their combination, and weights refit from held-out questions."""

from __future__ import annotations

import numpy as np
import pytest

from kefu.bot import KbDoc, Matcher, MatchParams
from kefu.bot.rerank import DEFAULT_WEIGHTS, FEATURES, QueryChars, char_features, combine, fit_weights
from tests.bot.conftest import FIXED, SHOP_FAQ


def idf(term: str) -> float:
    return 1.0


def test_char_features_are_shares_of_shared_characters() -> None:
    query = QueryChars({"c:花": 1.0, "c:呗": 1.0, "c:额": 2.0}, 4.0)
    jaccard, query_coverage, candidate_coverage = char_features(query, frozenset({"c:花", "c:呗", "c:还"}), idf)
    assert jaccard == 2 / 4
    assert query_coverage == 2 / 4  # IDF-weighted: 额 weighs two
    assert candidate_coverage == 2 / 3
    assert char_features(query, frozenset({"c:花", "c:还"}), idf, candidate_coverage=False) == (1 / 4, 1 / 4, 0.0)
    assert char_features(query, frozenset(), idf) == (0.0, 0.0, 0.0)
    empty = QueryChars.of({"w:花呗": 1.0}, idf)
    assert empty.total == 0.0 and char_features(empty, frozenset({"c:花"}), idf) == (0.0, 0.0, 0.0)


def test_combine_is_a_weighted_mean_and_zero_weights_keep_the_score() -> None:
    assert combine((0.8, 1.0, 0.5, 0.0), (1.0, 0.5, 0.5, 0.0)) == (0.8 + 0.5 + 0.25) / 2.0
    assert combine((0.3, 1.0, 1.0, 1.0), (0.0, 0.0, 0.0, 0.0)) == 0.3
    assert len(DEFAULT_WEIGHTS) == len(FEATURES)


def test_fit_weights_learns_the_feature_that_separates_and_keeps_the_scale() -> None:
    rng = np.random.default_rng(1)
    lists = []
    for _ in range(200):
        features = rng.uniform(0.0, 1.0, size=(10, 4))
        right = int(rng.integers(10))
        features[right, 2] = 1.0  # the right candidate always covers the query's characters
        lists.append((features, right))
    weights = fit_weights(lists, (1.0, 0.25, 0.25, 0.25), strength=0.01)
    assert all(w >= 0.0 for w in weights)
    assert abs(sum(weights) - 1.75) < 1e-9
    assert weights[2] == max(weights) and weights[2] > 0.25
    assert fit_weights([], (1.0, 0.0, 0.0, 0.0)) == (1.0, 0.0, 0.0, 0.0)


def test_a_typo_is_resolved_by_the_characters_it_keeps() -> None:
    docs = [KbDoc("huabei", "花呗怎么还款"), KbDoc("jiebei", "借呗怎么还款"), KbDoc("card", "银行卡怎么解绑")]
    matcher = Matcher(docs, thresholds=FIXED)
    assert matcher.search("花被怎么还款")[0].entry_id == "huabei"
    assert matcher.search("借贝怎么还款")[0].entry_id == "jiebei"


def test_rerank_off_gives_the_first_stage_ranking_and_scores_stay_in_range() -> None:
    plain = Matcher(SHOP_FAQ, thresholds=FIXED, params=MatchParams(rerank_weights=(1.0, 0.0, 0.0, 0.0)))
    reranked = Matcher(SHOP_FAQ, thresholds=FIXED)
    for query in ("退货要怎么操作", "能不能开发票", "快递多久到", "发票和地址"):
        hits = reranked.search(query, k=5)
        assert all(0.0 < h.score <= 1.5 for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert plain.search(query)[0].entry_id == reranked.search(query)[0].entry_id


def test_top_hit_does_not_depend_on_how_many_hits_are_asked() -> None:
    matcher = Matcher(SHOP_FAQ, thresholds=FIXED)
    for query in ("退货要怎么操作", "优惠券", "密码和地址"):
        assert matcher.search(query, k=1) == matcher.search(query, k=10)[:1]


def test_weights_are_refit_from_held_out_similar_questions() -> None:
    topics = "退货 发票 快递 优惠券 密码 地址 保修 积分 会员 发货 退款 订单 换货 尺码 安装 维修 评价 投诉 库存 运费"
    actions = "怎么办理 在哪里看 多久能好 可以取消吗 怎么修改 收费吗"
    docs = [
        KbDoc(f"{t}-{a}", f"{t}{a}", (f"请问{t}{a}", f"我想问{t}{a}呢"))
        for t in topics.split()
        for a in actions.split()
    ]
    learned = Matcher(docs, thresholds=FIXED, params=MatchParams(learn_rerank=True))
    assert len(learned.rerank_weights) == len(FEATURES)
    assert abs(sum(learned.rerank_weights) - sum(DEFAULT_WEIGHTS)) < 1e-9
    assert learned.search("退货怎么办理呀")[0].entry_id == "退货-怎么办理"
    # too few held-out questions: the defaults stay
    assert Matcher(SHOP_FAQ, thresholds=FIXED, params=MatchParams(learn_rerank=True)).rerank_weights == DEFAULT_WEIGHTS
    # recalibration refits them too
    learned.recalibrate()
    assert len(learned.rerank_weights) == len(FEATURES)


def test_a_generic_entry_close_to_many_others_is_a_hub_and_pays_for_it() -> None:
    docs = [
        KbDoc("generic", "花呗怎么用"),
        *(KbDoc(f"use-{i}", f"花呗{where}怎么用") for i, where in enumerate(("在淘宝", "在超市", "付话费", "买机票"))),
        KbDoc("card", "银行卡怎么解绑"),
    ]
    matcher = Matcher(docs, thresholds=FIXED)
    assert matcher._hub["generic"] > matcher._hub["card"]
    plain = Matcher(docs, thresholds=FIXED, params=MatchParams(hub_weight=0.0))
    assert plain._hub == {}
    generic = {h.entry_id: h.score for h in matcher.search("花呗怎么用", k=6)}["generic"]
    assert generic < {h.entry_id: h.score for h in plain.search("花呗怎么用", k=6)}["generic"]


def test_hubness_follows_edits_and_recalibration() -> None:
    matcher = Matcher(SHOP_FAQ, thresholds=FIXED)
    assert set(matcher._hub) == {doc.entry_id for doc in SHOP_FAQ}
    matcher.upsert(KbDoc("points", "积分怎么兑换", ("会员积分能换什么",)))
    assert "points" in matcher._hub  # an edit computes the edited entry's own hubness at once
    assert matcher.search("积分怎么兑换")[0].entry_id == "points"
    matcher.remove("points")
    assert "points" not in matcher._hub
    before = dict(matcher._hub)
    matcher.recalibrate()
    assert matcher._hub == pytest.approx(before, rel=0.02)  # the same entries: about the same values
